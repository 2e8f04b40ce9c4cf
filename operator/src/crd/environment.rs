//! `Environment`: how to reach a tenant's Configuration Server — the fields
//! of the Environment API's environment. The service-account password is
//! only ever a Secret reference.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, SecretKeyRef};

/// One Configuration Server (primary and optional backup).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigServerSpec {
    /// Host name or IP address of the primary server.
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("primaryAddress must not be empty"))]
    pub primary_address: String,
    /// Port of the primary server, 1-65535.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("primaryPort must be from 1 to 65535"))]
    pub primary_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("backupPort must be from 1 to 65535"))]
    pub backup_port: Option<i32>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub locations: String,
}

/// An environment: the Configuration Server connection data of a tenant.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "Environment",
    plural = "environments",
    shortname = "tgenv",
    namespaced,
    status = "CommonStatus",
    doc = "A Tollgate environment: how to reach a tenant's Configuration Server. Reconciled into Tollgate's database.",
    printcolumn(name = "Id", type_ = "string", json_path = ".status.id"),
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)").message("id is immutable"))]
pub struct EnvironmentSpec {
    /// The row id (default: the resource's name). Immutable. A row another
    /// resource manages, or one created through the API, is refused
    /// (`OwnedElsewhere`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._~:@-]{1,128}$')").message("id must be 1-128 characters of letters, digits and . _ ~ : @ -"))]
    pub id: Option<String>,
    /// The Configuration Server service account.
    #[schemars(length(max = 256))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("username must not be empty"))]
    pub username: String,
    /// The service account's password, by Secret reference only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// Connection protocol to the Configuration Server.
    #[serde(default = "default_protocol")]
    pub connection_protocol: String,
    /// ADDP local timeout, seconds (0-3600).
    #[serde(default = "default_local_timeout")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 3600").message("localTimeout must be from 0 to 3600 seconds"))]
    pub local_timeout: i64,
    /// ADDP remote timeout, seconds (0-3600).
    #[serde(default = "default_remote_timeout")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 3600").message("remoteTimeout must be from 0 to 3600 seconds"))]
    pub remote_timeout: i64,
    /// Configuration Server tenant name.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Application name Tollgate connects as.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// CFGTMNoTraceMode, CFGTMClient, CFGTMServer or CFGTMBoth.
    #[serde(default = "default_trace_mode")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self in ['CFGTMNoTraceMode', 'CFGTMClient', 'CFGTMServer', 'CFGTMBoth']").message("traceMode must be CFGTMNoTraceMode, CFGTMClient, CFGTMServer or CFGTMBoth"))]
    pub trace_mode: String,
    #[serde(default)]
    pub tls_enabled: bool,
    /// The Configuration Servers, replaced whole.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub config_servers: Vec<ConfigServerSpec>,
    /// Other namespaces whose ContactCenters may use this environment
    /// (through `environmentNamespace`); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub shared_with_namespaces: Vec<String>,
}

fn default_protocol() -> String {
    "addp".into()
}
fn default_local_timeout() -> i64 {
    60
}
fn default_remote_timeout() -> i64 {
    90
}
fn default_tenant() -> String {
    "Environment".into()
}
fn default_app_name() -> String {
    "Cloud".into()
}
fn default_trace_mode() -> String {
    "CFGTMBoth".into()
}
