//! A tenant's KYC sessions, the attribute-velocity check and its sub-accounts with their
//! beneficial owners.

use uuid::Uuid;

use super::caps::Kind;
use super::Tenant;
use crate::domain::error::SimResult;
use crate::domain::token::UserId;
use crate::domain::user::KycSession;

impl Tenant {
    // ----- KYC -----------------------------------------------------------------------------------

    pub fn start_kyc(
        &self,
        user: UserId,
        provider: &'static str,
        status: &'static str,
    ) -> SimResult<KycSession> {
        self.counts.take(Kind::KycSessions)?;
        let session = KycSession {
            provider,
            session_id: self.tokens.next(),
            session_time: self.now(),
            status,
        };
        self.kyc.entry(user).or_default().push(session.clone());
        Ok(session)
    }

    pub fn kyc_sessions(&self, user: UserId) -> Vec<KycSession> {
        self.kyc.get(&user).map(|s| s.clone()).unwrap_or_default()
    }

    /// Every stored attribute value equal to `value` whose requirement has type `attr_type`:
    /// (user, type, value) — the velocity check.
    pub fn attribute_velocity(&self, attr_type: &str, value: &str) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .attributes
            .iter()
            .filter(|e| {
                e.value().values.iter().any(|(r, v)| {
                    self.catalog.requirements[*r].attr_type == attr_type && &**v == value
                })
            })
            .map(|e| e.key().0)
            .collect();
        users.sort();
        users.dedup();
        users
    }

    pub fn new_subaccount(&self) -> SimResult<Uuid> {
        self.counts.take(Kind::SubAccounts)?;
        let id = self.tokens.next();
        self.subaccounts.insert(id, Vec::new());
        Ok(id)
    }

    pub fn subaccount_exists(&self, id: Uuid) -> bool {
        self.subaccounts.contains_key(&id)
    }

    /// Adds a beneficial owner to a sub-account; `Ok(None)`: no such sub-account.
    pub fn add_ubo(&self, sub: Uuid) -> SimResult<Option<Uuid>> {
        let Some(mut owners) = self.subaccounts.get_mut(&sub) else {
            return Ok(None);
        };
        self.counts.take(Kind::BeneficialOwners)?;
        let id = self.tokens.next();
        owners.push(id);
        Ok(Some(id))
    }

    pub fn ubo_exists(&self, sub: Uuid, ubo: Uuid) -> bool {
        self.subaccounts.get(&sub).is_some_and(|u| u.contains(&ubo))
    }
}
