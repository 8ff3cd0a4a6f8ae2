//! `PayoutTxn` as sent, and its parsing against the catalog into a [`PayoutRequest`].

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::*;
use crate::domain::catalog::ANY_PRECISION;
use crate::domain::error::SimError;

/// `PayoutTxn` as sent.
#[derive(serde::Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayoutTxnBody<'a> {
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub client_transfer_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub source_currency_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub destination_currency_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub source_token: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub destination_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub destination_amount: Option<&'a RawValue>,
    #[serde(borrow)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub source_amount: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "crate::domain::borrowed")]
    pub attr_set_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<&'a RawValue>,
    pub notify_user: Option<bool>,
    /// API 1.0.0: commit at once (same currency only).
    pub auto_commit: Option<bool>,
}

/// An initiate request, parsed against the catalog.
#[derive(Clone, Debug)]
pub struct PayoutRequest {
    pub source: Source,
    pub payer: usize,
    /// Index into the payer's `currencies`.
    pub destination_currency: usize,
    pub amounts: AmountRequest,
    pub client_transfer_id: Option<String>,
    pub metadata: Option<Box<RawValue>>,
    pub attr_set_token: Option<String>,
    pub notify_user: bool,
    pub auto_commit: bool,
}

impl PayoutRequest {
    /// The amount as requested, which magic values read: `source_amount`, else
    /// `destination_amount`.
    pub fn requested_amount(&self) -> Option<Decimal> {
        self.amounts
            .source_amount
            .or(self.amounts.destination_amount)
    }
}

/// Parses `PayoutTxn` (and the `limit` query) into a [`PayoutRequest`], listing every problem.
pub fn parse_payout_request(
    catalog: &crate::domain::catalog::Catalog,
    body: PayoutTxnBody<'_>,
    limit: Option<Decimal>,
    wallet: impl Fn(&str) -> Option<(Uuid, usize)>,
) -> Result<PayoutRequest, SimError> {
    use crate::domain::money::parse_request_amount;
    let mut p = crate::domain::Problems::new();
    let source_token = p.required("source_token", body.source_token, 100);
    let destination_token = p.required("destination_token", body.destination_token, 100);
    let destination_currency = p.required(
        "destination_currency_code",
        body.destination_currency_code,
        4,
    );
    let source = if source_token.is_empty() {
        None
    } else if let Some(f) = catalog.funding_account(&source_token) {
        Some(Source::Account(f as u16))
    } else if let Some((id, ci)) = wallet(&source_token) {
        Some(Source::Wallet(id, ci as u16))
    } else {
        p.push(format!("source_token {source_token:?} is neither one of your funding accounts (see GET /account/balance) nor a wallet of this user"));
        None
    };
    let source_currency = source.map(|s| source_currency_code(catalog, s));
    if let (Some(given), Some(actual)) = (body.source_currency_code.as_deref(), source_currency) {
        if !given.is_empty() && given != actual {
            p.push(format!("source_currency_code {given:?} does not match the currency of source_token ({actual})"));
        }
    }
    let payer = if destination_token.is_empty() {
        None
    } else {
        let d = catalog.payer(&destination_token);
        if d.is_none() {
            p.push(format!("destination_token {destination_token:?} is not a known destination (see GET /country/{{country_code}})"));
        }
        d
    };
    let mut dest_idx = None;
    if let Some(payer) = payer.map(|i| &catalog.payers[i]) {
        if !destination_currency.is_empty() {
            dest_idx = payer
                .currencies
                .iter()
                .position(|c| *c.code == *destination_currency);
            if dest_idx.is_none() {
                let offered: Vec<&str> = payer.currencies.iter().map(|c| &*c.code).collect();
                p.push(format!("destination_currency_code {destination_currency:?} is not paid by this destination (it pays {})", offered.join(", ")));
            }
        }
        if let Some(sc) = source_currency {
            if payer.pricing_for(sc).is_none() {
                p.push(format!(
                    "this destination does not accept {sc} as source currency"
                ));
            }
        }
    }
    let sp = source_currency.map_or(ANY_PRECISION, |c| catalog.precision_of(c));
    let dp = catalog.precision_of(&destination_currency);
    let mut amount = |name: &str, raw: Option<&RawValue>, precision: u32| {
        let raw = raw.filter(|r| r.get() != "null")?;
        match parse_request_amount(name, raw, precision) {
            Ok(d) => Some(d),
            Err(e) => {
                p.push(e);
                None
            }
        }
    };
    let source_amount = amount("source_amount", body.source_amount, sp);
    let destination_amount = amount("destination_amount", body.destination_amount, dp);
    if source_amount.is_some() && destination_amount.is_some() {
        p.push("give either source_amount or destination_amount, not both");
    }
    let client_transfer_id = p
        .optional("client_transfer_id", body.client_transfer_id, 50)
        .map(Cow::into_owned);
    let metadata = match body.metadata {
        None => None,
        Some(raw) => normalise_metadata(raw, &mut p).filter(|m| {
            match crate::domain::metadata::problem(m.get()) {
                None => true,
                Some(problem) => {
                    p.push(problem);
                    false
                }
            }
        }),
    };
    let auto_commit = body.auto_commit.unwrap_or(false);
    if auto_commit {
        if let (Some(sc), Some(i), Some(payer)) = (source_currency, dest_idx, payer) {
            if *catalog.payers[payer].currencies[i].code != *sc {
                p.push(
                    "auto_commit is only allowed when source and destination currency are the same",
                );
            }
        }
    }
    let attr_set_token = p
        .optional("attr_set_token", body.attr_set_token, 100)
        .map(Cow::into_owned);
    let (Some(source), Some(payer), Some(destination_currency)) = (source, payer, dest_idx) else {
        return Err(p
            .finish::<()>("payout", ())
            .err()
            .unwrap_or_else(|| SimError::invalid("invalid payout")));
    };
    p.finish(
        "payout",
        PayoutRequest {
            source,
            payer,
            destination_currency,
            amounts: AmountRequest {
                source_amount,
                destination_amount,
                limit,
            },
            client_transfer_id,
            metadata,
            attr_set_token,
            notify_user: body.notify_user.unwrap_or(false),
            auto_commit,
        },
    )
}

/// `metadata` is an object (1.0.0) or a string (0.1.4); a string holding a JSON object is stored
/// as that object, any other string as `{"value": "<string>"}` (responses type it as an object).
fn normalise_metadata(raw: &RawValue, p: &mut crate::domain::Problems) -> Option<Box<RawValue>> {
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        return Some(raw.to_owned());
    }
    if text == "null" {
        return None;
    }
    if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        if let Ok(obj) = serde_json::from_str::<Box<RawValue>>(&s) {
            if obj.get().trim_start().starts_with('{') {
                return Some(obj);
            }
        }
        // Responses type metadata as an object: keep a plain string under "value".
        return if s.is_empty() {
            None
        } else {
            serde_json::value::to_raw_value(&serde_json::json!({ "value": s })).ok()
        };
    }
    p.push("metadata must be a JSON object");
    None
}
