//! Response models, exactly as the reference names them: field names, types, enums. Required
//! fields are always present (`""` when there is nothing to say); optional ones are omitted
//! when empty.

use serde::Serialize;
use serde_json::value::RawValue;

use super::json_text::{JsonText, Object};
use crate::clock;
use crate::domain::catalog::Catalog;
use crate::domain::money::{Amount, DecimalText};
use crate::domain::payout::{CommitOutcome, Payout};
use crate::domain::token;
use crate::domain::user::User;

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AvailableBalanceTxnResp<'a> {
    pub token: &'a str,
    pub balance: Amount,
    pub currency_code: &'a str,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredUser<'a> {
    pub user_token: String,
    pub status: &'static str,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_on: clock::TimeText,
    pub internal_user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_province: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<&'a str>,
    pub country: &'a str,
    pub first_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<&'a str>,
    pub last_name: &'a str,
    pub email: &'a str,
    pub language: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_name: Option<&'a str>,
    pub timezone: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<&'a RawValue>,
}

impl<'a> StoredUser<'a> {
    pub fn from(u: &'a User) -> Self {
        let p = u.profile.text();
        StoredUser {
            user_token: u.id.token(),
            status: u.status.as_str(),
            created_on: clock::TimeText::new(u.created_on),
            internal_user_id: p.internal_user_id,
            address1: p.address1,
            address2: p.address2,
            city: p.city,
            state_province: p.state_province,
            postal_code: p.postal_code,
            country: p.country,
            first_name: p.first_name,
            middle_name: p.middle_name,
            last_name: p.last_name,
            email: p.email,
            language: p.language,
            mobile_number: p.mobile_number,
            business_name: p.business_name,
            timezone: &u.timezone,
            date_of_birth: p
                .date_of_birth
                .or_else(|| u.profile.date_of_birth_blank.then_some("")),
            metadata: u.profile.metadata.as_deref(),
        }
    }
}

impl JsonText for StoredUser<'_> {
    /// The JSON the derived `Serialize` writes, written directly (`json_text`): the answer of
    /// creating, reading and updating a user.
    fn write_json(&self, out: &mut Vec<u8>) {
        Object::new(out)
            .str("user_token", &self.user_token)
            .str("status", self.status)
            .str("created_on", &self.created_on)
            .str("internal_user_id", self.internal_user_id)
            .opt_str("address1", self.address1)
            .opt_str("address2", self.address2)
            .opt_str("city", self.city)
            .opt_str("state_province", self.state_province)
            .opt_str("postal_code", self.postal_code)
            .str("country", self.country)
            .str("first_name", self.first_name)
            .opt_str("middle_name", self.middle_name)
            .str("last_name", self.last_name)
            .str("email", self.email)
            .str("language", self.language)
            .opt_str("mobile_number", self.mobile_number)
            .opt_str("business_name", self.business_name)
            .str("timezone", self.timezone)
            .opt_str("date_of_birth", self.date_of_birth)
            .opt_raw("metadata", self.metadata.map(RawValue::get))
            .end();
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundUser<'a> {
    pub user_token: String,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub internal_user_id: &'a str,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayoutTxnResp<'a> {
    pub payout_token: String,
    pub client_transfer_id: &'a str,
    pub source_currency_code: &'a str,
    pub destination_currency_code: &'a str,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub source_token: std::borrow::Cow<'a, str>,
    pub destination_token: &'a str,
    pub destination_amount: Amount,
    pub source_amount: Amount,
    pub attr_set_token: String,
    pub exchange_rate: Amount,
    pub fee: Amount,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expiration: clock::TimeText,
    pub pickup_code: &'a str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_logo: Option<&'a str>,
    pub payer_name: &'a str,
    pub delivery_type: &'static str,
    pub country_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<&'a RawValue>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub estimated_availability: clock::TimeText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<&'a str>,
    /// Only in the admin state dump (and 1.0.0 history), never in a 0.1.4 payout answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_token: Option<String>,
}

impl<'a> PayoutTxnResp<'a> {
    /// `payout_token` is the payout's token, or `NSF`/`DUPLICATE` for refused initiations.
    pub fn from(
        catalog: &'a Catalog,
        p: &'a Payout,
        payout_token: String,
        include_logo: bool,
    ) -> Self {
        let payer = &catalog.payers[p.payer as usize];
        PayoutTxnResp {
            payout_token,
            client_transfer_id: p.client_transfer_id.as_deref().unwrap_or(""),
            source_currency_code: crate::domain::payout::source_currency_code(catalog, p.source),
            destination_currency_code: &payer.currencies[p.destination_currency as usize].code,
            source_token: crate::domain::payout::source_token(catalog, p.source),
            destination_token: &payer.token,
            destination_amount: p.destination_amount.into(),
            source_amount: p.source_amount.into(),
            attr_set_token: p
                .attr_set
                .map(|s| token::format(token::ATTR_SET, s))
                .unwrap_or_default(),
            exchange_rate: p.exchange_rate.into(),
            fee: p.fee.into(),
            expiration: clock::TimeText::new(p.expiration),
            pickup_code: p.pickup_code.as_deref().unwrap_or(""),
            status: p.status.as_str(),
            payer_logo: include_logo.then_some(payer.logo.as_str()),
            payer_name: &payer.name,
            delivery_type: payer.delivery_type.as_str(),
            country_code: &payer.country,
            metadata: p.metadata.as_deref(),
            estimated_availability: clock::TimeText::new(p.estimated_availability),
            status_reason: p.status_reason.as_deref(),
            user_token: None,
        }
    }
}

impl JsonText for PayoutTxnResp<'_> {
    /// The JSON the derived `Serialize` writes, written directly (`json_text`): the initiate
    /// answer, the payout path's largest.
    fn write_json(&self, out: &mut Vec<u8>) {
        let amount = |a: Amount| DecimalText::new(a.value());
        Object::new(out)
            .str("payout_token", &self.payout_token)
            .str("client_transfer_id", self.client_transfer_id)
            .str("source_currency_code", self.source_currency_code)
            .str("destination_currency_code", self.destination_currency_code)
            .str("source_token", &self.source_token)
            .str("destination_token", self.destination_token)
            .number("destination_amount", &amount(self.destination_amount))
            .number("source_amount", &amount(self.source_amount))
            .str("attr_set_token", &self.attr_set_token)
            .number("exchange_rate", &amount(self.exchange_rate))
            .number("fee", &amount(self.fee))
            .str("expiration", &self.expiration)
            .str("pickup_code", self.pickup_code)
            .str("status", self.status)
            .opt_str("payer_logo", self.payer_logo)
            .str("payer_name", self.payer_name)
            .str("delivery_type", self.delivery_type)
            .str("country_code", self.country_code)
            .opt_raw("metadata", self.metadata.map(RawValue::get))
            .str("estimated_availability", &self.estimated_availability)
            .opt_str("status_reason", self.status_reason)
            .opt_str("user_token", self.user_token.as_deref())
            .end();
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayoutTxnCommitResp<'a> {
    pub payout_token: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,
}

impl<'a> PayoutTxnCommitResp<'a> {
    pub fn from(p: &'a Payout, outcome: &CommitOutcome) -> Self {
        PayoutTxnCommitResp {
            payout_token: p.id.token(),
            status: outcome.status().as_str(),
            pickup_code: p.pickup_code.as_deref(),
            errors: outcome.errors(),
        }
    }
}

impl JsonText for PayoutTxnCommitResp<'_> {
    /// The JSON the derived `Serialize` writes, written directly (`json_text`).
    fn write_json(&self, out: &mut Vec<u8>) {
        Object::new(out)
            .str("payout_token", &self.payout_token)
            .str("status", self.status)
            .opt_str("pickup_code", self.pickup_code)
            .opt_str("errors", self.errors.as_deref())
            .end();
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttrsRequirement<'a> {
    pub token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attr_set_token: Option<String>,
    pub label: &'a str,
    pub validation: &'a str,
    pub is_optional: bool,
    pub value: &'a str,
    pub expected_value: &'a str,
    #[serde(rename = "type")]
    pub attr_type: &'a str,
    pub input_type: &'a str,
    pub last_attr_value_used: bool,
}

impl<'a> AttrsRequirement<'a> {
    /// Requirement `ri` of the catalog with the value stored for it in `set`, if any.
    pub fn from(
        catalog: &'a Catalog,
        ri: usize,
        set: Option<&'a crate::domain::attribute::AttrSet>,
        attr_set_token: Option<String>,
    ) -> Self {
        let r = &catalog.requirements[ri];
        let value = set.and_then(|s| s.value(ri));
        AttrsRequirement {
            token: &r.token,
            attr_set_token,
            label: &r.label,
            validation: &r.validation,
            is_optional: r.is_optional,
            value: value.unwrap_or(""),
            expected_value: &r.expected_value,
            attr_type: &r.attr_type,
            input_type: &r.input_type,
            last_attr_value_used: value.is_some(),
        }
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttrSetToken {
    pub attr_set_token: String,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountryResp<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub three_letter_code: &'a str,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompaniesResp<'a> {
    pub companies: Vec<CompanyResp<'a>>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyResp<'a> {
    pub company_logo: &'a str,
    pub services: Vec<ServiceResp<'a>>,
    pub rating: Amount,
    pub description: &'a str,
    pub company_name: &'a str,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceResp<'a> {
    pub country_code: &'a str,
    pub delivery_type: &'static str,
    pub payers: Vec<ServicePayerResp<'a>>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServicePayerResp<'a> {
    pub destination_token: &'a str,
    pub payer_logo: &'a str,
    pub payer_name: &'a str,
    pub exchange_rate: Vec<PayerExchangeRate<'a>>,
    pub fee: Amount,
    pub max_limit: Amount,
    pub min_limit: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_amount: Option<Amount>,
    pub number_of_locations: u32,
    pub estimated_availability: String,
    pub additional_description: &'a str,
    pub is_dynamic_token: bool,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayerExchangeRate<'a> {
    pub currency_symbol: &'a str,
    pub exchange_rate: Amount,
}

/// The `payout` webhook payload (reference §0.6), in the sample's field order.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayoutEvent<'a> {
    pub payout_token: String,
    pub client_transfer_id: &'a str,
    pub source_currency_code: &'a str,
    pub destination_currency_code: &'a str,
    pub country_code: &'a str,
    pub payer_name: &'a str,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub source_token: std::borrow::Cow<'a, str>,
    pub destination_token: &'a str,
    pub destination_amount: Amount,
    pub source_amount: Amount,
    pub attr_set_token: String,
    pub exchange_rate: Amount,
    pub fee: Amount,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expiration: clock::TimeText,
    pub status: &'static str,
    pub status_reason: &'a str,
    pub event_type: &'static str,
}

impl<'a> PayoutEvent<'a> {
    pub fn from(catalog: &'a Catalog, p: &'a Payout) -> Self {
        let r = PayoutTxnResp::from(catalog, p, p.id.token(), false);
        PayoutEvent {
            payout_token: r.payout_token,
            client_transfer_id: r.client_transfer_id,
            source_currency_code: r.source_currency_code,
            destination_currency_code: r.destination_currency_code,
            country_code: r.country_code,
            payer_name: r.payer_name,
            source_token: r.source_token,
            destination_token: r.destination_token,
            destination_amount: r.destination_amount,
            source_amount: r.source_amount,
            attr_set_token: r.attr_set_token,
            exchange_rate: r.exchange_rate,
            fee: r.fee,
            expiration: r.expiration,
            status: r.status,
            status_reason: r.status_reason.unwrap_or(""),
            event_type: "payout",
        }
    }
}

/// A base64 document (`GetTransactionConfirmationDetails200Response`, `GetAccountStatement200Response`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileContent {
    pub content: String,
}

impl FileContent {
    pub fn pdf(bytes: &[u8]) -> Self {
        use base64::Engine as _;
        FileContent {
            content: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// One transaction of a user's history.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnHistoryResp<'a> {
    pub token: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub time_of_txn: String,
    pub source_amount: Amount,
    pub source_currency_code: &'a str,
    pub destination_amount: Amount,
    pub destination_currency_code: &'a str,
    pub fee: Amount,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source_token: Option<std::borrow::Cow<'a, str>>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub destination_token: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_transfer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<&'a str>,
    /// API 1.0.0 (needed by the all-users history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_token: Option<String>,
}

impl<'a> TxnHistoryResp<'a> {
    pub fn payout(catalog: &'a Catalog, p: &'a Payout, with_user: bool) -> Self {
        let r = PayoutTxnResp::from(catalog, p, String::new(), false);
        TxnHistoryResp {
            token: p.id.token(),
            kind: crate::domain::history::TxnKind::Payout.as_str(),
            time_of_txn: clock::format(p.created),
            source_amount: r.source_amount,
            source_currency_code: r.source_currency_code,
            destination_amount: r.destination_amount,
            destination_currency_code: r.destination_currency_code,
            fee: r.fee,
            status: r.status,
            notes: None,
            payer_name: Some(r.payer_name),
            pickup_code: p.pickup_code.as_deref(),
            source_token: Some(r.source_token),
            destination_token: std::borrow::Cow::Borrowed(r.destination_token),
            delivery_type: Some(r.delivery_type),
            client_transfer_id: p.client_transfer_id.as_deref(),
            status_reason: p.status_reason.as_deref(),
            user_token: with_user.then(|| p.user.token()),
        }
    }
}

#[cfg(test)]
#[path = "models_tests.rs"]
mod tests;
