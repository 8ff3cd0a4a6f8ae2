//! MassPay operations by the official SDKs' operation ids, and the routes that serve them. A
//! scenario rule names the operations it applies to with these ids (or `*` for all).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::Method;

/// (operation id, method, path template without the version prefix).
pub const OPERATIONS: &[(&str, &str, &str)] = &[
    ("getAccountBalance", "GET", "/account/balance"),
    ("getAccountStatement", "GET", "/account/statement"),
    ("createUser", "POST", "/user"),
    ("getUserByToken", "GET", "/user/{user_token}"),
    ("updateUser", "PUT", "/user/{user_token}"),
    ("userLookup", "GET", "/user/lookup"),
    ("getUserHistory", "GET", "/user/{user_token}/history"),
    ("getCountryList", "GET", "/country/list"),
    ("getCountryServices", "GET", "/country/{country_code}"),
    (
        "getCheapestCountryServices",
        "GET",
        "/country/{country_code}/cheapest",
    ),
    (
        "getCheapestCountryServices",
        "GET",
        "/country/{country_code}/best",
    ),
    (
        "getDestinationTokenAlternatives",
        "GET",
        "/service/{destination_token}/alternatives",
    ),
    ("getUserAgreement", "GET", "/user-agreements"),
    ("getUserAgreementsNames", "OPTIONS", "/user-agreements"),
    (
        "getAttrs",
        "GET",
        "/attribute/{user_token}/{destination_token}/{currency}",
    ),
    (
        "storeAttrs",
        "POST",
        "/attribute/{user_token}/{destination_token}/{currency}",
    ),
    (
        "findAttributesVelocity",
        "POST",
        "/attribute/{user_token}/velocity",
    ),
    ("initiatePayout", "POST", "/payout/{user_token}"),
    ("getUserPayoutsByToken", "GET", "/payout/{user_token}"),
    (
        "commitPayoutTxn",
        "PUT",
        "/payout/{user_token}/{payout_token}",
    ),
    (
        "getPayoutStatus",
        "GET",
        "/payout/{user_token}/{payout_token}",
    ),
    (
        "getTransactionConfirmationDetails",
        "PATCH",
        "/payout/{user_token}/{payout_token}",
    ),
    ("loadUser", "POST", "/load/{user_token}"),
    ("getUserLoadsByToken", "GET", "/load/{user_token}"),
    ("resendLoadNotification", "PUT", "/load/{user_token}"),
    ("cancelUserLoad", "DELETE", "/load/{user_token}"),
    ("getWallet", "GET", "/wallet/{user_token}"),
    ("resendBalanceNotification", "PUT", "/wallet/{user_token}"),
    (
        "getAutopayRules",
        "GET",
        "/wallet/{user_token}/{wallet_token}/autopay",
    ),
    (
        "createAutopayRule",
        "POST",
        "/wallet/{user_token}/{wallet_token}/autopay",
    ),
    (
        "deleteAutopayRule",
        "DELETE",
        "/wallet/{user_token}/{wallet_token}/autopay",
    ),
    (
        "getWalletCardInfo",
        "GET",
        "/wallet/{user_token}/{wallet_token}/card",
    ),
    (
        "updateWalletCardInfo",
        "PUT",
        "/wallet/{user_token}/{wallet_token}/card",
    ),
    ("initiateSpendback", "POST", "/spendback/{user_token}"),
    ("getUserSpendbacksByToken", "GET", "/spendback/{user_token}"),
    (
        "getUserUserTokenKycAu10tix",
        "GET",
        "/user/{user_token}/kyc/au10tix",
    ),
    (
        "getUserUserTokenKycVeriff",
        "GET",
        "/user/{user_token}/kyc/veriff",
    ),
    ("uploadIdPhotos", "POST", "/user/{user_token}/kyc/id"),
    ("getTaxUsers", "GET", "/tax"),
    // API 1.0.0 additions.
    ("getAllAttrs", "GET", "/attribute/{user_token}"),
    ("getDestinationToken", "GET", "/service/{destination_token}"),
    (
        "getUserUserTokenKycAttempts",
        "GET",
        "/user/{user_token}/kyc/id",
    ),
    ("getAllUsersHistory", "GET", "/user/history"),
    ("getTaxInterviewLink", "GET", "/{user_token}/tax"),
    ("createSubaccount", "POST", "/subaccount"),
    (
        "addSubaccountUbo",
        "POST",
        "/subaccount/{subaccount_token}/ubo",
    ),
    (
        "uploadSubaccountUboId",
        "POST",
        "/subaccount/{subaccount_token}/ubo/{ubo_token}/id",
    ),
];

/// Is `name` an operation id a rule may name?
pub fn is_known(name: &str) -> bool {
    name == "*" || OPERATIONS.iter().any(|(id, _, _)| *id == name)
}

/// The operation id of a routed request, from its method and matched route (with or without a
/// version prefix, and with or without 1.0.0's `/payout` prefix).
pub fn identify(method: &Method, matched: &str) -> Option<&'static str> {
    let path = strip_version(matched);
    let find = |p: &str| {
        by_path()
            .get(p)?
            .iter()
            .find(|(m, _)| *m == method.as_str())
            .map(|(_, id)| *id)
    };
    find(path).or_else(|| path.strip_prefix("/payout").and_then(find))
}

/// [`OPERATIONS`] by path template (asked on every request: a hash lookup, not a scan).
fn by_path() -> &'static HashMap<&'static str, Vec<(&'static str, &'static str)>> {
    static INDEX: OnceLock<HashMap<&'static str, Vec<(&'static str, &'static str)>>> =
        OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
        for (id, method, template) in OPERATIONS {
            index.entry(template).or_default().push((method, id));
        }
        index
    })
}

fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(i) = rest.find('/') {
            return &rest[i..];
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_routes_of_every_version() {
        assert_eq!(
            identify(&Method::PUT, "/v0.1.4/payout/{user_token}/{payout_token}"),
            Some("commitPayoutTxn")
        );
        assert_eq!(
            identify(&Method::GET, "/v0.1.0/account/balance"),
            Some("getAccountBalance")
        );
        assert_eq!(
            identify(&Method::GET, "/v1.0.0/payout/account/balance"),
            Some("getAccountBalance")
        );
        assert_eq!(
            identify(&Method::POST, "/v1.0.0/payout/{user_token}"),
            Some("initiatePayout")
        );
        assert_eq!(identify(&Method::DELETE, "/v0.1.4/account/balance"), None);
    }
}
