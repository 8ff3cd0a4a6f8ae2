use std::sync::Arc;
fn catalog() -> Arc<crate::domain::catalog::Catalog> {
    Arc::new(crate::fixtures::load(crate::fixtures::Source::Embedded).expect("fixtures"))
}

use super::*;

#[test]
fn signature_is_hmac_sha512_hex_of_t_pipe_body() {
    // Known answer computed independently: python3 -c "import hmac,hashlib;print(hmac.new(b'k',b'1|{}',hashlib.sha512).hexdigest())"
    let s = sign("k", 1, "{}");
    assert_eq!(s.len(), 128);
    assert_eq!(&s[..16], "260afdfcab3c64dc");
}

#[test]
fn only_plain_http_urls() {
    assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
    assert!(check_url("https://example.com/hook").is_err());
    assert!(check_url("nope").is_err());
}

fn hub(allow: &[&str]) -> Hub {
    Hub::new(
        Vec::new(),
        None,
        allow.iter().map(|s| s.to_string()).collect(),
    )
    .expect("hub")
}

#[test]
fn without_an_allow_list_any_host_is_fine() {
    let h = hub(&[]);
    assert!(h.check_url("http://anything.example:1/x").is_ok());
    assert!(h.check_url("http://[::1]:9/x").is_ok());
    let h = hub(&["", " "]);
    assert!(h.check_url("http://anything.example/x").is_ok());
}

#[test]
fn allowed_hosts_compare_case_insensitively_on_any_port() {
    let h = hub(&[
        "Receiver.Example",
        "127.0.0.1:8080",
        "::1",
        "[fe80::2]:9",
        "http://ci.local:3000/",
    ]);
    for ok in [
        "http://receiver.example/hook",
        "http://RECEIVER.example:9999/hook",
        "http://receiver.example./hook",
        "http://127.0.0.1:1/hook",
        "http://[::1]:9000/hook",
        "http://[FE80::2]/hook",
        "http://ci.local/hook",
    ] {
        assert!(h.check_url(ok).is_ok(), "{ok}: {:?}", h.check_url(ok));
    }
    for bad in [
        "http://evil.example/hook",
        "http://receiver.example.evil/hook",
        "http://127.0.0.2:8080/hook",
        "http://[::2]/hook",
    ] {
        let e = h.check_url(bad).expect_err(bad);
        assert!(e.contains("--webhook-allow"), "{e}");
    }
    let e = h.check_url("http://Evil.Example:81/x").unwrap_err();
    assert!(e.contains("\"Evil.Example\""), "{e}");
    // The scheme rules still come first.
    assert!(h.check_url("https://receiver.example/hook").is_err());
}

#[test]
fn a_webhook_url_outside_the_allow_list_refuses_the_hub() {
    let e = Hub::new(
        vec!["http://127.0.0.1:9/x".into()],
        None,
        vec!["other.example".into()],
    )
    .err()
    .expect("refused");
    assert!(
        e.contains("\"127.0.0.1\"") && e.contains("--webhook-allow"),
        "{e}"
    );
    assert!(Hub::new(
        vec!["http://other.example:9/x".into()],
        None,
        vec!["other.example".into()],
    )
    .is_ok());
}

/// A receiver that accepts connections and never answers; returns its URL.
async fn hanging_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}/hook")
}

/// A receiver that answers every request 200 (one request per connection is enough here).
async fn answering_receiver() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    // The bodies sent here are small: headers and body arrive together.
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"}") {
                        seen.clear();
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    format!("http://{addr}/hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_counts_unfinished_deliveries_until_they_end() {
    let hung = Arc::new(Hub::new(vec![hanging_receiver().await], None, Vec::new()).unwrap());
    let tenant = TenantWebhooks::new(Arc::clone(&hung), catalog());
    assert_eq!(hung.pending(), 0);
    assert_eq!(hung.log_pending_at_shutdown(), 0);
    tenant.emit("payout", "payout_a", "{}".into(), Directives::default());
    tenant.emit("payout", "payout_a", "{}".into(), Directives::default());
    let twice = Directives {
        duplicate: true,
        ..Directives::default()
    };
    tenant.emit("payout", "payout_b", "{}".into(), twice);
    // Dropped deliveries are never sent, so never pending.
    tenant.emit(
        "payout",
        "payout_c",
        "{}".into(),
        Directives {
            drop: true,
            ..Directives::default()
        },
    );
    assert_eq!(hung.pending(), 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Queued behind payout_a's first, in flight, or waiting: all still pending.
    assert_eq!(hung.pending(), 4);
    assert_eq!(hung.log_pending_at_shutdown(), 4);

    let ok = Arc::new(Hub::new(vec![answering_receiver().await], None, Vec::new()).unwrap());
    let tenant = TenantWebhooks::new(Arc::clone(&ok), catalog());
    for object in ["payout_a", "payout_a", "payout_b"] {
        tenant.emit("payout", object, "{}".into(), Directives::default());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ok.pending() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ok.pending(), 0);
    assert!(tenant.deliveries().iter().all(|d| d.state == "delivered"));
}
