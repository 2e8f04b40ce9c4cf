//! `ContactCenter`: a tenant — the domains users type, the user directory
//! that checks them, and settings such as CORS origins.
//!
//! The directory configuration (LDAP servers, bind password by Secret
//! reference) is not here yet: it waits for the store's directory model.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::CommonStatus;

/// Settings of the contact center.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorsSettings {
    /// Browser origins (`scheme://host[:port]`) allowed to call the
    /// Authentication API for this contact center.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    #[x_kube(
        merge_strategy = ListMerge::Set,
        validation = Rule::new("self.all(o, o.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@ ]+$'))").message("corsOrigins must be origins of the form scheme://host[:port]")
    )]
    pub cors_origins: Vec<String>,
}

/// A contact center (tenant), reconciled into Tollgate's database.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "ContactCenter",
    plural = "contactcenters",
    shortname = "tgcc",
    namespaced,
    status = "CommonStatus",
    doc = "A Tollgate contact center (tenant): domains, user directory and settings. Reconciled into Tollgate's database.",
    printcolumn(name = "Id", type_ = "string", json_path = ".status.id"),
    printcolumn(
        name = "Environment",
        type_ = "string",
        json_path = ".spec.environmentRef"
    ),
    printcolumn(name = "Auth", type_ = "string", json_path = ".spec.auth"),
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
pub struct ContactCenterSpec {
    /// The row id (default: the resource's name). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._~:@-]{1,128}$')").message("id must be 1-128 characters of letters, digits and . _ ~ : @ -"))]
    pub id: Option<String>,
    /// Display name (default: the first domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name of the `Environment` resource (same namespace) this contact center uses.
    #[x_kube(validation = Rule::new("self.size() > 0").message("environmentRef must name an Environment"))]
    #[schemars(length(max = 253))]
    pub environment_ref: String,
    /// Tenant names users type (`tenant\user`), unique across contact centers.
    #[schemars(length(max = 64), inner(length(max = 63)))]
    #[x_kube(
        merge_strategy = ListMerge::Set,
        validation = Rule::new("self.size() > 0").message("domains must list at least one domain"),
        validation = Rule::new("self.all(d, d.matches('^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'))").message("each domain must be 1-63 letters, digits, . _ or -, starting with a letter or digit")
    )]
    pub domains: Vec<String>,
    /// The user directory: configServer, ldap, builtin, saml or oidc.
    #[serde(default = "default_auth")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['configServer', 'ldap', 'builtin', 'saml', 'oidc']").message("auth must be configServer, ldap, builtin, saml or oidc"))]
    pub auth: String,
    /// A disabled contact center refuses sign-ins.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub settings: CorsSettings,
}

fn default_auth() -> String {
    "configServer".into()
}
fn default_enabled() -> bool {
    true
}
