//! Webhooks: MassPay's status notifications, delivered, signed and retried.
//!
//! On every status change of a payout the tenant emits an event; each subscribed URL (the
//! `--webhook-url`s and the tenant's own `PUT /_sandbox/webhook`) gets a JSON POST signed as
//! MassPay signs: `X-MassPay-Signature: t=<unix seconds>,s=<hex HMAC-SHA512 of "<t>|<raw body>">`.
//!
//! Delivery is off the request path: one worker per object (so one object's events arrive in
//! order while objects don't wait on each other), 5 s timeout per attempt, up to 5 attempts with
//! exponential backoff starting at 1 s (1, 2, 4, 8 s) on a non-2xx answer, a connection error or
//! a timeout. The API call that caused the event never waits for it.
//!
//! Outbound traffic is bounded for the whole process, whatever receivers do: at most
//! [`MAX_WEBHOOK_DELIVERIES`] attempts (requests with their connections) at once, the others
//! waiting in order for a turn; a few idle keep-alive connections per receiver, closed after
//! [`WEBHOOK_IDLE_TIMEOUT`]. `--webhook-allow` restricts the hosts deliveries may go to.

mod hub;
mod payload;
mod tenant;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::domain::catalog::Catalog;
use crate::domain::event::{EventSink, EventSinks};

pub use hub::{check_url, Hub};
pub use tenant::{Attempt, Delivery, Subscription, TenantWebhooks};

/// Attempts per delivery, the first backoff, the timeout per attempt.
pub const MAX_ATTEMPTS: u32 = 5;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries a tenant's log keeps (the oldest are forgotten first).
pub const LOG_CAP: usize = 1000;
/// The secret when neither `--webhook-secret` nor the subscription names one.
pub const DEFAULT_SECRET: &str = "sandbox_webhook_secret";
pub const SIGNATURE_HEADER: &str = "X-MassPay-Signature";
/// Bytes of a receiver's answer read (and thrown away) so its connection can be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How long an attempt that gave up on its connection waits for the socket to be closed before
/// handing its turn on (it normally takes microseconds).
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub use crate::domain::event::Directives;

/// Every tenant's sink: its [`TenantWebhooks`], on the process-wide [`Hub`].
pub struct Sinks {
    pub hub: Arc<Hub>,
    pub catalog: Arc<Catalog>,
}

impl EventSinks for Sinks {
    fn for_tenant(&self) -> Arc<dyn EventSink> {
        TenantWebhooks::new(Arc::clone(&self.hub), Arc::clone(&self.catalog))
    }
}

/// MassPay's signature: hex HMAC-SHA512 of `"<t>|<raw body>"` with the secret.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b"|");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}
