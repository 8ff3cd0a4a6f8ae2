//! A user's profile: what a client says about a user, its text fields packed into one string
//! (one allocation a stored user instead of fifteen, and ~500 bytes less), written to and read
//! from state files field by field as before.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Everything a client says about a user. The text fields live in one string, one allocation a
/// user instead of fifteen; [`UserProfile::text`] reads them.
#[derive(Clone, Debug)]
pub struct UserProfile {
    text: Box<str>,
    /// Where each text field ends in `text`, in [`ProfileText::parts`] order (each starts where
    /// the one before ends).
    ends: [u32; TEXT_FIELDS],
    /// Bit `i`: optional text field `i` is absent (`None`), not blank.
    absent: u16,
    /// `date_of_birth` was sent blank (`""`): answers echo `""`, as sent.
    pub date_of_birth_blank: bool,
    /// The client's JSON object as sent (kept as text: a parsed map costs ~600 bytes a user).
    pub metadata: Option<Box<RawValue>>,
    pub notify_user: bool,
}

/// The text fields of a [`UserProfile`], borrowed from it (or, to make one, from anywhere).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileText<'a> {
    pub internal_user_id: &'a str,
    pub address1: Option<&'a str>,
    pub address2: Option<&'a str>,
    pub city: Option<&'a str>,
    pub state_province: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: &'a str,
    pub first_name: &'a str,
    pub middle_name: Option<&'a str>,
    pub last_name: &'a str,
    pub email: &'a str,
    pub language: &'a str,
    pub mobile_number: Option<&'a str>,
    pub business_name: Option<&'a str>,
    /// `YYYY-MM-DD`, a real date.
    pub date_of_birth: Option<&'a str>,
}

const TEXT_FIELDS: usize = 15;

impl<'a> ProfileText<'a> {
    fn parts(&self) -> [Option<&'a str>; TEXT_FIELDS] {
        [
            Some(self.internal_user_id),
            self.address1,
            self.address2,
            self.city,
            self.state_province,
            self.postal_code,
            Some(self.country),
            Some(self.first_name),
            self.middle_name,
            Some(self.last_name),
            Some(self.email),
            Some(self.language),
            self.mobile_number,
            self.business_name,
            self.date_of_birth,
        ]
    }
}

impl UserProfile {
    pub fn new(
        text: ProfileText<'_>,
        date_of_birth_blank: bool,
        metadata: Option<Box<RawValue>>,
        notify_user: bool,
    ) -> Self {
        let parts = text.parts();
        let mut all = String::with_capacity(parts.iter().flatten().map(|p| p.len()).sum());
        let mut ends = [0; TEXT_FIELDS];
        let mut absent = 0;
        for (i, part) in parts.iter().enumerate() {
            match part {
                Some(p) => all.push_str(p),
                None => absent |= 1 << i,
            }
            // Bodies are limited to a few MB, so a profile's text is far below 4 GiB.
            ends[i] = all.len() as u32;
        }
        UserProfile {
            text: all.into_boxed_str(),
            ends,
            absent,
            date_of_birth_blank,
            metadata,
            notify_user,
        }
    }

    /// Text field `i` ([`ProfileText::parts`] order), `None` when absent.
    fn part(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        (self.absent & (1 << i) == 0).then(|| &self.text[start..self.ends[i] as usize])
    }

    /// The text fields.
    pub fn text(&self) -> ProfileText<'_> {
        let part = |i: usize| self.part(i);
        let required = |i: usize| part(i).unwrap_or_default();
        ProfileText {
            internal_user_id: required(0),
            address1: part(1),
            address2: part(2),
            city: part(3),
            state_province: part(4),
            postal_code: part(5),
            country: required(6),
            first_name: required(7),
            middle_name: part(8),
            last_name: required(9),
            email: required(10),
            language: required(11),
            mobile_number: part(12),
            business_name: part(13),
            date_of_birth: part(14),
        }
    }

    // One field without the other fourteen (what storing a user reads; `text` slices all).
    pub fn internal_user_id(&self) -> &str {
        self.part(0).unwrap_or_default()
    }

    pub fn state_province(&self) -> Option<&str> {
        self.part(4)
    }

    pub fn country(&self) -> &str {
        self.part(6).unwrap_or_default()
    }

    pub fn email(&self) -> &str {
        self.part(10).unwrap_or_default()
    }

    /// The key that makes e-mail addresses unique per tenant.
    pub fn email_key(&self) -> String {
        self.email().trim().to_lowercase()
    }
}

/// A [`UserProfile`] as written to a state file: each field on its own, as before profiles were
/// packed.
#[derive(Serialize)]
struct ProfileOut<'a> {
    #[serde(flatten)]
    text: ProfileText<'a>,
    date_of_birth_blank: bool,
    metadata: Option<&'a RawValue>,
    notify_user: bool,
}

/// A [`UserProfile`] as read from a state file.
#[derive(Deserialize)]
struct ProfileIn {
    internal_user_id: String,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    state_province: Option<String>,
    postal_code: Option<String>,
    country: String,
    first_name: String,
    middle_name: Option<String>,
    last_name: String,
    email: String,
    language: String,
    mobile_number: Option<String>,
    business_name: Option<String>,
    date_of_birth: Option<NaiveDate>,
    date_of_birth_blank: bool,
    metadata: Option<Box<RawValue>>,
    notify_user: bool,
}

impl Serialize for UserProfile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ProfileOut {
            text: self.text(),
            date_of_birth_blank: self.date_of_birth_blank,
            metadata: self.metadata.as_deref(),
            notify_user: self.notify_user,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for UserProfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = ProfileIn::deserialize(d)?;
        let date_of_birth = p.date_of_birth.map(|d| d.to_string());
        Ok(UserProfile::new(
            ProfileText {
                internal_user_id: &p.internal_user_id,
                address1: p.address1.as_deref(),
                address2: p.address2.as_deref(),
                city: p.city.as_deref(),
                state_province: p.state_province.as_deref(),
                postal_code: p.postal_code.as_deref(),
                country: &p.country,
                first_name: &p.first_name,
                middle_name: p.middle_name.as_deref(),
                last_name: &p.last_name,
                email: &p.email,
                language: &p.language,
                mobile_number: p.mobile_number.as_deref(),
                business_name: p.business_name.as_deref(),
                date_of_birth: date_of_birth.as_deref(),
            },
            p.date_of_birth_blank,
            p.metadata,
            p.notify_user,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_packed_profile_keeps_every_field_apart_and_round_trips() {
        let text = ProfileText {
            internal_user_id: "ext-1",
            address1: Some(""),
            address2: None,
            city: Some("Guadalajara"),
            state_province: None,
            postal_code: Some("44100"),
            country: "MEX",
            first_name: "Ana",
            middle_name: Some(""),
            last_name: "Díaz",
            email: "ana@example.com",
            language: "es",
            mobile_number: None,
            business_name: Some("ACME"),
            date_of_birth: Some("1990-05-17"),
        };
        let metadata = RawValue::from_string(r#"{"a":1}"#.into()).ok();
        let profile = UserProfile::new(text, false, metadata, true);
        assert_eq!(profile.text(), text);
        assert_eq!(
            (
                profile.internal_user_id(),
                profile.email(),
                profile.country()
            ),
            ("ext-1", "ana@example.com", "MEX")
        );
        assert_eq!(profile.state_province(), None);
        let with_state = ProfileText {
            state_province: Some("JAL"),
            ..text
        };
        assert_eq!(
            UserProfile::new(with_state, false, None, true).state_province(),
            Some("JAL")
        );
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["address2"], Value::Null);
        assert_eq!(json["address1"], "");
        assert_eq!(json["date_of_birth"], "1990-05-17");
        assert_eq!(json["metadata"]["a"], 1);
        assert_eq!(json.as_object().unwrap().len(), 18);
        let back: UserProfile = serde_json::from_value(json).unwrap();
        assert_eq!(back.text(), text);
        assert!(back.notify_user && !back.date_of_birth_blank);
        assert_eq!(back.metadata.unwrap().get(), r#"{"a":1}"#);
    }
}
