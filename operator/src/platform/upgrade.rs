//! Reading the upgrade's progress from the objects' status: the migration
//! Job's outcome and whether the Deployments finished rolling. Pure.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Running,
    Succeeded,
    Failed { reason: String, message: String },
}

/// The Job's outcome from its `Complete`/`Failed` conditions (or counts).
pub fn migration_state(job: &Job) -> MigrationState {
    let Some(status) = &job.status else {
        return MigrationState::Running;
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    if let Some(failed) = conditions
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
    {
        return MigrationState::Failed {
            reason: failed.reason.clone().unwrap_or_else(|| "Failed".into()),
            message: failed.message.clone().unwrap_or_default(),
        };
    }
    if conditions
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True")
        || status.succeeded.unwrap_or(0) > 0
    {
        return MigrationState::Succeeded;
    }
    MigrationState::Running
}

/// Ok when every Deployment's controller has seen its latest spec and all
/// wanted replicas are updated and available; otherwise what is pending.
pub fn deployments_ready(deployments: &[Deployment]) -> Result<(), String> {
    let pending: Vec<String> = deployments
        .iter()
        .filter_map(|d| {
            let name = d.metadata.name.clone().unwrap_or_default();
            let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let s = d.status.clone().unwrap_or_default();
            let seen = s.observed_generation >= d.metadata.generation;
            let updated = s.updated_replicas.unwrap_or(0);
            let available = s.available_replicas.unwrap_or(0);
            let total = s.replicas.unwrap_or(0);
            (!(seen && updated >= wanted && available >= wanted && total == updated))
                .then(|| format!("{name} {updated}/{wanted} updated, {available} available"))
        })
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(pending.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn job(conditions: Vec<(&str, &str)>) -> Job {
        Job {
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .into_iter()
                        .map(|(t, reason)| JobCondition {
                            type_: t.into(),
                            status: "True".into(),
                            reason: Some(reason.into()),
                            message: Some("boom".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn job_outcomes() {
        assert_eq!(migration_state(&Job::default()), MigrationState::Running);
        assert_eq!(
            migration_state(&job(vec![("Complete", "Done")])),
            MigrationState::Succeeded
        );
        assert_eq!(
            migration_state(&job(vec![("Failed", "BackoffLimitExceeded")])),
            MigrationState::Failed {
                reason: "BackoffLimitExceeded".into(),
                message: "boom".into()
            }
        );
    }

    fn deployment(
        generation: i64,
        observed: i64,
        updated: i32,
        available: i32,
        total: i32,
    ) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("d".into()),
                generation: Some(generation),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                updated_replicas: Some(updated),
                available_replicas: Some(available),
                replicas: Some(total),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn rollout_is_done_only_when_old_pods_are_gone() {
        assert!(deployments_ready(&[deployment(2, 2, 2, 2, 2)]).is_ok());
        assert!(
            deployments_ready(&[deployment(3, 2, 2, 2, 2)]).is_err(),
            "new spec not seen yet"
        );
        assert!(
            deployments_ready(&[deployment(2, 2, 1, 2, 3)]).is_err(),
            "surge pod still rolling"
        );
        assert!(
            deployments_ready(&[deployment(2, 2, 2, 1, 2)]).is_err(),
            "not available yet"
        );
    }
}
