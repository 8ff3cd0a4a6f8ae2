//! Users (payees): create, get, update, lookup.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use masspay_sandbox::Sandbox;
use serde_json::{json, Value};

/// The reference's `UpdateUser` body for the seed user: the create body plus the fields
/// `UpdateUser` requires.
fn update_body(email: &str, status: &str) -> Value {
    let mut body = seed_user(email);
    body["status"] = json!(status);
    body
}

async fn create(app: &TestApp, body: Value) -> Answer {
    app.post("/user", body).await
}

#[tokio::test]
async fn create_returns_the_stored_user_with_a_fresh_token_active_status_and_created_on() {
    let app = TestApp::spawn().await;
    let a = create(&app, seed_user("jdoe@gmail.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let u = &a.body;
    let token = u["user_token"].as_str().unwrap();
    assert!(token.starts_with("usr_"), "{token}");
    assert_eq!(u["status"], "ACTIVE");
    let created = u["created_on"].as_str().unwrap();
    assert!(
        DateTime::parse_from_rfc3339(created).is_ok(),
        "created_on {created:?} is not ISO 8601 with a zone"
    );
    for (field, value) in seed_user("jdoe@gmail.com").as_object().unwrap() {
        if field == "middle_name" {
            continue; // "" may be echoed or omitted (optional)
        }
        assert_eq!(&u[field], value, "{field}: {}", a.text);
    }
    assert_eq!(u["timezone"], "America/Los_Angeles");

    let b = create(&app, seed_user("other@gmail.com")).await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_ne!(b.body["user_token"], u["user_token"]);
}

#[tokio::test]
async fn create_with_only_the_required_fields_works() {
    let app = TestApp::spawn().await;
    // The SDK example body.
    let a = create(
        &app,
        json!({"internal_user_id": "4324-rOzk", "country": "USA", "first_name": "John",
               "last_name": "Doe", "email": "jdoe@gmail.com"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "ACTIVE");
    assert_eq!(a.body["language"], "en");
    assert!(a.body["timezone"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn create_lists_every_missing_required_field_in_one_400() {
    let app = TestApp::spawn().await;
    let a = create(&app, json!({})).await;
    let details = assert_error(&a, 400);
    assert_mentions(
        &details,
        &[
            "internal_user_id",
            "country",
            "first_name",
            "last_name",
            "email",
        ],
    );

    // Blank counts as missing too.
    let a = create(
        &app,
        json!({"internal_user_id": " ", "country": "USA", "first_name": "", "last_name": "Doe",
               "email": "x@example.com"}),
    )
    .await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["internal_user_id", "first_name"]);
}

#[tokio::test]
async fn e_mail_is_unique_per_tenant() {
    let app = TestApp::spawn().await;
    let a = create(&app, seed_user("same@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut again = seed_user("same@example.com");
    again["internal_user_id"] = json!("another-id");
    again["first_name"] = json!("Jane");
    let a = create(&app, again).await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["email"]);

    // Another tenant may use it.
    let a = app
        .other_tenant()
        .post("/user", seed_user("same@example.com"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn mobile_number_must_be_digits_only() {
    let app = TestApp::spawn().await;
    for (i, bad) in ["+16502000226", "650-200-0226", "650 200 0226", "phone"]
        .into_iter()
        .enumerate()
    {
        let mut body = seed_user(&format!("m{i}@example.com"));
        body["mobile_number"] = json!(bad);
        let a = create(&app, body).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["mobile_number"]);
    }
}

#[tokio::test]
async fn date_of_birth_must_be_a_yyyy_mm_dd_date() {
    let app = TestApp::spawn().await;
    for (i, bad) in [
        "03/24/1975",
        "1975-3-24",
        "1975-02-30",
        "24-03-1975",
        "yesterday",
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = seed_user(&format!("d{i}@example.com"));
        body["date_of_birth"] = json!(bad);
        let a = create(&app, body).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["date_of_birth"]);
    }
}

#[tokio::test]
async fn users_must_be_at_least_18_on_the_tenant_clock() {
    let start: DateTime<Utc> = "2026-06-15T12:00:00Z".parse().unwrap();
    let app = TestApp::spawn_with(Sandbox::builder().start_time(start)).await;

    let mut eighteen_today = seed_user("adult@example.com");
    eighteen_today["date_of_birth"] = json!("2008-06-15");
    let a = create(&app, eighteen_today).await;
    assert_eq!(a.status, 200, "{}", a.text);

    let mut eighteen_tomorrow = seed_user("minor@example.com");
    eighteen_tomorrow["date_of_birth"] = json!("2008-06-16");
    let a = create(&app, eighteen_tomorrow.clone()).await;
    assert_mentions(&assert_error(&a, 400), &["date_of_birth"]);

    // A day later on the tenant's clock, the same person is 18.
    app.advance_clock(86_400).await;
    let a = create(&app, eighteen_tomorrow).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn country_must_be_an_upper_case_alpha_3_code() {
    let app = TestApp::spawn().await;
    for (i, bad) in ["US", "usa", "Mex", "U5A", "MEXICO"]
        .into_iter()
        .enumerate()
    {
        let mut body = seed_user(&format!("c{i}@example.com"));
        body["country"] = json!(bad);
        let a = create(&app, body).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["country"]);
    }
    let mut body = seed_user("mex@example.com");
    body["country"] = json!("MEX");
    body.as_object_mut().unwrap().remove("state_province");
    let a = create(&app, body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["country"], "MEX");
}

#[tokio::test]
async fn get_returns_the_user_as_created() {
    let app = TestApp::spawn().await;
    let created = create(&app, seed_user("get@example.com")).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let token = created.body["user_token"].as_str().unwrap();
    let a = app.get(&format!("/user/{token}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, created.body);
}

#[tokio::test]
async fn an_unknown_user_token_is_404() {
    let app = TestApp::spawn().await;
    let unknown = format!("usr_{}", uuid::Uuid::new_v4());
    for path in [
        format!("/user/{unknown}"),
        "/user/not-a-token".to_string(),
        format!("/user/payout_{}", uuid::Uuid::new_v4()),
    ] {
        let a = app.get(&path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text);
        assert_error(&a, 404);
    }
    let a = app
        .put(
            &format!("/user/{unknown}"),
            Some(update_body("u@example.com", "ACTIVE")),
        )
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn update_requires_the_fields_update_user_requires() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // The create-user body of the SDK example lacks what UpdateUser requires.
    let a = app
        .put(
            &format!("/user/{user}"),
            Some(
                json!({"internal_user_id": "4324-rOzk", "country": "USA", "first_name": "John",
                        "last_name": "Doe", "email": "jdoe@gmail.com"}),
            ),
        )
        .await;
    let details = assert_error(&a, 400);
    assert_mentions(
        &details,
        &[
            "status",
            "address1",
            "city",
            "state_province",
            "postal_code",
        ],
    );
    // Nothing changed.
    let a = app.get(&format!("/user/{user}")).await;
    assert_ne!(a.body["email"], "jdoe@gmail.com");
}

#[tokio::test]
async fn update_replaces_the_profile_and_status_deactive_round_trips() {
    let app = TestApp::spawn().await;
    let created = create(&app, seed_user("before@example.com")).await;
    let user = created.body["user_token"].as_str().unwrap().to_string();

    let mut body = update_body("after@example.com", "DEACTIVE");
    body["city"] = json!("Los Angeles");
    let a = app.put(&format!("/user/{user}"), Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "DEACTIVE");
    assert_eq!(a.body["city"], "Los Angeles");
    assert_eq!(a.body["email"], "after@example.com");
    assert_eq!(a.body["user_token"], user.as_str());
    assert_eq!(a.body["created_on"], created.body["created_on"]);

    let a = app.get(&format!("/user/{user}")).await;
    assert_eq!(a.body["status"], "DEACTIVE", "{}", a.text);
    assert_eq!(a.body["city"], "Los Angeles");

    let a = app
        .put(
            &format!("/user/{user}"),
            Some(update_body("after@example.com", "ACTIVE")),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "ACTIVE");

    // The old e-mail is free again.
    let a = create(&app, seed_user("before@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn update_status_must_be_active_or_deactive() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for bad in ["LOCKED", "active", "DELETED"] {
        let a = app
            .put(
                &format!("/user/{user}"),
                Some(update_body("s@example.com", bad)),
            )
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["status"]);
    }
    assert_eq!(
        app.get(&format!("/user/{user}")).await.body["status"],
        "ACTIVE"
    );
}

#[tokio::test]
async fn update_cannot_take_another_users_e_mail() {
    let app = TestApp::spawn().await;
    let a = create(&app, seed_user("taken@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let user = app.create_user().await;
    let a = app
        .put(
            &format!("/user/{user}"),
            Some(update_body("taken@example.com", "ACTIVE")),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["email"]);
}

#[tokio::test]
async fn lookup_finds_a_user_by_internal_user_id() {
    let app = TestApp::spawn().await;
    let mut body = seed_user("lookup@example.com");
    body["internal_user_id"] = json!("crm-42");
    let user = create(&app, body).await.body["user_token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app.get("/user/lookup?internal_user_id=crm-42").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"user_token": user, "first_name": "John", "last_name": "Doe",
               "internal_user_id": "crm-42"})
    );
}

#[tokio::test]
async fn lookup_finds_a_user_by_email_and_first_name() {
    let app = TestApp::spawn().await;
    let mut body = seed_user("jane@example.com");
    body["first_name"] = json!("Jane");
    let user = create(&app, body).await.body["user_token"]
        .as_str()
        .unwrap()
        .to_string();
    let _other = app.create_user().await;
    let a = app
        .get("/user/lookup?email=jane%40example.com&first_name=Jane")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["user_token"], user.as_str());
    assert_eq!(a.body["first_name"], "Jane");

    // The e-mail must belong to that first name.
    let a = app
        .get("/user/lookup?email=jane%40example.com&first_name=John")
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn lookup_with_all_three_parameters_as_the_sdks_send_them() {
    let app = TestApp::spawn().await;
    let mut body = seed_user("all3@example.com");
    body["internal_user_id"] = json!("crm-7");
    let user = create(&app, body).await.body["user_token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app
        .get("/user/lookup?email=all3%40example.com&first_name=John&internal_user_id=crm-7")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["user_token"], user.as_str());
    // Blank parameters count as not given.
    let a = app
        .get("/user/lookup?email=&first_name=&internal_user_id=crm-7")
        .await;
    assert_eq!(a.body["user_token"], user.as_str(), "{}", a.text);
    // Every given criterion must match.
    let a = app
        .get("/user/lookup?email=all3%40example.com&first_name=John&internal_user_id=crm-8")
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn lookup_without_a_match_is_404() {
    let app = TestApp::spawn().await;
    app.create_user().await;
    let a = app.get("/user/lookup?internal_user_id=nobody").await;
    assert_error(&a, 404);
    let a = app
        .get("/user/lookup?email=nobody%40example.com&first_name=John")
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn lookup_without_enough_parameters_is_400() {
    let app = TestApp::spawn().await;
    app.create_user().await;
    for query in [
        "",
        "?email=jdoe%40gmail.com",
        "?first_name=John",
        "?internal_user_id=",
    ] {
        let a = app.get(&format!("/user/lookup{query}")).await;
        assert_eq!(a.status, 400, "{query}: {}", a.text);
        assert_error(&a, 400);
    }
}

// ----- what MassPay answers as sent, and refuses -----------------------------------------------

/// The seed guide's user with every optional field the guide leaves empty sent as `""`.
fn blank_optionals(email: &str) -> Value {
    let mut body = seed_user(email);
    for field in [
        "middle_name",
        "address2",
        "business_name",
        "mobile_number",
        "date_of_birth",
    ] {
        body[field] = json!("");
    }
    body
}

/// Every field of `sent` is in `answer` with the same value.
fn assert_echoed(sent: &Value, answer: &Answer, context: &str) {
    for (field, value) in sent.as_object().unwrap() {
        if field == "status" {
            continue;
        }
        assert_eq!(
            &answer.body[field], value,
            "{context}: {field} is not as sent: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn every_field_sent_comes_back_as_sent_empty_strings_included() {
    let app = TestApp::spawn().await;
    for prefix in ["", "/v1.0.0/payout"] {
        // The guide's own body: `"middle_name": ""` comes back as `""`.
        let guide = seed_user(&format!("guide{}@example.com", prefix.len()));
        let a = app.post(&format!("{prefix}/user"), guide.clone()).await;
        assert_eq!(a.status, 200, "{prefix}: {}", a.text);
        assert_eq!(a.body["middle_name"], "", "{prefix}: {}", a.text);
        assert_echoed(&guide, &a, &format!("{prefix} create"));

        let sent = blank_optionals(&format!("blank{}@example.com", prefix.len()));
        let a = app.post(&format!("{prefix}/user"), sent.clone()).await;
        assert_eq!(a.status, 200, "{prefix}: {}", a.text);
        assert_echoed(&sent, &a, &format!("{prefix} create"));
        let token = a.body["user_token"].as_str().unwrap().to_string();
        let got = app.get(&format!("{prefix}/user/{token}")).await;
        assert_echoed(&sent, &got, &format!("{prefix} get"));
        assert_eq!(got.body, a.body);

        let mut update = update_body(&format!("upd{}@example.com", prefix.len()), "ACTIVE");
        update["middle_name"] = json!("");
        update["address2"] = json!("");
        let a = app
            .put(&format!("{prefix}/user/{token}"), Some(update.clone()))
            .await;
        assert_eq!(a.status, 200, "{prefix}: {}", a.text);
        assert_echoed(&update, &a, &format!("{prefix} update"));
        let got = app.get(&format!("{prefix}/user/{token}")).await;
        assert_echoed(&update, &got, &format!("{prefix} get after update"));
    }
    // A field not sent is not invented.
    let a = create(
        &app,
        json!({"internal_user_id": "4324-rOzk", "country": "USA", "first_name": "John",
               "last_name": "Doe", "email": "bare@example.com"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body.get("middle_name").is_none(), "{}", a.text);
}

#[tokio::test]
async fn an_e_mail_not_shaped_local_at_domain_dot_tld_is_a_400_naming_email() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let state = |app: &TestApp| {
        let app = app.clone();
        async move { app.get("/_sandbox/state").await.body["users"].clone() }
    };
    let before = state(&app).await;
    for prefix in ["", "/v1.0.0/payout"] {
        for bad in [
            "not-an-email",
            "jdoe@gmail",
            "@gmail.com",
            "jdoe@",
            "jdoe@@gmail.com",
            "jdoe@gm@il.com",
            "jdoe@gmail..com",
            "jdoe@.gmail.com",
            "jdoe@gmail.com.",
            "j doe@gmail.com",
            "jdoe@gmail.com ",
            "jdoe@gmail.com\n",
        ] {
            let a = app.post(&format!("{prefix}/user"), seed_user(bad)).await;
            let details = assert_error(&a, 400);
            assert!(
                details.iter().any(|d| d.starts_with("email")),
                "{prefix} create {bad:?}: {details:?}"
            );
            let a = app
                .put(
                    &format!("{prefix}/user/{user}"),
                    Some(update_body(bad, "ACTIVE")),
                )
                .await;
            let details = assert_error(&a, 400);
            assert!(
                details.iter().any(|d| d.starts_with("email")),
                "{prefix} update {bad:?}: {details:?}"
            );
        }
    }
    // Nothing was stored or changed.
    assert_eq!(state(&app).await, before);
    // Real addresses pass, plus-addressing and sub-domains included.
    for good in [
        "jdoe+ci@mail.example.co.uk",
        "o'brien@example.org",
        "x@y.io",
    ] {
        let a = app.post("/user", seed_user(good)).await;
        assert_eq!(a.status, 200, "{good}: {}", a.text);
        assert_eq!(a.body["email"], good);
    }
}

#[tokio::test]
async fn boolean_query_parameters_take_true_false_1_and_0_in_any_case() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "20").await;
    let history_v0 = format!("/user/{user}/history?number_of_records=10&page=1&show_all_clients=");
    let history_v1 =
        format!("/v1.0.0/payout/user/{user}/history?number_of_records=10&page=1&show_all_clients=");
    let logos = "/country/MEX?include_payer_logos=".to_string();
    let cheapest = "/country/MEX/cheapest?amount=200&include_payer_logos=".to_string();
    let list = format!("/payout/{user}?include_payer_logos=");
    let status = format!("/payout/{user}/{payout}?force_status_update=");
    let logo = format!("/payout/{user}/{payout}?include_payer_logo=");
    let alternatives = format!("/service/{BTC_DESTINATION}/alternatives?include_payer_logos=");
    let routes = [
        history_v0,
        history_v1,
        logos,
        cheapest,
        list,
        status,
        logo,
        alternatives,
    ];
    for route in &routes {
        // `0` is what the PHP SDK for 0.1.4 sends on every history call.
        for value in ["0", "1", "true", "false", "True", "FALSE", ""] {
            let a = app.get(&format!("{route}{value}")).await;
            assert_eq!(a.status, 200, "{route}{value}: {}", a.text);
        }
        let name = route
            .rsplit_once('?')
            .map(|(_, q)| q.rsplit('&').next().unwrap().trim_end_matches('='))
            .unwrap();
        for value in ["maybe", "2", "yes", "-1", "truee"] {
            let a = app.get(&format!("{route}{value}")).await;
            let details = assert_error(&a, 400);
            assert_mentions(&details, &[name]);
        }
    }
    // The value is read, not just accepted: logos come with 1 and not with 0.
    let with = app.get("/country/MEX?include_payer_logos=1").await;
    let without = app.get("/country/MEX?include_payer_logos=0").await;
    assert_ne!(
        with.body["companies"][0]["company_logo"], "",
        "{}",
        with.text
    );
    assert_eq!(
        without.body["companies"][0]["company_logo"], "",
        "{}",
        without.text
    );
}
