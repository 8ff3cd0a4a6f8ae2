//! Attribute values (payee account details per destination): merging a POST into the stored set
//! and checking every value against its requirement as a whole-string match.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::catalog::Catalog;
use super::Problems;
use crate::domain::error::SimError;

/// The values stored for one (user, destination, currency): an attribute set.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AttrSet {
    pub id: Uuid,
    /// (requirement index, value), at most one per requirement.
    pub values: Vec<(usize, Box<str>)>,
}

impl AttrSet {
    pub fn value(&self, requirement: usize) -> Option<&str> {
        self.values
            .iter()
            .find(|(r, _)| *r == requirement)
            .map(|(_, v)| &**v)
    }
}

/// `AttrTxn` as sent.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttrTxnBody {
    pub values: Option<Vec<AttrValueBody>>,
    pub attr_set_token: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttrValueBody {
    pub token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub value: Option<Value>,
}

/// Merges `given` into `stored` (a blank value clears an attribute) and checks the result against
/// `requirements`: every required attribute has a value, every value matches its regex as a
/// whole string. Returns the merged values, or a 400 listing every failing attribute by label.
pub fn merge_and_validate(
    catalog: &Catalog,
    requirements: &[usize],
    stored: Option<&AttrSet>,
    given: Vec<AttrValueBody>,
) -> Result<Vec<(usize, Box<str>)>, SimError> {
    let mut p = Problems::new();
    let mut merged: Vec<(usize, Box<str>)> = stored.map(|s| s.values.clone()).unwrap_or_default();
    let mut seen = Vec::new();
    for (i, item) in given.into_iter().enumerate() {
        let Some(token) = item.token.filter(|t| !t.is_empty()) else {
            p.push(format!("values[{i}].token is required"));
            continue;
        };
        let value = match item.value {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | None => {
                p.push(format!("values[{i}].value is required"));
                continue;
            }
            Some(_) => {
                p.push(format!("values[{i}].value must be a string"));
                continue;
            }
        };
        let req = catalog
            .requirement_by_token(&token)
            .filter(|r| requirements.contains(r));
        let Some(req) = req else {
            p.push(format!(
                "values[{i}].token {token:?} is not an attribute of this destination and currency"
            ));
            continue;
        };
        if seen.contains(&req) {
            p.push(format!(
                "{}: given more than once",
                catalog.requirements[req].label
            ));
            continue;
        }
        seen.push(req);
        merged.retain(|(r, _)| *r != req);
        if !value.is_empty() {
            merged.push((req, value.into_boxed_str()));
        }
    }
    for &req in requirements {
        let r = &catalog.requirements[req];
        match merged.iter().find(|(x, _)| *x == req) {
            Some((_, v)) if !r.accepts(v) => p.push(format!(
                "{}: value does not match the required format {} ({})",
                r.label, r.validation, r.expected_value
            )),
            Some(_) => {}
            None if !r.is_optional => p.push(format!("{}: a value is required", r.label)),
            None => {}
        }
    }
    merged.sort_by_key(|(r, _)| *r);
    p.finish("attributes", merged)
}

/// Labels of the required attributes that have no value in `stored`. A stored value was
/// validated against its requirement when it was stored (see [`validate`]) and requirements
/// never change, so a value that is there is a valid one: no regex runs on the payout path.
pub fn missing(
    catalog: &Catalog,
    requirements: impl IntoIterator<Item = usize>,
    stored: Option<&AttrSet>,
) -> Vec<String> {
    requirements
        .into_iter()
        .filter_map(|req| {
            let r = &catalog.requirements[req];
            let ok = stored.is_some_and(|s| s.value(req).is_some()) || r.is_optional;
            (!ok).then(|| r.label.clone())
        })
        .collect()
}
