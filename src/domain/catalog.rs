//! The catalog every tenant shares, read-only: currencies, funding accounts, countries,
//! companies → services → payers (destinations), exchange rates, fees, limits and attribute
//! requirements with their compiled regexes. Built once from the fixtures at start-up.

use std::collections::HashMap;

use regex_lite::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a payer delivers funds. Decides settlement: crypto and mobile wallets settle at once,
/// everything else stays PROCESSING until `estimated_availability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryType {
    CashPickup,
    BankDeposit,
    HomeDelivery,
    MobileWallet,
    MasspayCard,
    PaperCheck,
    Bill,
    Cryptocurrency,
}

impl DeliveryType {
    pub fn settles_at_once(self) -> bool {
        matches!(
            self,
            DeliveryType::Cryptocurrency | DeliveryType::MobileWallet | DeliveryType::MasspayCard
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryType::CashPickup => "CASH_PICKUP",
            DeliveryType::BankDeposit => "BANK_DEPOSIT",
            DeliveryType::HomeDelivery => "HOME_DELIVERY",
            DeliveryType::MobileWallet => "MOBILE_WALLET",
            DeliveryType::MasspayCard => "MASSPAY_CARD",
            DeliveryType::PaperCheck => "PAPER_CHECK",
            DeliveryType::Bill => "BILL",
            DeliveryType::Cryptocurrency => "CRYPTOCURRENCY",
        }
    }
}

/// The attribute `type` values of API 0.1.4 (and `IFramePaymentCollection` from 1.0.0).
pub const ATTRIBUTE_TYPES: &[&str] = &[
    "CardNumber",
    "BankAccountType",
    "BankAccountNumber",
    "BankAccountBranchNumber",
    "BankName",
    "PhoneNumber",
    "Gender",
    "IdentificationNumber",
    "BillReferenceNumber",
    "BankRoutingNumber",
    "BankAccountName",
    "MaidenName",
    "SocialSecurity",
    "EmploymentName",
    "EmploymentAddress",
    "EmploymentPhone",
    "EmploymentOccupation",
    "EmploymentSupervisor",
    "RemittanceReason",
    "Relationship",
    "SecondLastName",
    "SWIFT",
    "BirthCountry",
    "SourceOfFunds",
    "DateOfBirth",
    "CardExpiration",
    "CardZip",
    "IdentificationType",
    "BankCity",
    "BankState",
    "IDSelfieCollection",
    "City",
    "Country",
    "IdentificationExpiration",
    "Address1",
    "IFramePaymentCollection",
];

pub const INPUT_TYPES: &[&str] = &["text", "options", "date"];

pub type CurrencyCode = Box<str>;

/// The precision [`Catalog::precision_of`] gives a code the catalog does not have: the most
/// decimal places an amount can carry, so none is refused for its precision.
pub const ANY_PRECISION: u32 = 28;

#[derive(Debug)]
pub struct Currency {
    pub code: CurrencyCode,
    pub precision: u32,
}

/// A funding account of the client (what `GET /account/balance` lists; its token is a payout's
/// `source_token`). Identical in every tenant; each tenant holds its own balance.
#[derive(Debug)]
pub struct FundingAccount {
    pub token: String,
    pub id: Uuid,
    pub currency: CurrencyCode,
    pub initial_balance: Decimal,
}

#[derive(Debug)]
pub struct Country {
    pub code: String,
    pub three_letter_code: String,
    pub name: String,
    /// Shared with every user it is derived for (a clone is a count, not a copy).
    pub timezone: std::sync::Arc<str>,
}

#[derive(Debug)]
pub struct Company {
    pub name: String,
    pub description: String,
    pub rating: Decimal,
    pub logo: String,
    pub country: String,
    pub services: Vec<Service>,
}

#[derive(Debug)]
pub struct Service {
    pub delivery_type: DeliveryType,
    /// Indices into [`Catalog::payers`].
    pub payers: Vec<usize>,
}

/// Fee, limits and rates a payer offers for one source currency.
#[derive(Debug)]
pub struct Pricing {
    pub source_currency: CurrencyCode,
    pub fee: Decimal,
    /// 0 = no lower limit.
    pub min_limit: Decimal,
    /// 0 = no upper limit.
    pub max_limit: Decimal,
    /// Payer-specific rates (destination currency → rate), over the global table.
    pub rates: HashMap<CurrencyCode, Decimal>,
}

impl Pricing {
    pub fn accepts(&self, source_amount: Decimal) -> bool {
        source_amount >= self.min_limit
            && (self.max_limit.is_zero() || source_amount <= self.max_limit)
    }
}

/// One destination currency a payer pays out in, with the attributes it requires.
#[derive(Debug)]
pub struct PayerCurrency {
    pub code: CurrencyCode,
    /// Indices into [`Catalog::requirements`].
    pub requirements: Vec<usize>,
}

/// A payer offering one service in one country: a payout destination.
#[derive(Debug)]
pub struct Payer {
    pub token: String,
    pub id: Uuid,
    pub company: usize,
    pub country: String,
    pub delivery_type: DeliveryType,
    pub name: String,
    pub logo: String,
    pub currencies: Vec<PayerCurrency>,
    pub pricing: Vec<Pricing>,
    pub availability_seconds: i64,
    pub number_of_locations: u32,
    pub additional_description: String,
    pub is_dynamic_token: bool,
}

impl Payer {
    pub fn pricing_for(&self, source_currency: &str) -> Option<&Pricing> {
        self.pricing
            .iter()
            .find(|p| &*p.source_currency == source_currency)
    }

    pub fn currency(&self, code: &str) -> Option<&PayerCurrency> {
        self.currencies.iter().find(|c| &*c.code == code)
    }
}

/// An attribute a destination requires, with its regex compiled once (anchored: enforcement is
/// always a whole-string match, whatever `validation` says).
#[derive(Debug)]
pub struct Requirement {
    pub id: String,
    pub token: String,
    pub label: String,
    pub attr_type: String,
    pub validation: String,
    /// `^(?:validation)$`, compiled at load (regex-lite: microseconds each).
    pub anchored: Regex,
    pub expected_value: String,
    pub is_optional: bool,
    pub input_type: String,
}

impl Requirement {
    pub fn accepts(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

#[derive(Debug)]
pub struct Catalog {
    pub currencies: Vec<Currency>,
    pub funding_accounts: Vec<FundingAccount>,
    pub countries: Vec<Country>,
    pub companies: Vec<Company>,
    pub payers: Vec<Payer>,
    pub requirements: Vec<Requirement>,
    /// Source currency → destination currency → rate.
    pub rates: HashMap<CurrencyCode, HashMap<CurrencyCode, Decimal>>,
    pub quote_ttl_seconds: i64,
    pub payer_by_id: HashMap<Uuid, usize>,
    pub requirement_by_token: HashMap<String, usize>,
}

impl Catalog {
    /// A currency's precision (decimal places), the one lookup everywhere. Every code the
    /// catalog itself names (funding accounts, payers, wallets) is among `currencies`
    /// (`fixtures::load` refuses a catalog where one is not); a client's code that is not gets
    /// [`ANY_PRECISION`], so its amount is checked for nothing more than the error the caller
    /// already reports for the unknown code.
    pub fn precision_of(&self, currency: &str) -> u32 {
        self.precision(currency).unwrap_or(ANY_PRECISION)
    }

    /// A currency's precision, if the catalog has the currency.
    pub fn precision(&self, currency: &str) -> Option<u32> {
        self.currencies
            .iter()
            .find(|c| &*c.code == currency)
            .map(|c| c.precision)
    }

    pub fn funding_account(&self, token: &str) -> Option<usize> {
        // The fixture token as written (what clients send), found without parsing its UUID.
        if let Some(i) = self.funding_accounts.iter().position(|a| a.token == token) {
            return Some(i);
        }
        let (_, id) = crate::domain::token::split_fixture_token(token)
            .or_else(|| uuid::Uuid::try_parse(token).ok().map(|u| ("", u)))?;
        self.funding_accounts
            .iter()
            .position(|a| a.id == id && token_kind_matches(token, &a.token))
    }

    pub fn payer(&self, token: &str) -> Option<usize> {
        let (_, id) = crate::domain::token::split_fixture_token(token)
            .or_else(|| uuid::Uuid::try_parse(token).ok().map(|u| ("", u)))?;
        let idx = *self.payer_by_id.get(&id)?;
        token_kind_matches(token, &self.payers[idx].token).then_some(idx)
    }

    /// A country by its alpha-3 (or alpha-2) code, any case.
    pub fn country(&self, code: &str) -> Option<&Country> {
        self.countries.iter().find(|c| {
            c.three_letter_code.eq_ignore_ascii_case(code) || c.code.eq_ignore_ascii_case(code)
        })
    }

    /// The rate from `source` to `destination` at this payer: its own, else the global table,
    /// else 1 for the same currency.
    pub fn rate(&self, pricing: &Pricing, destination: &str) -> Option<Decimal> {
        pricing
            .rates
            .get(destination)
            .or_else(|| {
                self.rates
                    .get(&pricing.source_currency)
                    .and_then(|m| m.get(destination))
            })
            .copied()
            .or_else(|| (&*pricing.source_currency == destination).then_some(Decimal::ONE))
    }

    pub fn requirement_by_token(&self, token: &str) -> Option<usize> {
        if let Some(i) = self.requirement_by_token.get(token) {
            return Some(*i);
        }
        // Also accept the bare UUID (the SDK example stores values by bare UUID).
        let id = uuid::Uuid::try_parse(token).ok()?;
        self.requirements.iter().position(|r| {
            crate::domain::token::split_fixture_token(&r.token).map(|(_, u)| u) == Some(id)
        })
    }
}

/// A token given with a prefix must carry the fixture token's prefix; a bare UUID is fine.
fn token_kind_matches(given: &str, fixture: &str) -> bool {
    given.len() == 36 || given == fixture
}
