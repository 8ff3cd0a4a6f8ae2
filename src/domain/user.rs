//! Payees: the `User`/`UpdateUser` request bodies parsed into a [`UserProfile`], and the rules
//! for them (required fields, formats, age, the derived timezone).

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

mod profile;
pub use profile::{ProfileText, UserProfile};

use super::catalog::Catalog;
use super::Problems;
use crate::clock::Millis;
use crate::domain::error::SimError;

const NAME_MAX: usize = 255;
const INTERNAL_ID_MAX: usize = 75;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UserStatus {
    Active,
    Locked,
    Deactive,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Locked => "LOCKED",
            UserStatus::Deactive => "DEACTIVE",
        }
    }
}

/// A stored user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: super::token::UserId,
    pub status: UserStatus,
    pub created_on: Millis,
    pub timezone: Arc<str>,
    pub profile: UserProfile,
}

// Its text is borrowed from the request body where it has no escapes (no allocation a field).
/// The body of `POST /user` (and, with `status`, of `PUT /user/{token}`) as sent.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserBody<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub internal_user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub address1: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub address2: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub city: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub state_province: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub postal_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub country: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub first_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub middle_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub last_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub email: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub language: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub mobile_number: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub business_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed")]
    pub date_of_birth: Option<Cow<'a, str>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Box<RawValue>>,
    pub notify_user: Option<bool>,
    /// Read-only fields a client may echo back from a stored user; ignored.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub created_on: Option<Value>,
}

/// Which body is being parsed: create (`User`) or update (`UpdateUser`, which requires more).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum UserBodyKind {
    Create,
    Update,
}

pub fn parse_profile<'a>(
    body: UserBody<'a>,
    kind: UserBodyKind,
    today: NaiveDate,
) -> Result<(UserProfile, Option<UserStatus>), SimError> {
    let mut p = Problems::new();
    let status = match (kind, body.status.as_deref()) {
        (UserBodyKind::Create, _) => None,
        (UserBodyKind::Update, Some("ACTIVE")) => Some(UserStatus::Active),
        (UserBodyKind::Update, Some("DEACTIVE")) => Some(UserStatus::Deactive),
        (UserBodyKind::Update, Some(other)) => {
            p.push(format!("status must be ACTIVE or DEACTIVE, not {other:?}"));
            None
        }
        (UserBodyKind::Update, None) => {
            p.push("status is required");
            None
        }
    };
    let internal_user_id = p.required("internal_user_id", body.internal_user_id, INTERNAL_ID_MAX);
    if !internal_user_id.is_empty()
        && !internal_user_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+,-./_~".contains(c))
    {
        p.push("internal_user_id may contain only letters, digits and + , - . / _ ~");
    }
    let update = kind == UserBodyKind::Update;
    // Optional fields come back as sent, blank ones included (the guide's `"middle_name": ""`).
    let field = |p: &mut Problems, name: &str, v: Option<Cow<'a, str>>| {
        if update {
            Some(p.required(name, v, NAME_MAX))
        } else {
            p.as_sent(name, v, NAME_MAX)
        }
    };
    let address1 = field(&mut p, "address1", body.address1);
    let city = field(&mut p, "city", body.city);
    let state_province = field(&mut p, "state_province", body.state_province);
    let postal_code = field(&mut p, "postal_code", body.postal_code);
    let address2 = p.as_sent("address2", body.address2, NAME_MAX);
    let country = p.required("country", body.country, 3);
    let alpha3 = country.len() == 3 && country.bytes().all(|b| b.is_ascii_uppercase());
    if !country.is_empty() && !alpha3 {
        p.push("country must be an ISO 3166-1 alpha-3 code such as USA or MEX");
    }
    let first_name = p.required("first_name", body.first_name, NAME_MAX);
    let middle_name = p.as_sent("middle_name", body.middle_name, NAME_MAX);
    let last_name = p.required("last_name", body.last_name, NAME_MAX);
    let email = p.required("email", body.email, NAME_MAX);
    if !email.trim().is_empty() && !is_email(&email) {
        p.push(format!(
            "email must be an address shaped local@domain.tld (no spaces, one @, a dot in the domain), not {email:?}"
        ));
    }
    let language = p
        .as_sent("language", body.language, 16)
        .unwrap_or(Cow::Borrowed("en"));
    let mobile_number = p.as_sent("mobile_number", body.mobile_number, 20);
    if let Some(m) = mobile_number.as_deref().filter(|m| !m.trim().is_empty()) {
        if !m.bytes().all(|b| b.is_ascii_digit()) {
            p.push("mobile_number must contain digits only");
        }
    }
    let business_name = p.as_sent("business_name", body.business_name, NAME_MAX);
    let date_of_birth_blank = body
        .date_of_birth
        .as_deref()
        .is_some_and(|d| d.trim().is_empty());
    let date_of_birth = match p.optional("date_of_birth", body.date_of_birth, 10) {
        None => None,
        // `parse_date` takes exactly `YYYY-MM-DD`, so the text is kept as sent.
        Some(text) => match super::parse_date(&text) {
            Some(d) => {
                if age_on(d, today) < 18 {
                    p.push("date_of_birth: the user must be at least 18 years old");
                }
                Some(text)
            }
            _ => {
                p.push("date_of_birth must be a date in the form YYYY-MM-DD");
                None
            }
        },
    };
    let metadata = match body.metadata {
        None => None,
        Some(raw) if raw.get().trim_start().starts_with('{') => {
            match super::metadata::problem(raw.get()) {
                None => Some(raw),
                Some(problem) => {
                    p.push(problem);
                    None
                }
            }
        }
        Some(_) => {
            p.push("metadata must be a JSON object");
            None
        }
    };
    let profile = UserProfile::new(
        ProfileText {
            internal_user_id: &internal_user_id,
            address1: address1.as_deref(),
            address2: address2.as_deref(),
            city: city.as_deref(),
            state_province: state_province.as_deref(),
            postal_code: postal_code.as_deref(),
            country: &country,
            first_name: &first_name,
            middle_name: middle_name.as_deref(),
            last_name: &last_name,
            email: &email,
            language: &language,
            mobile_number: mobile_number.as_deref(),
            business_name: business_name.as_deref(),
            date_of_birth: date_of_birth.as_deref(),
        },
        date_of_birth_blank,
        metadata,
        body.notify_user.unwrap_or(false),
    );
    p.finish("user", (profile, status))
}

/// Is `text` shaped like an e-mail address, `local@domain.tld`: no whitespace or control
/// characters, exactly one `@` with something before it, and a domain of at least two non-empty
/// dot-separated labels? (Deliberately no more: MassPay's own check is not published, and every
/// real address passes this one.)
pub fn is_email(text: &str) -> bool {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

fn age_on(born: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age
}

/// The timezone MassPay would derive for a user: by US state where it is known, else the
/// catalog country's zone, else UTC. Without allocating: the zones are shared.
pub fn derive_timezone(catalog: &Catalog, country: &str, state: Option<&str>) -> Arc<str> {
    if country == "USA" {
        let code = state.map(str::trim).filter(|s| s.len() == 2).map(|s| {
            let b = s.as_bytes();
            [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]
        });
        let zone = match code.as_ref().map(|c| c.as_slice()) {
            Some(b"CA" | b"WA" | b"OR" | b"NV") => Some(0),
            Some(b"AZ") => Some(1),
            Some(b"CO" | b"UT" | b"NM" | b"MT" | b"WY" | b"ID") => Some(2),
            Some(
                b"TX" | b"IL" | b"MN" | b"WI" | b"MO" | b"IA" | b"LA" | b"OK" | b"KS" | b"NE"
                | b"AL" | b"AR" | b"MS" | b"TN" | b"SD" | b"ND",
            ) => Some(3),
            Some(b"AK") => Some(4),
            Some(b"HI") => Some(5),
            _ => None,
        };
        if let Some(zone) = zone {
            return Arc::clone(&ZONES[zone]);
        }
    }
    catalog
        .country(country)
        .map(|c| Arc::clone(&c.timezone))
        .unwrap_or_else(|| Arc::clone(&ZONES[6]))
}

/// The zones [`derive_timezone`] names itself: US states' (in its order), then UTC.
static ZONES: LazyLock<[Arc<str>; 7]> = LazyLock::new(|| {
    [
        "America/Los_Angeles",
        "America/Phoenix",
        "America/Denver",
        "America/Chicago",
        "America/Anchorage",
        "Pacific/Honolulu",
        "UTC",
    ]
    .map(Arc::from)
});

/// A KYC verification session (Veriff or Au10tix, or an ID upload).
#[derive(Clone, Debug, Serialize)]
pub struct KycSession {
    pub provider: &'static str,
    pub session_id: Uuid,
    pub session_time: Millis,
    /// `Started`, `Submitted`, … (the 1.0.0 `KYCSession` status enum).
    pub status: &'static str,
}

/// The KYC providers the sandbox records sessions of (a session read back from a state file
/// must name one of them).
pub const KYC_PROVIDERS: &[&str] = &["Veriff", "Au10tix"];
/// The session statuses it records.
pub const KYC_STATUSES: &[&str] = &["Started", "Submitted"];

/// A [`KycSession`] as read from a file.
#[derive(Deserialize)]
struct KycSessionText {
    provider: String,
    session_id: Uuid,
    session_time: Millis,
    status: String,
}

impl<'de> Deserialize<'de> for KycSession {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        KycSessionText::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl TryFrom<KycSessionText> for KycSession {
    type Error = String;

    fn try_from(s: KycSessionText) -> Result<Self, String> {
        let one_of = |text: &str, known: &'static [&'static str]| {
            known
                .iter()
                .find(|k| **k == text)
                .copied()
                .ok_or_else(|| format!("{text:?} is not one of {known:?}"))
        };
        Ok(KycSession {
            provider: one_of(&s.provider, KYC_PROVIDERS)?,
            session_id: s.session_id,
            session_time: s.session_time,
            status: one_of(&s.status, KYC_STATUSES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn the_timezone_follows_the_us_state_else_the_country() {
        let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
        let zone = |country, state| derive_timezone(&catalog, country, state).to_string();
        assert_eq!(zone("USA", Some(" ca ")), "America/Los_Angeles");
        assert_eq!(zone("USA", Some("hi")), "Pacific/Honolulu");
        assert_eq!(zone("USA", Some("TX")), "America/Chicago");
        let mexico = &catalog.country("MEX").unwrap().timezone;
        assert_eq!(zone("MEX", Some("CA")), mexico.to_string());
        let usa = catalog.country("USA").unwrap().timezone.to_string();
        for state in [None, Some("NY"), Some("C"), Some("CAL"), Some("é")] {
            assert_eq!(zone("USA", state), usa, "{state:?}");
        }
        assert_eq!(zone("ZZZ", None), "UTC");
    }

    #[test]
    fn lists_every_missing_field_at_once() {
        let err = parse_profile(UserBody::default(), UserBodyKind::Create, today()).unwrap_err();
        let SimError::Invalid { details, .. } = err else {
            panic!()
        };
        for f in [
            "internal_user_id",
            "country",
            "first_name",
            "last_name",
            "email",
        ] {
            assert!(
                details.iter().any(|d| d.starts_with(f)),
                "{f} missing from {details:?}"
            );
        }
    }

    #[test]
    fn e_mail_addresses_must_be_shaped_local_at_domain_dot_tld() {
        for ok in [
            "jdoe@gmail.com",
            "a@b.c",
            "jdoe+ci-1@mail.example.co.uk",
            "o'brien@example.org",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "not-an-email",
            "",
            "@example.com",
            "jdoe@",
            "jdoe@localhost",
            "jdoe@@example.com",
            "j@doe@example.com",
            "jdoe@example..com",
            "jdoe@.example.com",
            "jdoe@example.com.",
            "j doe@example.com",
            "jdoe@example.com ",
            " jdoe@example.com",
            "jdoe@exa\tmple.com",
            "jdoe@exam\u{0}ple.com",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn optional_fields_keep_blank_values_as_sent() {
        let body = UserBody {
            internal_user_id: Some("a".into()),
            country: Some("USA".into()),
            first_name: Some("A".into()),
            middle_name: Some("".into()),
            last_name: Some("B".into()),
            email: Some("a@b.co".into()),
            address2: Some("".into()),
            mobile_number: Some("".into()),
            date_of_birth: Some("".into()),
            ..Default::default()
        };
        let (profile, _) = parse_profile(body, UserBodyKind::Create, today()).unwrap();
        let text = profile.text();
        assert_eq!(text.middle_name, Some(""));
        assert_eq!(text.address2, Some(""));
        assert_eq!(text.mobile_number, Some(""));
        assert_eq!(text.date_of_birth, None);
        assert!(profile.date_of_birth_blank);
        assert_eq!(text.address1, None);
    }

    #[test]
    fn a_body_borrows_its_text_unless_it_has_escapes() {
        let json = r#"{"first_name":"Ana","last_name":"D\u00edaz","city":null}"#;
        let body: UserBody = serde_json::from_str(json).unwrap();
        assert!(matches!(body.first_name, Some(Cow::Borrowed("Ana"))));
        assert!(matches!(body.last_name.as_deref(), Some("Díaz")));
        assert!(matches!(body.last_name, Some(Cow::Owned(_))));
        assert_eq!(body.city, None);
        assert_eq!(body.email, None);
        let wrong = serde_json::from_str::<UserBody>(r#"{"email":5}"#).err();
        assert!(wrong.unwrap().to_string().contains("expected a string"));
    }

    #[test]
    fn minors_are_refused() {
        let body = UserBody {
            internal_user_id: Some("a".into()),
            country: Some("USA".into()),
            first_name: Some("A".into()),
            last_name: Some("B".into()),
            email: Some("a@b.c".into()),
            date_of_birth: Some("2010-01-01".into()),
            ..Default::default()
        };
        assert!(parse_profile(body, UserBodyKind::Create, today()).is_err());
    }
}
