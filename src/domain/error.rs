//! The simulation's one error type. It says what went wrong in the simulation's terms; the HTTP
//! edge maps it to MassPay's error answer in one place (`From<SimError> for SimError`).

/// Why the simulation refused an operation. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The input breaks a rule; `details` lists every problem (one line each).
    #[error("invalid: {reason}")]
    Invalid {
        reason: String,
        details: Vec<String>,
    },
    /// An object the operation names does not exist (in this tenant).
    #[error("not found: {0}")]
    NotFound(String),
    /// The tenant already holds as many objects of a kind as it may.
    #[error("limit reached: {0}")]
    LimitReached(String),
}

impl SimError {
    /// One problem.
    pub fn invalid(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        SimError::Invalid {
            reason: detail.clone(),
            details: vec![detail],
        }
    }

    /// Several problems under one reason.
    pub fn invalid_many(reason: impl Into<String>, details: Vec<String>) -> Self {
        SimError::Invalid {
            reason: reason.into(),
            details,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        SimError::NotFound(what.into())
    }

    /// The problems listed (for tests and logs).
    pub fn details(&self) -> Vec<&str> {
        match self {
            SimError::Invalid { details, .. } => details.iter().map(String::as_str).collect(),
            SimError::NotFound(d) | SimError::LimitReached(d) => vec![d.as_str()],
        }
    }
}

pub type SimResult<T> = Result<T, SimError>;
