//! What the simulation tells the outside world: an [`Event`] on every status change of a payout,
//! load or spend-back, handed to the tenant's [`EventSink`]. The simulation neither renders nor
//! delivers them; the webhook side (`crate::webhook`) implements the sink, renders MassPay's
//! payloads and delivers them. Tests can plug in a sink of their own.

use std::any::Any;
use std::sync::Arc;

use super::payout::Payout;
use super::wallet::{Load, SpendBack};

/// A status change the outside world is told about.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Payout(&'a Payout),
    Load(&'a Load),
    SpendBack {
        spendback: &'a SpendBack,
        success: bool,
    },
}

/// How a scenario bends the deliveries of the events a request causes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// Never delivered (recorded as `dropped`): the client must poll.
    pub drop: bool,
    /// The first attempt waits this long: the notification arrives late.
    pub delay_ms: u64,
    /// Delivered twice (at-least-once delivery).
    pub duplicate: bool,
}

/// Where a tenant's events go. Publishing never blocks and never fails the operation that
/// caused the event. `Any` lets the side that made the sink reach its own type again (the admin
/// API reads the webhook log through it).
pub trait EventSink: Any + Send + Sync {
    /// Is anyone listening? Events are not even built otherwise.
    fn listening(&self) -> bool;
    fn publish(&self, event: Event<'_>, directives: Directives);
}

/// Makes each new tenant's sink.
pub trait EventSinks: Send + Sync {
    fn for_tenant(&self) -> Arc<dyn EventSink>;
}

/// A sink that drops everything (unit tests of the simulation).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn listening(&self) -> bool {
        false
    }
    fn publish(&self, _: Event<'_>, _: Directives) {}
}

impl EventSinks for NoEvents {
    fn for_tenant(&self) -> Arc<dyn EventSink> {
        Arc::new(NoEvents)
    }
}
