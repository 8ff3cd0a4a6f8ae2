//! The test kit in library mode: what a Rust test checks of the requests its client sent,
//! without HTTP — the same journal, matchers and expectations as `/_sandbox/requests/*` and
//! `/_sandbox/expectations` (matchers are the same JSON objects).
//!
//! ```no_run
//! # async fn t() {
//! use masspay_sandbox::Sandbox;
//! use serde_json::json;
//! let sandbox = Sandbox::builder().start().await.unwrap();
//! // Checked when `sandbox` is dropped: exactly one commit.
//! sandbox.expect(json!({"operation": "commitPayoutTxn"}), 1);
//! // … run the client …
//! sandbox.verify(json!({"operation": "initiatePayout", "status": 200})).times(1);
//! assert!(sandbox.received_requests().iter().all(|r| r.status < 500));
//! # }
//! ```

use serde_json::Value;

use crate::api::registry;
use crate::state::journal::{matcher, Expectation, JournalEntry, Matcher, Times};
use crate::Sandbox;

impl Sandbox {
    /// Every request the sandbox journaled (all API keys), oldest first. A tenant's journal
    /// keeps its last 1000 requests (README "Limits").
    pub fn received_requests(&self) -> Vec<JournalEntry> {
        let mut all: Vec<JournalEntry> = self
            .state
            .store
            .all()
            .iter()
            .flat_map(|t| t.journal.list(None, None))
            .collect();
        all.sort_by_key(|e| (e.at, e.seq));
        all
    }

    /// The requests sent with this API key (one tenant), oldest first.
    pub fn received_requests_of(&self, api_key: &str) -> Vec<JournalEntry> {
        self.state
            .store
            .existing(api_key)
            .map(|t| t.journal.list(None, None))
            .unwrap_or_default()
    }

    /// Starts a check of how many received requests (all API keys) `matcher` matches; finish
    /// it with [`Verify::times`] or [`Verify::between`].
    ///
    /// # Panics
    /// If `matcher` is not a valid matcher (the message says why).
    pub fn verify(&self, matcher: Value) -> Verify<'_> {
        let m = Matcher::parse(&matcher, registry::resolve_name)
            .unwrap_or_else(|e| panic!("masspay-sandbox: bad matcher {matcher}: {e}"));
        Verify {
            sandbox: self,
            matcher: m,
            source: matcher,
        }
    }

    /// Declares that `matcher` should match `times` received requests (all API keys) — checked
    /// when the sandbox is dropped, which then panics listing what was unmet and the closest
    /// requests (wiremock's `expect`). `times`: a number (exactly), or `{"min": …, "max": …}`.
    ///
    /// # Panics
    /// If `matcher` or `times` is not valid.
    pub fn expect(&self, matcher: Value, times: impl Into<Value>) {
        let times = times.into();
        let x = Expectation {
            matcher: Matcher::parse(&matcher, registry::resolve_name)
                .unwrap_or_else(|e| panic!("masspay-sandbox: bad matcher {matcher}: {e}")),
            times: Times::parse(Some(&times))
                .unwrap_or_else(|e| panic!("masspay-sandbox: bad times {times}: {e}")),
            source: serde_json::json!({"matcher": matcher, "times": times}),
        };
        self.on_drop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(x);
    }
}

/// A pending check started by [`Sandbox::verify`].
pub struct Verify<'a> {
    sandbox: &'a Sandbox,
    matcher: Matcher,
    source: Value,
}

impl Verify<'_> {
    /// Asserts that exactly `n` received requests match.
    ///
    /// # Panics
    /// When they do not, listing the closest requests and how they differed.
    pub fn times(self, n: u64) {
        self.check(Times {
            min: n,
            max: Some(n),
        })
    }

    /// Asserts that from `min` to `max` received requests match.
    ///
    /// # Panics
    /// When they do not.
    pub fn between(self, min: u64, max: u64) {
        self.check(Times {
            min,
            max: Some(max),
        })
    }

    fn check(self, times: Times) {
        let x = Expectation {
            matcher: self.matcher,
            times,
            source: self.source,
        };
        let entries = self.sandbox.received_requests();
        let v = matcher::verdict(x, entries.iter());
        if !v.met {
            panic!("{}", report(&[v]));
        }
    }
}

/// The unmet expectations declared with [`Sandbox::expect`], worded, if any.
pub(crate) fn unmet_on_drop(sandbox: &Sandbox) -> Option<String> {
    let declared = std::mem::take(&mut *sandbox.on_drop.lock().unwrap_or_else(|p| p.into_inner()));
    if declared.is_empty() {
        return None;
    }
    let entries = sandbox.received_requests();
    let unmet: Vec<matcher::Verdict> = declared
        .into_iter()
        .map(|x| matcher::verdict(x, entries.iter()))
        .filter(|v| !v.met)
        .collect();
    (!unmet.is_empty()).then(|| report(&unmet))
}

fn report(unmet: &[matcher::Verdict]) -> String {
    let mut out = String::from("masspay-sandbox: expectations not met:\n");
    for v in unmet {
        out.push_str(&format!(
            "- {} — expected {}, matched {}\n",
            v.expectation.source,
            v.expectation.times.describe(),
            v.count
        ));
        for n in &v.near_misses {
            out.push_str(&format!(
                "    near miss: {} {} → {}: {}\n",
                n.entry.method,
                n.entry.path(),
                n.entry.status,
                n.differences.join("; ")
            ));
        }
    }
    out
}
