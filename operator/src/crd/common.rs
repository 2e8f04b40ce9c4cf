//! The types every resource kind shares: Secret and ConfigMap key
//! references, the JWK Set schema and the common status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the resource.
    pub name: String,
    /// Key within the Secret's data.
    pub key: String,
}

/// A key of a ConfigMap in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap, in the same namespace as the resource.
    pub name: String,
    /// Key within the ConfigMap's data.
    pub key: String,
}

/// The schema of an inline JWK Set: `{"keys": [JWK, …]}`, each JWK kept as
/// written (its members depend on the key type). The operator checks the
/// keys themselves with the rules the Environment API uses.
pub fn jwk_set_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A JWK Set of public keys: {\"keys\": [JWK, …]}, a kid on each when several.",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "maxItems": 32,
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }
    })
}

/// What every kind reports: the generation last acted on and the
/// `Ready`/`Reconciling`/`Stalled` conditions (a list-map keyed by `type`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The row's id in Tollgate's database (Environment, ContactCenter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}
