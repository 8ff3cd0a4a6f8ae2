//! The catalog: countries, and companies → services → payers priced for a query; `/cheapest`
//! (and the seed's `/best`) keep the cheapest payer per delivery type and destination currency.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::*;
use rust_decimal::Decimal;
use serde_json::Value;

/// Every MEX offer for USD, whatever its limits: the union of listings at amounts that every
/// payer's limits include at least one of.
async fn mex_universe(app: &TestApp) -> Vec<Offer> {
    let mut all: Vec<Offer> = Vec::new();
    for amount in ["1", "10", "200", "1000", "3000", "10000", "25000"] {
        for o in app.offers(&format!("/country/MEX?amount={amount}")).await {
            if !all.contains(&o) {
                all.push(o);
            }
        }
    }
    all
}

fn tokens(offers: &[Offer]) -> BTreeSet<(String, String)> {
    offers
        .iter()
        .map(|o| (o.token.clone(), o.currency.clone()))
        .collect()
}

/// The answer without `estimated_availability` (it is "now + delay", so it moves with time).
fn without_availability(mut v: Value) -> Value {
    for c in v["companies"].as_array_mut().expect("companies") {
        for s in c["services"].as_array_mut().expect("services") {
            for p in s["payers"].as_array_mut().expect("payers") {
                p.as_object_mut().unwrap().remove("estimated_availability");
            }
        }
    }
    v
}

#[tokio::test]
async fn the_country_list_has_codes_names_and_alpha_3_codes() {
    let app = TestApp::spawn().await;
    let a = app.get("/country/list").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let countries = a.body.as_array().expect("a bare JSON array");
    assert!(countries.len() >= 10, "{}", a.text);
    for c in countries {
        for field in ["code", "name", "three_letter_code"] {
            assert!(
                c[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} missing in {c}"
            );
        }
        let alpha3 = c["three_letter_code"].as_str().unwrap();
        assert!(
            alpha3.len() == 3 && alpha3.bytes().all(|b| b.is_ascii_uppercase()),
            "{alpha3}"
        );
    }
    assert!(countries
        .iter()
        .any(|c| c["three_letter_code"] == "MEX" && c["name"] == "Mexico"));
}

#[tokio::test]
async fn mexico_offers_all_four_delivery_types() {
    let app = TestApp::spawn().await;
    let a = app.get("/country/MEX").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let resp = companies(&a.text);
    let mut types = BTreeSet::new();
    for c in &resp.companies {
        assert!(!c.company_name.is_empty());
        for s in &c.services {
            assert_eq!(s.country_code, "MEX");
            assert!(!s.payers.is_empty());
            types.insert(s.delivery_type.as_str());
        }
    }
    for t in [
        "CRYPTOCURRENCY",
        "BANK_DEPOSIT",
        "MOBILE_WALLET",
        "CASH_PICKUP",
    ] {
        assert!(types.contains(t), "{t} missing: {types:?}");
    }
    // Every payer names a destination token and prices at least one currency.
    for o in app.offers("/country/MEX").await {
        assert!(o.token.starts_with("dst_"), "{o:?}");
        assert!(o.rate > Decimal::ZERO, "{o:?}");
        assert_eq!(o.source_amount, None, "no limit given: {o:?}");
    }
}

#[tokio::test]
async fn best_is_the_same_as_cheapest() {
    let app = TestApp::spawn().await;
    for query in [
        "",
        "?amount=1000",
        "?amount=50&source_currency=USD",
        "?limit=100",
    ] {
        let cheapest = app.get(&format!("/country/MEX/cheapest{query}")).await;
        let best = app.get(&format!("/country/MEX/best{query}")).await;
        assert_eq!(cheapest.status, 200, "{}", cheapest.text);
        assert_eq!(best.status, 200, "{}", best.text);
        assert_eq!(
            without_availability(best.body),
            without_availability(cheapest.body),
            "{query}"
        );
    }
}

#[tokio::test]
async fn cheapest_keeps_one_payer_per_delivery_type_and_currency_the_cheapest() {
    let app = TestApp::spawn().await;
    for amount in ["50", "200", "1000", "2800"] {
        let amt = dec(amount);
        let all = app.offers(&format!("/country/MEX?amount={amount}")).await;
        let cheapest = app
            .offers(&format!("/country/MEX/cheapest?amount={amount}"))
            .await;

        let mut groups: BTreeMap<(String, String), Vec<&Offer>> = BTreeMap::new();
        for o in &all {
            groups
                .entry((o.delivery_type.clone(), o.currency.clone()))
                .or_default()
                .push(o);
        }
        let mut kept: BTreeMap<(String, String), Vec<&Offer>> = BTreeMap::new();
        for o in &cheapest {
            kept.entry((o.delivery_type.clone(), o.currency.clone()))
                .or_default()
                .push(o);
        }
        assert_eq!(
            kept.keys().collect::<Vec<_>>(),
            groups.keys().collect::<Vec<_>>(),
            "amount {amount}: every (delivery type, currency) keeps a payer"
        );
        for (key, candidates) in &groups {
            let chosen = &kept[key];
            assert_eq!(chosen.len(), 1, "amount {amount} {key:?}: {chosen:?}");
            let best_value = candidates.iter().map(|o| o.value_for(amt)).max().unwrap();
            assert_eq!(
                chosen[0].value_for(amt),
                best_value,
                "amount {amount} {key:?}: kept {} but the candidates were {candidates:?}",
                chosen[0].payer_name
            );
            // The kept payer is shown with the same price as in the full listing.
            assert!(candidates.contains(&chosen[0]), "{:?}", chosen[0]);
        }
    }
}

#[tokio::test]
async fn cheapest_really_drops_the_dearer_payers() {
    // MEX has three bank-deposit payers paying MXN; only one may stay.
    let app = TestApp::spawn().await;
    let all = app.offers("/country/MEX").await;
    let bank: Vec<&Offer> = all
        .iter()
        .filter(|o| o.delivery_type == "BANK_DEPOSIT" && o.currency == "MXN")
        .collect();
    assert!(bank.len() >= 2, "{bank:?}");
    let cheapest = app.offers("/country/MEX/cheapest").await;
    let kept = cheapest
        .iter()
        .filter(|o| o.delivery_type == "BANK_DEPOSIT" && o.currency == "MXN")
        .count();
    assert_eq!(kept, 1);
    assert!(cheapest.len() < all.len());
}

#[tokio::test]
async fn source_currency_prices_the_catalog_in_that_currency() {
    let app = TestApp::spawn().await;
    let btc = app
        .offers("/country/MEX?source_currency=BTC&amount=0.5")
        .await;
    assert_eq!(
        tokens(&btc),
        BTreeSet::from([(BTC_DESTINATION.to_string(), "BTC".to_string())]),
        "{btc:?}"
    );
    assert_eq!(btc[0].rate, dec("1"));
    assert_eq!(btc[0].fee, dec("0.00002"));

    // USD is the default when only an amount is given.
    let default = app.offers("/country/MEX?amount=300").await;
    let usd = app
        .offers("/country/MEX?amount=300&source_currency=USD")
        .await;
    assert_eq!(default, usd);
    assert_ne!(tokens(&usd), tokens(&btc));
}

#[tokio::test]
async fn amount_keeps_only_payers_whose_limits_include_it() {
    let app = TestApp::spawn().await;
    let universe = mex_universe(&app).await;
    for amount in ["3", "7", "200", "1600", "2600", "4000", "12000", "30000"] {
        let amt = dec(amount);
        let listed = app.offers(&format!("/country/MEX?amount={amount}")).await;
        let expected: Vec<Offer> = universe
            .iter()
            .filter(|o| o.accepts(amt))
            .cloned()
            .collect();
        assert_eq!(tokens(&listed), tokens(&expected), "amount {amount}");
    }
    // The listing really changes with the amount.
    let small = app.offers("/country/MEX?amount=1000").await;
    let large = app.offers("/country/MEX?amount=4000").await;
    assert!(tokens(&large).len() < tokens(&small).len());
}

#[tokio::test]
async fn limit_gives_each_payer_the_source_amount_that_fits_with_its_fee() {
    let app = TestApp::spawn().await;
    let universe = mex_universe(&app).await;
    for limit in ["8", "100", "20000"] {
        let cap = dec(limit);
        let listed = app.offers(&format!("/country/MEX?limit={limit}")).await;
        let mut expected = BTreeSet::new();
        for o in &universe {
            let mut s = cap - o.fee;
            if !o.max_limit.is_zero() && s > o.max_limit {
                s = o.max_limit;
            }
            if s > Decimal::ZERO && s >= o.min_limit {
                expected.insert((o.token.clone(), o.currency.clone()));
            }
        }
        assert_eq!(tokens(&listed), expected, "limit {limit}");
        for o in &listed {
            let s = o
                .source_amount
                .unwrap_or_else(|| panic!("limit {limit}: no source_amount on {o:?}"));
            assert!(s + o.fee <= cap, "limit {limit}: {o:?}");
            assert!(o.accepts(s), "limit {limit}: {o:?}");
            if o.max_limit.is_zero() || cap - o.fee <= o.max_limit {
                assert_eq!(s, cap - o.fee, "limit {limit}: {o:?}");
            } else {
                assert_eq!(s, o.max_limit, "limit {limit}: {o:?}");
            }
        }
    }
}

#[tokio::test]
async fn destination_currency_keeps_only_payers_paying_it() {
    let app = TestApp::spawn().await;
    let usdt = app.offers("/country/MEX?destination_currency=USDT").await;
    assert!(!usdt.is_empty());
    assert!(usdt.iter().all(|o| o.currency == "USDT"), "{usdt:?}");
    assert!(usdt.iter().any(|o| o.token == STABLECOIN_DESTINATION));

    let mxn = app
        .offers("/country/MEX/cheapest?destination_currency=MXN")
        .await;
    assert!(!mxn.is_empty());
    assert!(mxn.iter().all(|o| o.currency == "MXN"), "{mxn:?}");
}

#[tokio::test]
async fn payer_name_keeps_only_that_payer() {
    let app = TestApp::spawn().await;
    let elektra = app.offers("/country/MEX?payer_name=Elektra").await;
    assert!(!elektra.is_empty());
    assert!(
        elektra.iter().all(|o| o.payer_name == "Elektra"),
        "{elektra:?}"
    );
    let none = app
        .offers("/country/MEX?payer_name=No%20Such%20Payer")
        .await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn bad_catalog_parameters_are_400() {
    let app = TestApp::spawn().await;
    for query in [
        "?amount=abc",
        "?amount=-5",
        "?amount=0",
        "?amount=1,000",
        "?limit=abc",
        "?source_currency=XYZ",
    ] {
        let a = app.get(&format!("/country/MEX{query}")).await;
        assert_eq!(a.status, 400, "{query}: {}", a.text);
        assert_error(&a, 400);
        let a = app.get(&format!("/country/MEX/cheapest{query}")).await;
        assert_eq!(a.status, 400, "cheapest{query}: {}", a.text);
    }
}

#[tokio::test]
async fn an_unknown_but_well_formed_country_has_no_companies() {
    let app = TestApp::spawn().await;
    for path in ["/country/FRA", "/country/ZZZ", "/country/FRA/cheapest"] {
        let a = app.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.body, serde_json::json!({"companies": []}), "{path}");
    }
    for bad in ["M3X", "MEXICO"] {
        let a = app.get(&format!("/country/{bad}")).await;
        assert_error(&a, 400);
    }
}

#[tokio::test]
async fn logos_are_included_only_on_request() {
    let app = TestApp::spawn().await;
    let plain = companies(&app.get("/country/MEX").await.text);
    for c in &plain.companies {
        assert_eq!(c.company_logo, "", "{}", c.company_name);
        for p in c.services.iter().flat_map(|s| &s.payers) {
            assert_eq!(p.payer_logo, "", "{}", p.payer_name);
        }
    }
    let a = app.get("/country/MEX?include_payer_logos=true").await;
    let with = companies(&a.text);
    for c in &with.companies {
        assert!(!c.company_logo.is_empty(), "{}", c.company_name);
        for p in c.services.iter().flat_map(|s| &s.payers) {
            assert!(!p.payer_logo.is_empty(), "{}", p.payer_name);
        }
    }
}
