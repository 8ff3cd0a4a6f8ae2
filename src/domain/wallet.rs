//! User wallets and what moves money in and out of them: loads (client account → wallet),
//! spend-backs (wallet → client account), autopay rules (a share of every load paid out) and
//! the MassPay card a card wallet carries.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::catalog::{CurrencyCode, ANY_PRECISION};
use crate::clock::Millis;
use crate::domain::catalog::Catalog;
use crate::domain::error::{SimError, SimResult};
use crate::domain::money::parse_request_amount;
use crate::domain::Problems;

pub const WALLET: &str = "usr_wlt_";
pub const LOAD: &str = "ld_";
pub const SPENDBACK: &str = "spb_";
pub const AUTOPAY: &str = "autopay_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WalletKind {
    UserFunds,
    MasspayCard,
}

impl WalletKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::UserFunds => "USER_FUNDS",
            WalletKind::MasspayCard => "MASSPAY_CARD",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CardStatus {
    Active,
    Inactive,
    Closed,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Active => "ACTIVE",
            CardStatus::Inactive => "INACTIVE",
            CardStatus::Closed => "CLOSED",
        }
    }
}

/// A MassPay card (VISA). The number stays below 2^53 so 0.1.4's integer `card_number` survives
/// a JavaScript client.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Card {
    pub number: u64,
    pub cvv: String,
    pub expiration: NaiveDate,
    pub pin: String,
    pub status: CardStatus,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AutopayRule {
    pub id: Uuid,
    /// Index into `Catalog::payers`.
    pub payer: usize,
    /// Index into the payer's currencies: the currency the rule pays out in.
    pub destination_currency: usize,
    pub percentage: Decimal,
    pub attr_set_token: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Wallet {
    pub id: Uuid,
    pub user: crate::domain::token::UserId,
    pub currency: CurrencyCode,
    pub kind: WalletKind,
    pub balance: Decimal,
    pub active: bool,
    pub card: Option<Card>,
    pub autopay: Vec<AutopayRule>,
    pub created: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LoadStatus {
    Completed,
    Cancelled,
    Scheduled,
}

impl LoadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadStatus::Completed => "COMPLETED",
            LoadStatus::Cancelled => "CANCELLED",
            LoadStatus::Scheduled => "SCHEDULED",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Load {
    pub id: Uuid,
    pub user: crate::domain::token::UserId,
    pub client_load_id: String,
    /// Index into `Catalog::funding_accounts`.
    pub funding: usize,
    pub wallet: Uuid,
    pub amount: Decimal,
    pub notes: String,
    pub status: LoadStatus,
    pub status_reason: Option<String>,
    /// When it runs (or ran): now, or `time_to_process`.
    pub time_of_load: Millis,
    pub created: Millis,
    /// The tenant's creation order (ties within a millisecond).
    pub seq: u64,
    pub metadata: Option<Box<RawValue>>,
    pub notify_user: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SpendBack {
    pub id: Uuid,
    pub user: crate::domain::token::UserId,
    pub client_spendback_id: String,
    /// The `source_token` as the client sent it (the wallet or the client account).
    pub source_token: String,
    pub funding: usize,
    pub wallet: Uuid,
    pub amount: Decimal,
    pub notes: String,
    pub success: bool,
    pub created: Millis,
    /// The tenant's creation order (ties within a millisecond).
    pub seq: u64,
    pub metadata: Option<Box<RawValue>>,
}

/// `LoadTxn` as sent.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadTxnBody {
    pub client_load_id: Option<String>,
    pub source_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub amount: Option<Box<RawValue>>,
    pub source_currency_code: Option<String>,
    pub notes: Option<String>,
    pub notify_user: Option<bool>,
    pub time_to_process: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

/// `SpendBackTxn` as sent.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpendBackTxnBody {
    pub client_spendback_id: Option<String>,
    pub source_token: Option<String>,
    pub source_currency_code: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub amount: Option<Box<RawValue>>,
    pub notes: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

/// `AutopayRule` as sent.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutopayRuleBody {
    pub destination_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub percentage: Option<Box<RawValue>>,
    pub attr_set_token: Option<String>,
}

/// A metadata object as given (an object, or nothing).
pub fn metadata_object(
    v: Option<serde_json::Value>,
    p: &mut super::Problems,
) -> Option<Box<RawValue>> {
    match v {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => {
            let raw = serde_json::value::to_raw_value(&v).ok()?;
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
    }
}

/// Generates a card for a new card wallet from 16 random bytes (deterministic under `--seed`).
pub fn new_card(seed: Uuid, today: NaiveDate) -> Card {
    let n = seed.as_u128();
    // 4 + 15 digits: a VISA-looking number below 2^53.
    let body = (n % 1_000_000_000_000_000) as u64;
    let number = 4_000_000_000_000_000 + body;
    let cvv = format!("{:03}", (n >> 64) % 1000);
    let pin = format!("{:04}", (n >> 80) % 10_000);
    let expiration =
        NaiveDate::from_ymd_opt(chrono::Datelike::year(&today) + 4, 12, 31).unwrap_or(today);
    Card {
        number,
        cvv,
        expiration,
        pin,
        status: CardStatus::Active,
    }
}

/// A load request, parsed.
pub struct LoadRequest {
    pub client_load_id: String,
    pub funding: usize,
    pub amount: Decimal,
    pub notes: String,
    pub notify_user: bool,
    pub time_to_process: Option<Millis>,
    pub metadata: Option<Box<RawValue>>,
}

/// A spend-back request, parsed.
pub struct SpendBackRequest {
    pub client_spendback_id: String,
    pub source_token: String,
    pub currency: String,
    pub amount: Decimal,
    pub notes: String,
    pub metadata: Option<Box<RawValue>>,
}

pub fn parse_load(catalog: &Catalog, body: LoadTxnBody, now: Millis) -> SimResult<LoadRequest> {
    let mut p = Problems::new();
    let client_load_id = p.required("client_load_id", body.client_load_id, 50);
    let source_token = p.required("source_token", body.source_token, 100);
    let funding = if source_token.is_empty() {
        None
    } else {
        let f = catalog.funding_account(&source_token);
        if f.is_none() {
            p.push(format!("source_token {source_token:?} is not one of your funding accounts (see GET /account/balance)"));
        }
        f
    };
    let currency = funding.map(|f| catalog.funding_accounts[f].currency.to_string());
    if let (Some(given), Some(actual)) = (body.source_currency_code.as_deref(), currency.as_deref())
    {
        if !given.is_empty() && given != actual {
            p.push(format!("source_currency_code {given:?} does not match the currency of source_token ({actual})"));
        }
    }
    let precision = currency
        .as_deref()
        .map_or(ANY_PRECISION, |c| catalog.precision_of(c));
    let amount = match body.amount.filter(|r| r.get() != "null") {
        None => {
            p.push("amount is required");
            None
        }
        Some(raw) => match parse_request_amount("amount", &raw, precision) {
            Ok(a) => Some(a),
            Err(e) => {
                p.push(e);
                None
            }
        },
    };
    let notes = p.optional("notes", body.notes, 255).unwrap_or_default();
    let time_to_process = match body.time_to_process.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t.trim()) {
            Ok(at) => Some(at.timestamp_millis()).filter(|at| *at > now),
            Err(_) => {
                p.push(format!("time_to_process must be an ISO 8601 UTC time such as 2026-12-01T10:00:00Z, not {t:?}"));
                None
            }
        },
    };
    let metadata = metadata_object(body.metadata, &mut p);
    let (Some(funding), Some(amount)) = (funding, amount) else {
        return Err(p
            .finish::<()>("load", ())
            .err()
            .unwrap_or_else(|| SimError::invalid("invalid load")));
    };
    p.finish(
        "load",
        LoadRequest {
            client_load_id,
            funding,
            amount,
            notes,
            notify_user: body.notify_user.unwrap_or(true),
            time_to_process,
            metadata,
        },
    )
}

pub fn parse_spendback(catalog: &Catalog, body: SpendBackTxnBody) -> SimResult<SpendBackRequest> {
    let mut p = Problems::new();
    let client_spendback_id = p.required("client_spendback_id", body.client_spendback_id, 50);
    let source_token = p.required("source_token", body.source_token, 100);
    let currency = p
        .optional("source_currency_code", body.source_currency_code, 4)
        .unwrap_or_else(|| "USD".into());
    if catalog.precision(&currency).is_none() {
        p.push(format!(
            "source_currency_code {currency:?} is not a supported currency"
        ));
    }
    let amount = match body.amount.filter(|r| r.get() != "null") {
        None => {
            p.push("amount is required");
            None
        }
        Some(raw) => match parse_request_amount("amount", &raw, catalog.precision_of(&currency)) {
            Ok(a) => Some(a),
            Err(e) => {
                p.push(e);
                None
            }
        },
    };
    let notes = p.optional("notes", body.notes, 255).unwrap_or_default();
    let metadata = metadata_object(body.metadata, &mut p);
    p.finish(
        "spend-back",
        SpendBackRequest {
            client_spendback_id,
            source_token,
            currency,
            amount: amount.unwrap_or_default(),
            notes,
            metadata,
        },
    )
}

/// A card update (`PUT …/card?pin=&status=`), parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CardUpdate {
    /// A new 4-digit PIN.
    pub pin: Option<String>,
    /// `SUSPEND` → INACTIVE, `UNSUSPEND` → ACTIVE, `CLOSE` → CLOSED (for good).
    pub status: Option<CardStatus>,
}

/// Parses a card update's query parameters (empty = not given), listing every problem.
pub fn parse_card_update(pin: Option<&str>, status: Option<&str>) -> SimResult<CardUpdate> {
    let mut p = Problems::new();
    let pin = pin.filter(|p| !p.is_empty());
    if let Some(pin) = pin {
        if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            p.push("query parameter pin must be 4 digits");
        }
    }
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some("SUSPEND") => Some(CardStatus::Inactive),
        Some("UNSUSPEND") => Some(CardStatus::Active),
        Some("CLOSE") => Some(CardStatus::Closed),
        Some(other) => {
            p.push(format!(
                "query parameter status must be SUSPEND, UNSUSPEND or CLOSE, not {other:?}"
            ));
            None
        }
    };
    p.finish(
        "card update",
        CardUpdate {
            pin: pin.map(str::to_string),
            status,
        },
    )
}
