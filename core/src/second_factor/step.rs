//! What a right password still owes: nothing, a factor the user has (a
//! confirmed TOTP key or a passkey), or an enrolment.

use serde::{Deserialize, Serialize};
use tollgate_store::model::{AuthScheme, ContactCenter, SecondFactorPolicy};
use tollgate_store::StoreError;

use super::passkey;
use crate::directory::DirectoryUser;
use crate::services::Services;

/// What a right password still owes before the session starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Nothing: the password is enough.
    None,
    /// A code from the user's enrolled factor.
    Verify { user_id: String },
    /// An enrolment (a secret to add to an authenticator app, then a code).
    Enrol { user_id: String },
}

impl Step {
    pub fn is_none(&self) -> bool {
        matches!(self, Step::None)
    }
}

/// What a right password owes for `user` of `cc`; `asked`: the
/// authorization request asked for the second-factor level (`acr_values`),
/// which makes an optional factor enrol like a required one.
pub async fn step_for(
    state: &Services,
    cc: &ContactCenter,
    user: &DirectoryUser,
    asked: bool,
) -> Result<Step, StoreError> {
    if cc.auth != AuthScheme::Builtin || cc.second_factor == SecondFactorPolicy::Off {
        return Ok(Step::None);
    }
    if let Some(f) = state.db.factor_by_username(&cc.id, &user.username).await? {
        if f.confirmed {
            return Ok(Step::Verify { user_id: f.user_id });
        }
    }
    let Some(u) = state.db.find_user_by_name(&cc.id, &user.username).await? else {
        // Gone since the password was checked.
        return Err(StoreError::NotFound { entity: "user" });
    };
    if passkey::has_passkey(state, &cc.id, &u.id).await? {
        return Ok(Step::Verify { user_id: u.id });
    }
    if cc.second_factor == SecondFactorPolicy::Optional && !asked {
        return Ok(Step::None);
    }
    Ok(Step::Enrol { user_id: u.id })
}
