//! `GET /_sandbox/scenarios` (admin API, same auth): every scenario the sandbox knows, shipped and
//! loaded from `--scenarios DIR`, with its description and whether `--scenario` made it global.
//! The dashboard lists these to arm them.

use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const SHIPPED: &[&str] = &[
    "additional_attributes",
    "expired_rate",
    "insufficient_funds",
    "payout_failure",
    "rate_limited",
    "server_error",
    "slow",
    "webhook_dropped",
    "webhook_late",
];

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|s| s["name"].as_str().expect("a name"))
        .collect()
}

#[tokio::test]
async fn scenarios_lists_the_shipped_ones_with_their_descriptions() {
    let app = TestApp::spawn().await;
    let a = app.get("/_sandbox/scenarios").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(names(&a.body), SHIPPED, "{}", a.text);
    let nsf = &a.body[2];
    assert_eq!(nsf["global"], false, "{}", a.text);
    assert!(
        nsf["description"]
            .as_str()
            .is_some_and(|d| d.contains("nsf")),
        "{nsf}"
    );
    // Listing arms nothing.
    let state = app.get("/_sandbox/state").await;
    assert_eq!(state.body["scenarios"], json!([]), "{}", state.text);
}

#[tokio::test]
async fn scenarios_lists_loaded_files_too_and_marks_the_flags_ones_global() {
    let dir = std::env::temp_dir().join(format!("masspay-ui-scenarios-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("payer_offline.json"),
        r#"{"description":"Commits fail: the payer is offline.",
            "rules":[{"when":{"operation":"commitPayoutTxn"},"then":{"commit_status":"failure"}}]}"#,
    )
    .unwrap();
    let app = TestApp::spawn_with(Sandbox::builder().scenarios_dir(&dir).scenario("slow")).await;
    let _ = std::fs::remove_dir_all(&dir);

    let a = app.get("/_sandbox/scenarios").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let list = a.body.as_array().unwrap();
    let mut expected: Vec<&str> = SHIPPED.to_vec();
    expected.push("payer_offline");
    expected.sort_unstable();
    assert_eq!(names(&a.body), expected, "{}", a.text);
    let mine = list.iter().find(|s| s["name"] == "payer_offline").unwrap();
    assert_eq!(
        mine["description"], "Commits fail: the payer is offline.",
        "{mine}"
    );
    for s in list {
        assert_eq!(s["global"], s["name"] == "slow", "{s}");
    }
}

#[tokio::test]
async fn scenarios_needs_a_key_like_every_admin_call() {
    let app = TestApp::spawn_with(Sandbox::builder().api_key("only-this-key")).await;
    let a = app
        .send_as("", Method::GET, "/_sandbox/scenarios", None)
        .await;
    assert_error(&a, 401);
    let a = app
        .send_as("Bearer wrong-key", Method::GET, "/_sandbox/scenarios", None)
        .await;
    assert_error(&a, 401);
    let a = app
        .send_as(
            "Bearer only-this-key",
            Method::GET,
            "/_sandbox/scenarios",
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}
