//! The operation registry walked end to end: every operation the sandbox registers, at every
//! path it is served at, is reached by a scenario fault and listed in `/openapi.json`; scenario
//! files accept every id the document shows and the SDKs' ids.

use masspay_sandbox::api::registry;
use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn openapi(app: &TestApp) -> Value {
    let url = format!("{}/openapi.json", app.sandbox.base_url());
    app.get(&url).await.body
}

/// A concrete path for a route template: each `{param}` filled with a plausible value.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{user_token}" => "usr_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a",
            "{payout_token}" => "payout_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a",
            "{wallet_token}" => "usr_wlt_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a",
            "{destination_token}" => "dst_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a",
            "{country_code}" => "MEX",
            "{currency}" => "BTC",
            s if s.starts_with('{') => "tok_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_registered_operation_meets_a_scenario_fault_at_every_path() {
    let app = TestApp::spawn().await;
    let mut checked = 0;
    for op in registry::operations() {
        for path in op.full_paths() {
            let url = app.full_url(&concrete(&path));
            let a = app
                .request(op.method.clone(), &url)
                .header("X-Sandbox-Scenario", "server_error")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = a.status().as_u16();
            let body: Value = a.json().await.unwrap_or(Value::Null);
            assert_eq!(
                status, 503,
                "{} {} {path} answered {status} {body}",
                op.id, op.method
            );
            assert_eq!(body["code"], 503, "{} {path}: {body}", op.id);
            checked += 1;
        }
    }
    // 39 operations under five 0.1.x prefixes and 47 under 1.0.0 today; fewer means routes got lost.
    assert!(checked >= 242, "only {checked} routes walked");
}

#[tokio::test]
async fn the_1_0_0_autopayout_operations_meet_scenarios_like_every_other() {
    let app = TestApp::spawn().await;
    let path = "/v1.0.0/payout/wallet/usr_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a/usr_wlt_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a/autopayout";
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let a = app
            .request(method.clone(), path)
            .header("X-Sandbox-Scenario", "server_error")
            .send()
            .await
            .unwrap();
        assert_eq!(a.status().as_u16(), 503, "{method} {path}");
    }
}

#[tokio::test]
async fn openapi_lists_every_registered_operation_under_its_id() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for op in registry::operations() {
        let method = op.method.as_str().to_ascii_lowercase();
        for (prefix, path, id) in [
            ("/v0.1.4", op.v0, op.id.to_string()),
            ("/v1.0.0", op.v1, format!("{}V1", op.id)),
        ] {
            let Some(path) = path else { continue };
            let listed = &doc["paths"][format!("{prefix}{path}")][&method];
            assert_eq!(
                listed["operationId"], id,
                "{method} {prefix}{path} is not listed as {id}"
            );
        }
    }
}

/// Every admin call is routed (a key, an empty JSON body: never 404/405) and listed under its
/// id with the "Sandbox admin" tag; and nothing else under /_sandbox is listed.
#[tokio::test]
async fn every_admin_call_is_routed_and_listed() {
    use masspay_sandbox::admin::doc::OPERATIONS;
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for op in OPERATIONS {
        let path = op
            .path
            .replace("{id}", "whk_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a")
            .replace("{name}", "no-such-snapshot");
        let body = op.body.then(|| json!({}));
        let a = app.send(op.method.clone(), &path, body).await;
        assert!(
            a.status != 404 || op.path.contains('{'),
            "{} {path} is not routed: {}",
            op.method,
            a.text
        );
        assert_ne!(a.status, 405, "{} {path}: {}", op.method, a.text);
        let listed = &doc["paths"][op.path][op.method.as_str().to_ascii_lowercase()];
        assert_eq!(listed["operationId"], op.id, "{} {}", op.method, op.path);
        assert_eq!(listed["tags"][0], "Sandbox admin");
    }
    let admin_paths = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/_sandbox"))
        .count();
    let declared: std::collections::HashSet<&str> = OPERATIONS.iter().map(|o| o.path).collect();
    assert_eq!(admin_paths, declared.len());
}

/// Every operation id `/openapi.json` shows, and the ids of the official SDKs of both API
/// versions (masspay-js-sdk 1.0.0 and 2.0.0), as a scenario file may name them.
fn ids_a_scenario_may_name(doc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter(|op| op["tags"][0] != "Sandbox admin")
        .filter_map(|op| op["operationId"].as_str().map(String::from))
        .collect();
    for sdk in [
        "getAutopayoutRules",
        "createAutopayoutRule",
        "deleteAutopayoutRule",
        "getSubaccountSubaccountTokenUbo",
        "getUserUserTokenKycAu10Tix",
        "getCheapestCountryServices",
        "resendLoadNotification",
    ] {
        ids.push(sdk.to_string());
    }
    ids
}

#[tokio::test]
async fn scenario_files_accept_every_documented_and_sdk_operation_id() {
    let doc = openapi(&TestApp::spawn().await).await;
    let ids = ids_a_scenario_may_name(&doc);
    assert!(ids.contains(&"getBestCountryServices".to_string()));
    let dir = std::env::temp_dir().join(format!("registry-ids-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    // One file per id: a refused id names its own file.
    for (i, id) in ids.iter().enumerate() {
        let file = json!({"description": id, "rules": [
            {"when": {"operation": id}, "then": {"http_status": 500}}
        ]});
        std::fs::write(dir.join(format!("op{i}.json")), file.to_string()).unwrap();
    }
    let started = Sandbox::builder().scenarios_dir(&dir).start().await;
    assert!(
        started.is_ok(),
        "refused: {:?}",
        started.err().map(|e| e.to_string())
    );
    let app = TestApp::with(started.unwrap());

    // The documented id of `/best` reaches `/best`; the SDK's `cheapest` id reaches both.
    let best = ids
        .iter()
        .position(|i| i == "getBestCountryServices")
        .unwrap();
    let cheapest = ids
        .iter()
        .position(|i| i == "getCheapestCountryServices")
        .unwrap();
    let get = |path: &'static str, scenario: String| {
        let app = &app;
        async move {
            app.request(Method::GET, path)
                .header("X-Sandbox-Scenario", scenario)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("/country/MEX/best", format!("op{best}")).await, 500);
    assert_eq!(get("/country/MEX/cheapest", format!("op{best}")).await, 200);
    assert_eq!(get("/country/MEX/best", format!("op{cheapest}")).await, 500);
    assert_eq!(
        get("/country/MEX/cheapest", format!("op{cheapest}")).await,
        500
    );
    // A 1.0.0 SDK's renamed id reaches its operation.
    let rules = ids.iter().position(|i| i == "getAutopayoutRules").unwrap();
    let path = "/v1.0.0/payout/wallet/usr_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a/usr_wlt_3b3d5e2e-8c3b-4a3c-9a0e-8b5f0f1d2c3a/autopayout";
    assert_eq!(get(path, format!("op{rules}")).await, 500);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn an_unknown_operation_id_is_refused_at_start_naming_it() {
    let dir = std::env::temp_dir().join(format!("registry-bad-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("typo.json"),
        json!({"rules": [{"when": {"operation": "comitPayoutTxn"}, "then": {"http_status": 500}}]})
            .to_string(),
    )
    .unwrap();
    let err = Sandbox::builder()
        .scenarios_dir(&dir)
        .start()
        .await
        .err()
        .expect("a typo is refused")
        .to_string();
    assert!(err.contains("comitPayoutTxn"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
