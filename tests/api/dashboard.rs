//! The dashboard (issue 15): its page and assets are served without a key, with their content
//! types and an ETag, while everything it shows still needs the key (`scenario_list.rs` tests the
//! one admin read it added). The page itself is tested in a real browser by `tests/ui/run.sh`.

use masspay_sandbox::Sandbox;
use reqwest::Method;

use crate::helpers::*;

/// `GET` without any `Authorization`, as a browser first loads the page.
async fn fetch(app: &TestApp, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.full_url(path));
    if let Some(tag) = etag {
        req = req.header("If-None-Match", tag);
    }
    req.send().await.expect("the sandbox answers")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn the_page_is_served_without_a_key_even_when_keys_are_restricted() {
    let app = TestApp::spawn_with(Sandbox::builder().api_key("only-this-key")).await;
    let r = fetch(&app, "/_sandbox/ui", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let csp = header(&r, "content-security-policy").to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/_sandbox/ui/app.js">"#),
        "{html}"
    );
    // No third-party host anywhere in the page.
    assert!(
        !html.contains("//cdn") && !html.contains("https://"),
        "{html}"
    );

    // A trailing slash is the same page (the edge collapses it).
    let r = fetch(&app, "/_sandbox/ui/", None).await;
    assert_eq!(r.status(), 200);

    // Its data still needs the key: a wrong one gets the API's 401.
    let a = app
        .send_as("Bearer wrong-key", Method::GET, "/_sandbox/state", None)
        .await;
    assert_error(&a, 401);
}

#[tokio::test]
async fn assets_have_their_content_types_and_answer_304_to_their_etag() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/_sandbox/ui/app.css", "text/css; charset=utf-8"),
        ("/_sandbox/ui/app.js", "text/javascript; charset=utf-8"),
        ("/_sandbox/ui/payouts.js", "text/javascript; charset=utf-8"),
    ] {
        let r = fetch(&app, path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        let etag = header(&r, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() == 18, "{path}: {etag}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");

        let again = fetch(&app, path, Some(&etag)).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag, "{path}");
        assert!(again.bytes().await.unwrap().is_empty(), "{path}");

        let stale = fetch(&app, path, Some("\"0000000000000000\"")).await;
        assert_eq!(stale.status(), 200, "{path}");
    }
    // Anything else under the page is an ordinary JSON 404, not a page.
    let r = fetch(&app, "/_sandbox/ui/nope.js", None).await;
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("application/json"));
}
