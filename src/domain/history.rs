//! Transaction history (`GET /user/{user_token}/history`, and 1.0.0's all-users history): the
//! query's filters and paging, parsed once, applied to a user's transactions.

use chrono::NaiveDate;
use serde::Deserialize;

use super::Problems;
use crate::clock::Millis;
use crate::domain::error::SimError;

/// The history query as sent (the JS SDK sends its defaults explicitly).
#[derive(Deserialize, Default)]
pub struct HistoryQueryRaw {
    pub number_of_records: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub page: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub wallet_token: Option<String>,
    pub show_all_clients: Option<String>,
}

/// What a history item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnKind {
    Payout,
    Load,
    SpendBack,
}

impl TxnKind {
    /// The response's spelling (note "spend back" with a space).
    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::Payout => "payout",
            TxnKind::Load => "load",
            TxnKind::SpendBack => "spend back",
        }
    }
}

#[derive(Debug)]
pub struct HistoryQuery {
    pub per_page: usize,
    pub page: usize,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Empty = every kind.
    pub kinds: Vec<TxnKind>,
    pub wallet_token: Option<String>,
}

pub fn parse(raw: HistoryQueryRaw) -> Result<HistoryQuery, SimError> {
    let mut p = Problems::new();
    let number = |p: &mut Problems, name: &str, v: Option<String>, default: usize, max: usize| {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(t) => {
                match t.parse::<f64>() {
                    Ok(n) if n.fract() == 0.0 && n >= 1.0 && n <= max as f64 => n as usize,
                    _ => {
                        p.push(format!("query parameter {name} must be a whole number from 1 to {max}, not {t:?}"));
                        default
                    }
                }
            }
        }
    };
    let per_page = number(&mut p, "number_of_records", raw.number_of_records, 10, 1000);
    let page = number(&mut p, "page", raw.page, 1, 1_000_000);
    let date = |p: &mut Problems, name: &str, v: Option<String>| {
        let t = v.filter(|t| !t.trim().is_empty())?;
        match super::parse_date(t.trim()) {
            Some(d) => Some(d),
            None => {
                p.push(format!(
                    "query parameter {name} must be a date YYYY-MM-DD, not {t:?}"
                ));
                None
            }
        }
    };
    let from = date(&mut p, "start_date", raw.start_date);
    let to = date(&mut p, "end_date", raw.end_date);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            p.push("end_date is before start_date");
        }
    }
    let mut kinds = Vec::new();
    for k in raw
        .kind
        .iter()
        .flat_map(|k| k.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        match k.to_ascii_lowercase().as_str() {
            "payout" => kinds.push(TxnKind::Payout),
            "load" => kinds.push(TxnKind::Load),
            "spendback" | "spend back" => kinds.push(TxnKind::SpendBack),
            other => p.push(format!(
                "query parameter type: {other:?} is not payout, load or spendback"
            )),
        }
    }
    // Read (and refused when malformed) like every boolean query parameter; a client's only
    // client is itself, so its value changes nothing.
    if let Err(e) = super::parse_query_bool("show_all_clients", raw.show_all_clients.as_deref()) {
        p.push(e);
    }
    let wallet_token = raw.wallet_token.filter(|w| !w.trim().is_empty());
    p.finish(
        "history query",
        HistoryQuery {
            per_page,
            page,
            from,
            to,
            kinds,
            wallet_token,
        },
    )
}

impl HistoryQuery {
    /// Does an item of this kind, at this time, touching this wallet, pass the filters?
    pub fn keeps(&self, kind: TxnKind, at: Millis, wallet: Option<&str>) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return false;
        }
        let day = crate::clock::date(at);
        if self.from.is_some_and(|f| day < f) || self.to.is_some_and(|t| day > t) {
            return false;
        }
        match &self.wallet_token {
            Some(w) => wallet == Some(w.as_str()),
            None => true,
        }
    }

    /// The requested page of `items` (already sorted, newest first).
    pub fn page_of<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip((self.page - 1).saturating_mul(self.per_page))
            .take(self.per_page)
            .collect()
    }
}
