//! Catalog offers: each payer priced for a query (source currency, amount, `limit`, payer name,
//! destination currency), and the cheapest per delivery type and destination currency — what
//! `/country/{code}`, `/cheapest` (`/best`) and the single-destination calls show.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::catalog::{Catalog, DeliveryType};

/// A catalog query, parsed.
#[derive(Clone, Copy, Debug, Default)]
pub struct OfferQuery<'a> {
    pub source_currency: &'a str,
    /// The amount the client gave: it filters payers by their limits (and ranks offers).
    pub amount: Option<Decimal>,
    /// A cap on source amount + fee: each offer shows the most it can send within it.
    pub limit: Option<Decimal>,
    /// A case-insensitive part of the payer's name.
    pub payer_name: Option<&'a str>,
    pub destination_currency: Option<&'a str>,
}

/// The amount offers are ranked for when the client gave none (in the source currency). It does
/// not filter payers by their limits: a default must not hide a BTC payer.
const DEFAULT_AMOUNT: u32 = 200;

/// Every payer of a country's companies priced for the query; with `cheapest_only`, only the
/// cheapest per delivery type and destination currency ([`keep_cheapest`]).
pub fn offers(
    catalog: &Catalog,
    country: &str,
    q: &OfferQuery<'_>,
    cheapest_only: bool,
) -> Vec<Offer> {
    let mut offers: Vec<Offer> = Vec::new();
    for company in catalog.companies.iter().filter(|c| c.country == country) {
        for service in &company.services {
            for &pi in &service.payers {
                if let Some(o) = offer(
                    catalog,
                    pi,
                    q.source_currency,
                    q.amount,
                    q.limit,
                    q.payer_name,
                    q.destination_currency,
                ) {
                    offers.push(o);
                }
            }
        }
    }
    if cheapest_only {
        let amount = q.amount.unwrap_or(Decimal::from(DEFAULT_AMOUNT));
        offers = keep_cheapest(catalog, offers, amount);
    }
    offers
}

/// One payer offer priced for the query.
pub struct Offer {
    pub payer: usize,
    /// (destination currency index, rate)
    pub rates: Vec<(usize, Decimal)>,
    pub fee: Decimal,
    pub min_limit: Decimal,
    pub max_limit: Decimal,
    pub source_amount: Option<Decimal>,
}

fn offer(
    catalog: &Catalog,
    pi: usize,
    source_currency: &str,
    amount: Option<Decimal>,
    limit: Option<Decimal>,
    payer_name: Option<&str>,
    destination_currency: Option<&str>,
) -> Option<Offer> {
    let payer = &catalog.payers[pi];
    let pricing = payer.pricing_for(source_currency)?;
    if let Some(name) = payer_name {
        if !payer.name.to_lowercase().contains(&name.to_lowercase()) {
            return None;
        }
    }
    let rates: Vec<(usize, Decimal)> = payer
        .currencies
        .iter()
        .enumerate()
        .filter(|(_, c)| destination_currency.is_none_or(|d| c.code.eq_ignore_ascii_case(d)))
        .filter_map(|(i, c)| catalog.rate(pricing, &c.code).map(|r| (i, r)))
        .collect();
    if rates.is_empty() {
        return None;
    }
    let source_amount = match limit {
        Some(limit) => {
            let sp = catalog.precision_of(source_currency);
            // A fee the limit cannot pay leaves nothing to send: no offer.
            let mut s = limit
                .checked_sub(pricing.fee)?
                .round_dp_with_strategy(sp, rust_decimal::RoundingStrategy::ToZero);
            if !pricing.max_limit.is_zero() && s > pricing.max_limit {
                s = pricing.max_limit;
            }
            if s <= Decimal::ZERO || s < pricing.min_limit {
                return None;
            }
            Some(s)
        }
        None => {
            if amount.is_some_and(|a| !pricing.accepts(a)) {
                return None;
            }
            None
        }
    };
    Some(Offer {
        payer: pi,
        rates,
        fee: pricing.fee,
        min_limit: pricing.min_limit,
        max_limit: pricing.max_limit,
        source_amount,
    })
}

/// Keeps, per delivery type and destination currency, the payer that delivers the most per unit
/// paid (amount × rate ÷ (amount + fee)); ties go to the lower fee, then catalog order. Checked
/// arithmetic: an offer whose value does not fit the decimal type is worth 0 here (query amounts
/// are at most `limits::MAX_AMOUNT`, so only an extreme fixture rate gets there).
pub fn keep_cheapest(catalog: &Catalog, offers: Vec<Offer>, amount: Decimal) -> Vec<Offer> {
    let mut best: HashMap<(DeliveryType, &str), (Decimal, Decimal, usize)> = HashMap::new();
    for (oi, o) in offers.iter().enumerate() {
        let payer = &catalog.payers[o.payer];
        let sent = o.source_amount.unwrap_or(amount);
        for &(ci, rate) in &o.rates {
            let value = sent
                .checked_mul(rate)
                .zip(sent.checked_add(o.fee))
                .and_then(|(delivered, paid)| delivered.checked_div(paid))
                .unwrap_or_default();
            let key = (payer.delivery_type, &*payer.currencies[ci].code);
            let better = match best.get(&key) {
                None => true,
                Some(&(v, fee, _)) => value > v || (value == v && o.fee < fee),
            };
            if better {
                best.insert(key, (value, o.fee, oi));
            }
        }
    }
    offers
        .into_iter()
        .enumerate()
        .filter_map(|(oi, mut o)| {
            let payer = &catalog.payers[o.payer];
            o.rates.retain(|&(ci, _)| {
                best.get(&(payer.delivery_type, &*payer.currencies[ci].code))
                    .map(|b| b.2)
                    == Some(oi)
            });
            (!o.rates.is_empty()).then_some(o)
        })
        .collect()
}

/// A payer priced in USD when it takes USD, else in its first source currency.
pub fn default_offer(catalog: &Catalog, pi: usize) -> Option<Offer> {
    let payer = &catalog.payers[pi];
    let source = payer
        .pricing_for("USD")
        .or_else(|| payer.pricing.first())
        .map(|p| p.source_currency.to_string())?;
    offer(catalog, pi, &source, None, None, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        crate::fixtures::load(crate::fixtures::Source::Embedded).expect("fixtures")
    }

    fn value(o: &Offer, rate: Decimal, amount: Decimal) -> Decimal {
        let sent = o.source_amount.unwrap_or(amount);
        sent * rate / (sent + o.fee)
    }

    #[test]
    fn cheapest_keeps_the_best_value_per_delivery_type_and_currency() {
        let c = catalog();
        let amount = Decimal::from(200);
        let q = OfferQuery {
            source_currency: "USD",
            amount: Some(amount),
            ..Default::default()
        };
        for country in c.countries.iter().map(|x| x.three_letter_code.as_str()) {
            let all = offers(&c, country, &q, false);
            let best = offers(&c, country, &q, true);
            let mut seen = std::collections::HashSet::new();
            for o in &best {
                let payer = &c.payers[o.payer];
                for &(ci, rate) in &o.rates {
                    let key = (payer.delivery_type, payer.currencies[ci].code.to_string());
                    assert!(
                        seen.insert(key.clone()),
                        "{country}: two offers for {key:?}"
                    );
                    let v = value(o, rate, amount);
                    for other in &all {
                        let op = &c.payers[other.payer];
                        for &(oci, orate) in &other.rates {
                            if (op.delivery_type, op.currencies[oci].code.to_string()) == key {
                                assert!(value(other, orate, amount) <= v, "{country} {key:?}");
                            }
                        }
                    }
                }
            }
            // Every (delivery type, currency) offered at all keeps one offer.
            let mut offered = std::collections::HashSet::new();
            for o in &all {
                let p = &c.payers[o.payer];
                for &(ci, _) in &o.rates {
                    offered.insert((p.delivery_type, p.currencies[ci].code.to_string()));
                }
            }
            assert_eq!(offered, seen, "{country}");
        }
    }

    #[test]
    fn a_limit_caps_source_plus_fee_and_a_name_filters_payers() {
        let c = catalog();
        let limit = Decimal::from(150);
        let q = OfferQuery {
            source_currency: "USD",
            limit: Some(limit),
            ..Default::default()
        };
        let capped = offers(&c, "MEX", &q, false);
        assert!(!capped.is_empty());
        for o in &capped {
            let s = o
                .source_amount
                .expect("a limit gives each offer its source amount");
            assert!(s + o.fee <= limit, "{s} + {} > {limit}", o.fee);
        }
        let any = offers(
            &c,
            "MEX",
            &OfferQuery {
                source_currency: "USD",
                ..Default::default()
            },
            false,
        );
        let name = c.payers[any[0].payer].name.to_uppercase();
        let named = offers(
            &c,
            "MEX",
            &OfferQuery {
                source_currency: "USD",
                payer_name: Some(&name),
                ..Default::default()
            },
            false,
        );
        assert!(!named.is_empty());
        assert!(named
            .iter()
            .all(|o| c.payers[o.payer].name.to_uppercase().contains(&name)));
    }
}
