//! Status conditions (`Ready`, `Reconciling`, `Stalled`): pure functions
//! that compute the next list from the current one, so a transition time
//! changes only when a condition's status actually flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// The outcome of one reconcile, in the words status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything matches the spec.
    Ready { message: String },
    /// Work is under way (e.g. a migration or a rollout); not an error.
    Progressing { reason: String, message: String },
    /// Something the user must fix (a missing Secret, a failed migration).
    Stalled { reason: String, message: String },
}

fn condition(
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: kind.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// The three conditions for `outcome`, keeping each previous transition
/// time when that condition's status did not change.
pub fn next(
    previous: &[Condition],
    outcome: &Outcome,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let now = Time(now);
    let (ready, reconciling, stalled) = match outcome {
        Outcome::Ready { message } => (
            condition(READY, true, "Reconciled", message, generation, &now),
            condition(RECONCILING, false, "Reconciled", "", generation, &now),
            condition(STALLED, false, "Reconciled", "", generation, &now),
        ),
        Outcome::Progressing { reason, message } => (
            condition(READY, false, reason, message, generation, &now),
            condition(RECONCILING, true, reason, message, generation, &now),
            condition(STALLED, false, reason, "", generation, &now),
        ),
        Outcome::Stalled { reason, message } => (
            condition(READY, false, reason, message, generation, &now),
            condition(RECONCILING, false, reason, "", generation, &now),
            condition(STALLED, true, reason, message, generation, &now),
        ),
    };
    [ready, reconciling, stalled]
        .into_iter()
        .map(|mut c| {
            if let Some(old) = previous.iter().find(|o| o.type_ == c.type_) {
                if old.status == c.status {
                    c.last_transition_time = old.last_transition_time.clone();
                }
            }
            c
        })
        .collect()
}

/// Whether the list says `Ready=True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let stalled = Outcome::Stalled {
            reason: "SecretMissing".into(),
            message: "secret x not found".into(),
        };
        let first = next(&[], &stalled, Some(1), t(100));
        assert!(!is_ready(&first));
        let again = next(&first, &stalled, Some(1), t(200));
        assert_eq!(again, first, "same outcome, same conditions and times");
        let ready = next(
            &again,
            &Outcome::Ready {
                message: "ok".into(),
            },
            Some(2),
            t(300),
        );
        assert!(is_ready(&ready));
        let get = |list: &[Condition], kind: &str| {
            list.iter().find(|c| c.type_ == kind).cloned().unwrap()
        };
        assert_eq!(get(&ready, READY).last_transition_time, Time(t(300)));
        assert_eq!(get(&ready, STALLED).last_transition_time, Time(t(300)));
        // Reconciling was False and stays False: its time is kept.
        assert_eq!(get(&ready, RECONCILING).last_transition_time, Time(t(100)));
        assert_eq!(get(&ready, READY).observed_generation, Some(2));
    }
}
