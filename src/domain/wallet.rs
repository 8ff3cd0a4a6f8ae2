//! User wallets and what moves money in and out of them: loads (client account → wallet),
//! spend-backs (wallet → client account), autopay rules (a share of every load paid out) and
//! the MassPay card a card wallet carries.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::catalog::CurrencyCode;
use crate::clock::Millis;

pub const WALLET: &str = "usr_wlt_";
pub const LOAD: &str = "ld_";
pub const SPENDBACK: &str = "spb_";
pub const AUTOPAY: &str = "autopay_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug)]
pub struct Card {
    pub number: u64,
    pub cvv: String,
    pub expiration: NaiveDate,
    pub pin: String,
    pub status: CardStatus,
}

#[derive(Clone, Debug)]
pub struct AutopayRule {
    pub id: Uuid,
    /// Index into `Catalog::payers`.
    pub payer: usize,
    /// Index into the payer's currencies: the currency the rule pays out in.
    pub destination_currency: usize,
    pub percentage: Decimal,
    pub attr_set_token: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Wallet {
    pub id: Uuid,
    pub user: Uuid,
    pub currency: CurrencyCode,
    pub kind: WalletKind,
    pub balance: Decimal,
    pub active: bool,
    pub card: Option<Card>,
    pub autopay: Vec<AutopayRule>,
    pub created: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug)]
pub struct Load {
    pub id: Uuid,
    pub user: Uuid,
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

#[derive(Clone, Debug)]
pub struct SpendBack {
    pub id: Uuid,
    pub user: Uuid,
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
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct LoadTxnBody {
    pub client_load_id: Option<String>,
    pub source_token: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Box<RawValue>>,
    pub source_currency_code: Option<String>,
    pub notes: Option<String>,
    pub notify_user: Option<bool>,
    pub time_to_process: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `SpendBackTxn` as sent.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct SpendBackTxnBody {
    pub client_spendback_id: Option<String>,
    pub source_token: Option<String>,
    pub source_currency_code: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Box<RawValue>>,
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `AutopayRule` as sent.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct AutopayRuleBody {
    pub destination_token: Option<String>,
    #[schema(value_type = Option<f64>)]
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
