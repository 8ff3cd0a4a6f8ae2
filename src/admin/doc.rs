//! The admin API's entry in `/openapi.json` (tag "Sandbox admin"): every admin call, declared once
//! here; `tests/api/registry.rs` proves each one is routed and listed.

use axum::http::Method;

/// One admin call.
pub struct AdminOperation {
    pub method: Method,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    /// Whether it takes a JSON body.
    pub body: bool,
    /// Its success status: 200 or 201 (JSON), or 204 (no body).
    pub ok: u16,
    /// Its query parameters (all optional strings).
    pub query: &'static [&'static str],
}

const fn op(
    method: Method,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    body: bool,
    ok: u16,
) -> AdminOperation {
    AdminOperation {
        method,
        path,
        id,
        summary,
        body,
        ok,
        query: &[],
    }
}

impl AdminOperation {
    const fn with_query(mut self, query: &'static [&'static str]) -> Self {
        self.query = query;
        self
    }
}

pub const OPERATIONS: &[AdminOperation] = &[
    op(Method::POST, "/_sandbox/reset", "sandboxReset", "Back to the fixtures' initial state (clock and scenarios too)", false, 204),
    op(Method::GET, "/_sandbox/state", "sandboxState", "The tenant's users, attribute sets, payouts, balances, clock and scenarios", false, 200),
    op(Method::PUT, "/_sandbox/balance", "sandboxSetBalance", "Set a funding balance: {currency_code | token, balance}", true, 200),
    op(Method::GET, "/_sandbox/clock", "sandboxClock", "The tenant's test clock", false, 200),
    op(Method::POST, "/_sandbox/clock/advance", "sandboxAdvanceClock", "Move the test clock forward: {seconds}", true, 200),
    op(Method::GET, "/_sandbox/scenarios", "sandboxScenarios", "Every scenario this sandbox knows (shipped and loaded), with its description", false, 200),
    op(Method::PUT, "/_sandbox/scenario", "sandboxActivateScenarios", "Activate scenarios for this tenant: {scenarios: [names]}", true, 200),
    op(Method::DELETE, "/_sandbox/scenario", "sandboxDeactivateScenarios", "Deactivate this tenant's scenarios", false, 204),
    op(Method::PUT, "/_sandbox/webhook", "sandboxSubscribeWebhook", "Subscribe a webhook receiver: {url (http://… or inbox), secret}", true, 200),
    op(Method::DELETE, "/_sandbox/webhook", "sandboxUnsubscribeWebhook", "Drop the tenant's webhook subscription", false, 204),
    op(Method::GET, "/_sandbox/webhooks", "sandboxWebhookDeliveries", "The webhook delivery log, filtered; wait=5s long-polls for a match, at most 30 s (408 at the deadline; 429 when 256 long polls already wait)", false, 200)
        .with_query(&["payout_token", "object_token", "status", "event_type", "state", "wait"]),
    op(Method::POST, "/_sandbox/webhooks/{id}/resend", "sandboxResendWebhook", "Send a logged delivery again", false, 200),
    op(Method::GET, "/_sandbox/requests", "sandboxRequests", "The request journal (bodies and answers included), filtered; wait=5s long-polls for a match, at most 30 s (408 at the deadline; 429 when 256 long polls already wait)", false, 200)
        .with_query(&["method", "path", "operation", "status", "wait"]),
    op(Method::DELETE, "/_sandbox/requests", "sandboxClearRequests", "Clear the journal and the unexpected list", false, 204),
    op(Method::POST, "/_sandbox/requests/count", "sandboxCountRequests", "How many journaled requests a matcher matches", true, 200),
    op(Method::POST, "/_sandbox/requests/find", "sandboxFindRequests", "The journaled requests a matcher matches", true, 200),
    op(Method::GET, "/_sandbox/requests/unexpected", "sandboxUnexpectedRequests", "Requests strict mode found the client should not have sent", false, 200),
    op(Method::PUT, "/_sandbox/expectations", "sandboxSetExpectations", "Declare expectations: [{matcher, times}]", true, 200),
    op(Method::GET, "/_sandbox/expectations", "sandboxExpectations", "The declared expectations", false, 200),
    op(Method::DELETE, "/_sandbox/expectations", "sandboxClearExpectations", "Drop the declared expectations", false, 204),
    op(Method::POST, "/_sandbox/expectations/verify", "sandboxVerify", "Check the expectations (and strict mode): 200, or 409 with verdicts and near misses", false, 200),
    op(Method::PUT, "/_sandbox/strict", "sandboxSetStrict", "Strict mode for this tenant: {strict: true | false | null}", true, 200),
    op(Method::GET, "/_sandbox/strict", "sandboxStrict", "Whether strict mode is on for this tenant", false, 200),
    op(Method::POST, "/_sandbox/snapshots", "sandboxSaveSnapshot", "Save the tenant's whole state under a name: {name}, 1 to 64 characters of [A-Za-z0-9_.-] (400 otherwise); at most 16 per tenant (422)", true, 201),
    op(Method::GET, "/_sandbox/snapshots", "sandboxSnapshots", "The tenant's snapshots", false, 200),
    op(Method::DELETE, "/_sandbox/snapshots", "sandboxDropSnapshots", "Drop every snapshot of the tenant", false, 204),
    op(Method::DELETE, "/_sandbox/snapshots/{name}", "sandboxDropSnapshot", "Drop one snapshot", false, 204),
    op(Method::POST, "/_sandbox/snapshots/{name}/restore", "sandboxRestoreSnapshot", "Put the tenant's state back as it was when the snapshot was saved", false, 200),
    op(Method::POST, "/_sandbox/save", "sandboxSaveStateFile", "Write every tenant to the --state-file now (422 without one)", false, 200),
];

#[cfg(test)]
mod tests {
    use super::OPERATIONS;
    use crate::limits::{
        MAX_LONG_POLLS, MAX_LONG_POLL_WAIT, MAX_SNAPSHOTS_PER_TENANT, MAX_SNAPSHOT_NAME_LEN,
    };

    fn summary(id: &str) -> &'static str {
        OPERATIONS
            .iter()
            .find(|op| op.id == id)
            .map(|op| op.summary)
            .unwrap_or_else(|| panic!("{id} is not declared"))
    }

    /// The summaries state the limits as `crate::limits` has them.
    #[test]
    fn summaries_state_the_limits_in_force() {
        for id in ["sandboxRequests", "sandboxWebhookDeliveries"] {
            let s = summary(id);
            assert!(
                s.contains(&format!("at most {} s", MAX_LONG_POLL_WAIT.as_secs())),
                "{s}"
            );
            assert!(
                s.contains(&format!("429 when {MAX_LONG_POLLS} long polls")),
                "{s}"
            );
        }
        let s = summary("sandboxSaveSnapshot");
        assert!(
            s.contains(&format!(
                "1 to {MAX_SNAPSHOT_NAME_LEN} characters of [A-Za-z0-9_.-]"
            )),
            "{s}"
        );
        assert!(
            s.contains(&format!("at most {MAX_SNAPSHOTS_PER_TENANT} per tenant")),
            "{s}"
        );
    }
}
