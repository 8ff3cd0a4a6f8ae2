//! MassPay's payloads for the simulation's events, rendered for a tenant's subscribers.

use serde::Serialize;

use super::*;
use crate::api::models::PayoutEvent;
use crate::domain::event::{Event, EventSink};
use crate::domain::{token, wallet};

impl EventSink for TenantWebhooks {
    fn listening(&self) -> bool {
        self.active()
    }

    /// Renders MassPay's payload for the event and queues it to every subscribed URL.
    fn publish(&self, event: Event<'_>, directives: Directives) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let (event_type, object_token, body) = match event {
            Event::Payout(p) => (
                "payout",
                p.id.token(),
                serde_json::to_string(&PayoutEvent::from(&self.catalog, p)),
            ),
            Event::Load(l) => {
                let account = &self.catalog.funding_accounts[l.funding];
                let load_token = token::format(wallet::LOAD, l.id);
                let body = serde_json::to_string(&LoadEvent {
                    load_token: &load_token,
                    time_of_load: crate::clock::format(l.time_of_load),
                    client_load_id: &l.client_load_id,
                    source_token: &account.token,
                    wallet_token: token::format(wallet::WALLET, l.wallet),
                    amount: l.amount.into(),
                    source_currency_code: &account.currency,
                    notes: &l.notes,
                    status: l.status.as_str(),
                    event_type: "load",
                });
                ("load", load_token, body)
            }
            Event::SpendBack { spendback, success } => {
                let spendback_token = token::format(wallet::SPENDBACK, spendback.id);
                let body = serde_json::to_string(&SpendBackEvent {
                    spendback_token: &spendback_token,
                    client_spendback_id: &spendback.client_spendback_id,
                    status: if success { "success" } else { "failure" },
                    event_type: "spendback",
                });
                ("spendback", spendback_token, body)
            }
        };
        match body {
            Ok(body) => me.emit(event_type, &object_token, body, directives),
            // Plain structs of strings and decimals do not fail to serialise; if one ever did,
            // nothing is sent rather than an empty body.
            Err(e) => tracing::error!("webhook {event_type} {object_token} not rendered: {e}"),
        }
    }
}

/// The `load` event's payload.
#[derive(Serialize)]
struct LoadEvent<'a> {
    load_token: &'a str,
    time_of_load: String,
    client_load_id: &'a str,
    source_token: &'a str,
    wallet_token: String,
    amount: crate::domain::money::Amount,
    source_currency_code: &'a str,
    notes: &'a str,
    status: &'static str,
    event_type: &'static str,
}

/// The `spendback` event's payload.
#[derive(Serialize)]
struct SpendBackEvent<'a> {
    spendback_token: &'a str,
    client_spendback_id: &'a str,
    status: &'static str,
    event_type: &'static str,
}
