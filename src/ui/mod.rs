//! The dashboard at `/_sandbox/ui` (issue 15): one page, one stylesheet and a few JavaScript
//! modules, embedded in the binary (`include_bytes!`) and served without a key.
//!
//! The page holds no power of its own: it asks for an API key and talks to the admin API and the
//! MassPay API with it, so it sees exactly what that key's tenant sees, and a key the sandbox
//! refuses gets the API's own 401. Nothing here is on a MassPay request's way: these routes only
//! answer the page's own few GETs.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the dashboard is served (the start-up output prints it).
pub const PATH: &str = "/_sandbox/ui";

/// One embedded file and the path it is served at.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:expr, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page. Paths are absolute because the edge collapses a trailing `/`, so a
/// relative `app.css` would resolve against `/_sandbox/`.
static ASSETS: &[Asset] = &[
    asset!(PATH, "index.html", "text/html; charset=utf-8"),
    asset!("/_sandbox/ui/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/_sandbox/ui/app.js", "app.js", JS),
    asset!("/_sandbox/ui/api.js", "api.js", JS),
    asset!("/_sandbox/ui/dom.js", "dom.js", JS),
    asset!("/_sandbox/ui/controls.js", "controls.js", JS),
    asset!("/_sandbox/ui/overview.js", "overview.js", JS),
    asset!("/_sandbox/ui/payouts.js", "payouts.js", JS),
    asset!("/_sandbox/ui/users.js", "users.js", JS),
    asset!("/_sandbox/ui/requests.js", "requests.js", JS),
    asset!("/_sandbox/ui/webhooks.js", "webhooks.js", JS),
];

/// Scripts and styles only from this origin, no fonts at all: the page works offline and a
/// change that reached for a CDN would break visibly. `object-src` is left open so the
/// confirmation PDF (a `blob:` document that inherits this policy) still opens in the viewer.
const CSP: &str =
    "script-src 'self'; style-src 'self'; font-src 'none'; connect-src 'self' blob:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes. They need no key: the page asks for one and sends it with each call.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .enumerate()
        .fold(Router::new(), |router, (i, asset)| {
            router.route(
                asset.path,
                get(move |headers: HeaderMap| async move { serve(i, asset, &headers) }),
            )
        })
}

/// The total size of the embedded files (the README and the size test quote it).
pub fn assets_size() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// An asset with its ETag; `If-None-Match` with that tag answers 304. `no-cache` makes the
/// browser ask each time, so a new binary's page is never hidden behind a stale copy.
fn serve(i: usize, asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == etag.as_bytes())
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.path == PATH {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// Each asset's ETag: a 64-bit FNV-1a of its bytes, computed once, on the first page load (not
/// at start-up, which stays as fast as before).
fn etags() -> &'static [HeaderValue] {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = a.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                HeaderValue::from_str(&format!("\"{hash:016x}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_small_and_the_whole_page_stays_under_100_kb() {
        // Issue 15: "total under ~100 KB"; the binary grows by about this much.
        assert!(assets_size() < 100 * 1024, "{} bytes", assets_size());
    }

    #[test]
    fn the_page_loads_only_embedded_assets() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for (n, line) in page.lines().enumerate() {
            for attr in ["src=\"", "href=\""] {
                if let Some(rest) = line.split(attr).nth(1) {
                    let target = rest.split('"').next().unwrap_or("");
                    if target.starts_with('#') {
                        continue;
                    }
                    assert!(
                        ASSETS.iter().any(|a| a.path == target),
                        "index.html:{}: {target:?} is not an embedded asset",
                        n + 1
                    );
                }
            }
        }
    }

    #[test]
    fn every_module_import_names_an_embedded_asset() {
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line.split('\'').nth(1).unwrap_or("");
                let full = format!("/_sandbox/ui/{}", target.trim_start_matches("./"));
                assert!(
                    ASSETS.iter().any(|x| x.path == full),
                    "{}: imports {target:?}, which is not embedded",
                    a.path
                );
            }
        }
    }
}
