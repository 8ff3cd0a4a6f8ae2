//! Seeded state (`--seed-state FILE`, `seed.json` in `--fixtures DIR`): every new tenant, and
//! every reset, starts with the seed's users, attribute sets, balances and payouts.

use std::path::PathBuf;

use masspay_sandbox::Sandbox;
use serde_json::{json, Value};

use crate::helpers::*;

const USER: &str = "usr_5eed0000-0000-4000-8000-000000000001";
const ATTR_SET: &str = "attr_set_5eed0000-0000-4000-8000-000000000002";
const PAYOUT: &str = "payout_5eed0000-0000-4000-8000-000000000003";

/// A verified user with a BTC wallet, USD 1000, and one committed payout of 100 USD to BTC
/// (fee 2.99): the seeded tenant's USD balance is 1000 − 102.99 = 897.01.
fn seed() -> Value {
    json!({
        "balances": [{"currency_code": "USD", "balance": "1000"}],
        "users": [{
            "user_token": USER, "internal_user_id": "seed-1", "country": "USA",
            "first_name": "Ada", "last_name": "Seed", "email": "ada@example.com",
            "attributes": [{
                "attr_set_token": ATTR_SET, "destination_token": BTC_DESTINATION, "currency": "BTC",
                "values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}]
            }]
        }],
        "payouts": [{
            "payout_token": PAYOUT, "user_token": USER, "client_transfer_id": "seeded-1",
            "source_token": USD_SOURCE, "destination_token": BTC_DESTINATION,
            "destination_currency_code": "BTC", "source_amount": 100, "commit": true
        }]
    })
}

/// A temporary file (or directory) path, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn file(content: &str) -> Temp {
        let path = std::env::temp_dir().join(format!("masspay-seed-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).expect("write the seed file");
        Temp(path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn seeded(seed: &Value) -> (TestApp, Temp) {
    let file = Temp::file(&seed.to_string());
    let app = TestApp::spawn_with(Sandbox::builder().seed_state(&file.0)).await;
    (app, file)
}

/// The start-up refusal for a seed file, as text.
async fn refusal(seed: &Value) -> (String, Temp) {
    let file = Temp::file(&seed.to_string());
    match Sandbox::builder().seed_state(&file.0).start().await {
        Ok(_) => panic!("a bad seed was accepted: {seed}"),
        Err(e) => (e.to_string(), file),
    }
}

#[tokio::test]
async fn a_seeded_user_with_a_btc_wallet_is_paid_out_at_once_with_exact_balances() {
    let (app, _file) = seeded(&seed()).await;
    // No set-up call: the user, its wallet and the committed payout are there.
    assert_eq!(app.balance("USD").await, "897.01");
    assert_eq!(
        app.balance("BTC").await,
        "1.938135",
        "other accounts keep balances.json's"
    );
    let user = app.get(&format!("/user/{USER}")).await;
    assert_eq!(user.status, 200, "{}", user.text);
    assert_eq!(user.body["email"], "ada@example.com");
    assert_eq!(app.payout_status(USER, PAYOUT).await, "COMPLETED");

    let payout = app.pending_btc_payout(USER, "50").await;
    let commit = app.commit(USER, &payout).await;
    assert_eq!(commit.status, 200, "{}", commit.text);
    assert_eq!(commit.body["status"], "success", "{}", commit.text);
    assert_eq!(app.balance("USD").await, "844.02"); // 897.01 − (50 + 2.99)
}

#[tokio::test]
async fn seeded_objects_appear_in_the_state_dump() {
    let (app, _file) = seeded(&seed()).await;
    let state = app.get("/_sandbox/state").await;
    assert_eq!(state.status, 200, "{}", state.text);
    let users: Vec<&Value> = state.body["users"].as_array().unwrap().iter().collect();
    assert_eq!(users.len(), 1, "{}", state.text);
    assert_eq!(users[0]["user_token"], USER);
    let sets = state.body["attributes"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "{}", state.text);
    assert_eq!(sets[0]["attr_set_token"], ATTR_SET);
    assert_eq!(sets[0]["values"][0]["value"], BTC_ADDRESS);
    let payouts = state.body["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 1, "{}", state.text);
    assert_eq!(payouts[0]["payout_token"], PAYOUT);
    assert_eq!(payouts[0]["client_transfer_id"], "seeded-1");
}

#[tokio::test]
async fn a_reset_brings_the_seed_back() {
    let (app, _file) = seeded(&seed()).await;
    let payout = app.pending_btc_payout(USER, "50").await;
    assert_eq!(app.commit(USER, &payout).await.status, 200);
    let extra = app.create_user().await;
    assert_eq!(app.balance("USD").await, "844.02");

    let reset = app.post("/_sandbox/reset", json!({})).await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    assert_eq!(app.balance("USD").await, "897.01");
    assert_eq!(app.get(&format!("/user/{extra}")).await.status, 404);
    assert_eq!(app.payout(USER, &payout).await.status, 404);
    assert_eq!(app.payout_status(USER, PAYOUT).await, "COMPLETED");
    // The seeded wallet is back too: a payout commits at once.
    let again = app.pending_btc_payout(USER, "10").await;
    assert_eq!(app.commit(USER, &again).await.body["status"], "success");
}

#[tokio::test]
async fn each_tenant_gets_its_own_copy_of_the_seed() {
    let (app, _file) = seeded(&seed()).await;
    let other = app.other_tenant();
    let payout = app.pending_btc_payout(USER, "50").await;
    assert_eq!(app.commit(USER, &payout).await.status, 200);
    assert_eq!(app.balance("USD").await, "844.02");
    assert_eq!(other.balance("USD").await, "897.01");
    assert_eq!(other.payout(USER, &payout).await.status, 404);
    // Same seeded tokens in both tenants.
    assert_eq!(other.payout_status(USER, PAYOUT).await, "COMPLETED");
}

#[tokio::test]
async fn an_uncommitted_seeded_payout_is_pending_and_commits_later() {
    let mut s = seed();
    s["payouts"][0]["commit"] = json!(false);
    let (app, _file) = seeded(&s).await;
    assert_eq!(app.payout_status(USER, PAYOUT).await, "PENDING");
    assert_eq!(app.balance("USD").await, "1000");
    assert_eq!(app.commit(USER, PAYOUT).await.body["status"], "success");
    assert_eq!(app.balance("USD").await, "897.01");
}

#[tokio::test]
async fn seed_json_in_the_fixtures_directory_seeds_too_and_no_seed_means_empty() {
    let dir = Temp(std::env::temp_dir().join(format!("masspay-seed-dir-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("seed.json"), seed().to_string()).unwrap();
    let app = TestApp::spawn_with(Sandbox::builder().fixtures_dir(&dir.0)).await;
    assert_eq!(app.balance("USD").await, "897.01");

    let plain = TestApp::spawn().await;
    assert_eq!(plain.balance("USD").await, "250000");
    let state = plain.get("/_sandbox/state").await;
    assert_eq!(state.body["users"], json!([]), "{}", state.text);
}

#[tokio::test]
async fn a_bad_seed_refuses_to_start_naming_file_entry_and_reason() {
    // An attribute value failing its validation regex.
    let mut s = seed();
    s["users"][0]["attributes"][0]["values"][0]["value"] = json!("not-a-btc-address");
    let (e, file) = refusal(&s).await;
    let name = file.0.display().to_string();
    for needle in [
        name.as_str(),
        "users[0]",
        "attributes[0]",
        "Wallet Address",
        "does not match",
    ] {
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }

    // A payout the API would refuse for insufficient funds.
    let mut s = seed();
    s["balances"][0]["balance"] = json!("100");
    let (e, _file) = refusal(&s).await;
    for needle in ["payouts[0]", PAYOUT, "insufficient funds", "102.99"] {
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }

    // Committing without the required wallet address.
    let mut s = seed();
    s["users"][0]["attributes"] = json!([]);
    let (e, _file) = refusal(&s).await;
    assert!(
        e.contains("payouts[0]") && e.contains("addtl_attr_req"),
        "{e}"
    );

    // Unknown fields, bad tokens, unknown destinations and currencies.
    let mut s = seed();
    s["users"][0]["favourite_colour"] = json!("blue");
    let (e, _file) = refusal(&s).await;
    assert!(
        e.contains("users[0]") && e.contains("favourite_colour"),
        "{e}"
    );

    let mut s = seed();
    s["users"][0]["user_token"] = json!("user-1");
    let (e, _file) = refusal(&s).await;
    assert!(e.contains("users[0]") && e.contains("usr_<uuid>"), "{e}");

    let mut s = seed();
    s["users"][0]["attributes"][0]["destination_token"] =
        json!("dst_00000000-0000-4000-8000-000000000000");
    let (e, _file) = refusal(&s).await;
    assert!(
        e.contains("attributes[0]") && e.contains("not in catalog.json"),
        "{e}"
    );

    let mut s = seed();
    s["balances"][0]["currency_code"] = json!("XYZ");
    let (e, _file) = refusal(&s).await;
    assert!(e.contains("balances[0]") && e.contains("XYZ"), "{e}");

    let mut s = seed();
    s["payouts"][0]["user_token"] = json!("usr_5eed0000-0000-4000-8000-0000000000ff");
    let (e, _file) = refusal(&s).await;
    assert!(
        e.contains("payouts[0]") && e.contains("not a user of this seed"),
        "{e}"
    );

    // A missing file.
    let missing =
        std::env::temp_dir().join(format!("masspay-no-seed-{}.json", uuid::Uuid::new_v4()));
    let e = Sandbox::builder()
        .seed_state(&missing)
        .start()
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("cannot read"), "{e}");
}
