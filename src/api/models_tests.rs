//! The hand-written answers (`write_json`) against the derived `Serialize`.

use super::*;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    write(&mut out);
    String::from_utf8(out).unwrap()
}

/// The user answer written by hand is the derived `Serialize`'s, byte for byte: with every
/// optional member and without, and with text JSON must escape.
#[test]
fn the_user_answer_is_written_as_serde_json_writes_it() {
    let metadata = raw(r#"{"group_id":541}"#);
    for full in [false, true] {
        let opt = |v: &'static str| full.then_some(v);
        let u = StoredUser {
            user_token: "usr_01ccc81e-134b-49b1-9d3d-35f46d9fda44".into(),
            status: "ACTIVE",
            created_on: crate::clock::TimeText::new(1_767_225_600_000),
            internal_user_id: "4324-rOzk",
            address1: opt("2000 \"main\" st"),
            address2: opt("apt D"),
            city: opt("Santa Mónica"),
            state_province: opt("CA"),
            postal_code: opt("90405"),
            country: "USA",
            first_name: "John\tJr",
            middle_name: opt(""),
            last_name: "Doe \\ Smith",
            email: "john@example.com",
            language: "en",
            mobile_number: opt("16502000226"),
            business_name: opt("ABC Company"),
            timezone: "America/Los_Angeles",
            date_of_birth: opt("1975-03-24"),
            metadata: full.then_some(&*metadata),
        };
        assert_eq!(
            written(|out| u.write_json(out)),
            serde_json::to_string(&u).unwrap()
        );
    }
}

/// The payout answers written by hand are the derived `Serialize`'s, byte for byte: with and
/// without each optional member, and with text JSON must escape.
#[test]
fn payout_answers_are_written_as_serde_json_writes_them() {
    let metadata = raw(r#"{"group_id":541,"note":"a \"quoted\" word"}"#);
    let d = |s: &str| Amount(s.parse().unwrap());
    for full in [false, true] {
        let p = PayoutTxnResp {
            payout_token: "payout_01ccc81e-134b-49b1-9d3d-35f46d9fda44".into(),
            client_transfer_id: if full { "ctid \"7\"\n\\" } else { "" },
            source_currency_code: "USD",
            destination_currency_code: "BTC",
            source_token: "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574".into(),
            destination_token: "dst_d2138fd0-00be-45a8-985f-4f5bde500962",
            destination_amount: d("0.0001052"),
            source_amount: d(if full { "-12.50" } else { "10" }),
            attr_set_token: String::new(),
            exchange_rate: d("0.00001052"),
            fee: d("2.99"),
            expiration: crate::clock::TimeText::new(1_767_225_720_000),
            pickup_code: if full { "12345678" } else { "" },
            status: "PENDING",
            payer_logo: full.then_some("https://example.com/logo.png"),
            payer_name: "Bitso Bitcoin — México",
            delivery_type: "CRYPTOCURRENCY",
            country_code: "MEX",
            metadata: full.then_some(&*metadata),
            estimated_availability: crate::clock::TimeText::new(1_767_226_500_000),
            status_reason: full.then_some("Insufficient funds"),
            user_token: full.then(|| "usr_x".to_owned()),
        };
        assert_eq!(
            written(|out| p.write_json(out)),
            serde_json::to_string(&p).unwrap()
        );
        let c = PayoutTxnCommitResp {
            payout_token: p.payout_token.clone(),
            status: "success",
            pickup_code: full.then_some("12345678"),
            errors: full.then(|| "attribute \"x\" is missing".to_owned()),
        };
        assert_eq!(
            written(|out| c.write_json(out)),
            serde_json::to_string(&c).unwrap()
        );
    }
}
