//! `ContactCenter`: a tenant — the domains users type, the user directory
//! that checks them (for `auth: ldap`, the LDAP settings with the bind
//! password by Secret reference), the issuers whose assertions it trusts,
//! and settings such as CORS origins.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use tollgate_store::model::{OidcClaims, OidcClientAuth};
use tollgate_store::validate::{ldap_directory as ldap, oidc_provider as oidc, trusted_issuer};

use super::common::{jwk_set_schema, CommonStatus, ConfigMapKeyRef, SecretKeyRef};

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
#[x_kube(validation = Rule::new("self.auth == 'ldap' || !has(self.directory)").message("directory is only for auth: ldap"))]
#[x_kube(validation = Rule::new("self.auth == 'oidc' || !has(self.oidcProvider)").message("oidcProvider is only for auth: oidc"))]
#[x_kube(validation = Rule::new("self.auth == 'saml' || !has(self.saml)").message("saml is only for auth: saml"))]
pub struct ContactCenterSpec {
    /// The row id (default: the resource's name). Immutable. A row another
    /// resource manages, or one created through the API, is refused
    /// (`OwnedElsewhere`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._~:@-]{1,128}$')").message("id must be 1-128 characters of letters, digits and . _ ~ : @ -"))]
    pub id: Option<String>,
    /// Display name (default: the first domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name of the `Environment` resource this contact center uses (in
    /// `environmentNamespace`).
    #[x_kube(validation = Rule::new("self.size() > 0").message("environmentRef must name an Environment"))]
    #[schemars(length(max = 253))]
    pub environment_ref: String,
    /// Namespace of that Environment (default: this resource's). Another
    /// namespace's Environment must list this namespace in its
    /// `sharedWithNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub environment_namespace: Option<String>,
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
    /// Second factors (TOTP) for its built-in users: off (the default),
    /// optional (users who enrolled give a code) or required (every user
    /// gives a code, enrolling at their next sign-in). Users of other
    /// directories are not asked.
    #[serde(default = "default_second_factor")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['off', 'optional', 'required']").message("secondFactor must be off, optional or required"))]
    pub second_factor: String,
    /// A disabled contact center refuses sign-ins.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub settings: CorsSettings,
    /// The LDAP / Active Directory server users are checked against, for
    /// `auth: ldap` (without it, sign-ins answer 503 and the resource is
    /// not Ready). The operator owns the stored directory: removing this
    /// field removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySpec>,
    /// The OpenID Connect provider users sign in at, for `auth: oidc`
    /// (without it, sign-ins answer 503 and the resource is not Ready). The
    /// operator owns the stored provider: removing this field removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_provider: Option<OidcProviderSpec>,
    /// The SAML 2.0 identity provider users sign in at, for `auth: saml`
    /// (without it, sign-ins answer 503 and the resource is not Ready). The
    /// operator owns the stored settings: removing this field removes them
    /// with the SP key pairs. The key pairs are generated once, when the
    /// settings are first stored, and kept across spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlSpec>,
    /// Issuers whose signed JWTs (RFC 7523 assertions) speak for users of
    /// this contact center. The operator owns the contact center's list:
    /// issuers added another way are removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["issuer".into()]))]
    pub trusted_issuers: Vec<TrustedIssuerSpec>,
}

/// An LDAP or Active Directory server and how users are found and bound.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.bindMode != 'direct' || (has(self.bindDnTemplate) && !has(self.serviceDn) && !has(self.bindPasswordSecretRef))").message("bindMode direct takes bindDnTemplate, not serviceDn or bindPasswordSecretRef"))]
#[x_kube(validation = Rule::new("self.bindMode != 'searchThenBind' || (has(self.serviceDn) && has(self.bindPasswordSecretRef) && !has(self.bindDnTemplate))").message("bindMode searchThenBind takes serviceDn and bindPasswordSecretRef, not bindDnTemplate"))]
#[x_kube(validation = Rule::new("!(has(self.caCertificate) && has(self.caCertificateFrom))").message("give caCertificate or caCertificateFrom, not both"))]
pub struct DirectorySpec {
    /// `ldap://` or `ldaps://` URLs, tried in order.
    #[schemars(length(max = 8), inner(length(max = 512)))]
    #[x_kube(
        validation = Rule::new("self.size() > 0").message("urls needs at least one URL"),
        validation = Rule::new("self.all(u, u.matches('^ldaps?://.+'))").message("each url must be ldap:// or ldaps://")
    )]
    pub urls: Vec<String>,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM of the CA that signed the server's certificate (default: the
    /// system's roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub ca_certificate: Option<String>,
    /// The CA's PEM from a ConfigMap or Secret key instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_from: Option<CaCertificateSource>,
    /// `direct` (bind as `bindDnTemplate`) or `searchThenBind` (find the
    /// user as `serviceDn`, then bind as the user).
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['direct', 'searchThenBind']").message("bindMode must be direct or searchThenBind"))]
    pub bind_mode: String,
    /// `direct`: the user's DN or AD UPN with `{username}`, e.g.
    /// `uid={username},ou=people,dc=example,dc=com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.contains('{username}')").message("bindDnTemplate must contain {username}"))]
    pub bind_dn_template: Option<String>,
    /// `searchThenBind`: the service account that finds users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub service_dn: Option<String>,
    /// `searchThenBind`: the service account's password, from a Secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password_secret_ref: Option<SecretKeyRef>,
    /// Where users (and groups) are searched.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("baseDn must not be empty"))]
    pub base_dn: String,
    /// Finds the user; `{username}` is replaced.
    #[serde(default = "default_user_filter")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.contains('{username}')").message("userFilter must contain {username}"))]
    pub user_filter: String,
    /// Finds the user's groups; `{dn}` is the user's DN.
    #[serde(default = "default_group_filter")]
    #[schemars(length(max = 1024))]
    pub group_filter: String,
    /// Which attributes fill the user record.
    #[serde(default)]
    pub attributes: DirectoryAttributes,
    /// Members of the group (DN or CN, ignoring case) get the authority.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub group_authorities: Vec<GroupAuthority>,
    /// Bound on connecting and on each operation, milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[x_kube(validation = Rule::new("self >= 100 && self <= 60000").message("timeoutMs must be from 100 to 60000"))]
    pub timeout_ms: i64,
    /// Idle service-account connections kept.
    #[serde(default = "default_pool_size")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 64").message("poolSize must be from 0 to 64"))]
    pub pool_size: i64,
    /// Active Directory: passwords change through `unicodePwd`.
    #[serde(default)]
    pub active_directory: bool,
}

/// An OpenID Connect provider Tollgate is a relying party of; the same
/// fields as the Environment API's `oidc-provider`, with the client secret
/// by Secret reference.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.groupAuthorities) || size(self.groupAuthorities) == 0 || has(self.groupsClaim)").message("groupAuthorities needs groupsClaim"))]
pub struct OidcProviderSpec {
    /// The provider's issuer (`<issuer>/.well-known/openid-configuration`):
    /// `https://`, or `http://` on a loopback address for tests.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://127.0.0.1') || self.startsWith('http://localhost') || self.startsWith('http://[::1]')").message("issuer must be an https:// URL (http:// only on a loopback address)"))]
    pub issuer: String,
    /// Tollgate's client id at the provider.
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("clientId must not be empty"))]
    pub client_id: String,
    /// The client secret, from a Secret key (sealed at rest by the store).
    pub client_secret_ref: SecretKeyRef,
    /// `client_secret_basic` or `client_secret_post`.
    #[serde(default = "default_client_authentication")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self in ['client_secret_basic', 'client_secret_post']").message("clientAuthentication must be client_secret_basic or client_secret_post"))]
    pub client_authentication: String,
    /// Requested scopes; must include `openid`.
    #[serde(default = "default_scopes")]
    #[schemars(length(max = 32), inner(length(max = 200)))]
    #[x_kube(validation = Rule::new("'openid' in self").message("scopes must include openid"))]
    pub scopes: Vec<String>,
    /// Which claims fill the signed-in user.
    #[serde(default)]
    pub claims: OidcClaimsSpec,
    /// The claim listing the user's groups (a string array), for `groupAuthorities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub groups_claim: Option<String>,
    /// Users in the group get the authority.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub group_authorities: Vec<GroupAuthority>,
    /// Create users the contact center does not know as built-in users
    /// (only without an LDAP directory).
    #[serde(default)]
    pub just_in_time: bool,
    /// Extra authorization request parameters, e.g. `{prompt: login}`.
    #[serde(default)]
    pub authorize_params: std::collections::BTreeMap<String, String>,
}

/// The SAML settings: the same fields as the Environment API's `saml`, with
/// the IdP metadata inline, from a ConfigMap key or from a URL.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.idpMetadata) ? 1 : 0) + (has(self.idpMetadataConfigMapRef) ? 1 : 0) + (has(self.idpMetadataUrl) ? 1 : 0) == 1").message("saml takes exactly one of idpMetadata, idpMetadataConfigMapRef and idpMetadataUrl"))]
pub struct SamlSpec {
    /// The IdP's SAML metadata XML (`md:EntityDescriptor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 524288))]
    pub idp_metadata: Option<String>,
    /// The IdP's metadata from a ConfigMap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_config_map_ref: Option<ConfigMapKeyRef>,
    /// An `https://` URL the metadata is fetched from when it changes here;
    /// Tollgate then fetches it again on a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://')").message("idpMetadataUrl must be an https:// URL"))]
    pub idp_metadata_url: Option<String>,
    /// The assertion attribute naming the user (default: the NameID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("usernameAttribute must not be empty"))]
    pub username_attribute: Option<String>,
    /// The name is the user's external id.
    #[serde(default)]
    pub use_external_user_id: bool,
    /// Only users whose assertion carries this attribute value may sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_group: Option<SamlAccessGroupSpec>,
    /// How the AuthnRequest is sent: `post` or `redirect`.
    #[serde(default = "default_binding")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['post', 'redirect']").message("binding must be post or redirect"))]
    pub binding: String,
    /// Create users the contact center does not know on first sign-in.
    #[serde(default)]
    pub just_in_time_users: bool,
    /// Accept unsolicited (IdP-initiated) answers; off, only answers to
    /// Tollgate's own requests sign users in.
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlAccessGroupSpec {
    /// The assertion attribute holding group names.
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("accessGroup.attribute must not be empty"))]
    pub attribute: String,
    /// The value the attribute must contain.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("accessGroup.value must not be empty"))]
    pub value: String,
}

/// ID token (or userinfo) claim names.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcClaimsSpec {
    /// The claim naming the user: `preferred_username`, `email` or `sub`.
    #[serde(default = "default_username_claim")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self in ['preferred_username', 'email', 'sub']").message("claims.username must be preferred_username, email or sub"))]
    pub username: String,
    #[serde(default = "default_first_name_claim")]
    #[schemars(length(max = 200))]
    pub first_name: String,
    #[serde(default = "default_last_name_claim")]
    #[schemars(length(max = 200))]
    pub last_name: String,
    #[serde(default = "default_email_claim")]
    #[schemars(length(max = 200))]
    pub email: String,
}

impl Default for OidcClaimsSpec {
    fn default() -> Self {
        OidcClaimsSpec {
            username: default_username_claim(),
            first_name: default_first_name_claim(),
            last_name: default_last_name_claim(),
            email: default_email_claim(),
        }
    }
}

/// A ConfigMap or a Secret key, exactly one.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMapKeyRef) != has(self.secretKeyRef)").message("caCertificateFrom takes exactly one of configMapKeyRef and secretKeyRef"))]
pub struct CaCertificateSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// LDAP attribute names for the user record.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryAttributes {
    #[serde(default = "default_dbid")]
    pub dbid: String,
    #[serde(default = "default_first_name")]
    pub first_name: String,
    #[serde(default = "default_last_name")]
    pub last_name: String,
    #[serde(default = "default_email")]
    pub email: String,
    /// Attributes copied into the user's properties.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub properties: Vec<PropertyMapping>,
}

impl Default for DirectoryAttributes {
    fn default() -> Self {
        DirectoryAttributes {
            dbid: default_dbid(),
            first_name: default_first_name(),
            last_name: default_last_name(),
            email: default_email(),
            properties: Vec::new(),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropertyMapping {
    pub attribute: String,
    pub property: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupAuthority {
    /// The group's DN or CN.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("group must not be empty"))]
    pub group: String,
    #[schemars(length(max = 256))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("authority must not be empty"))]
    pub authority: String,
}

/// An issuer of RFC 7523 assertions and the keys its JWTs are checked with.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.jwks) || has(self.jwksUri)").message("a trusted issuer needs jwks, jwksUri or both"))]
pub struct TrustedIssuerSpec {
    /// The `iss` of its assertions, exactly.
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("issuer must not be empty"))]
    pub issuer: String,
    /// Static public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "jwk_set_schema")]
    pub jwks: Option<serde_json::Value>,
    /// Keys fetched over HTTPS (plain http only for localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub jwks_uri: Option<String>,
    /// Accepted JWS algorithms (asymmetric only).
    #[serde(default = "trusted_issuer::default_algorithms")]
    #[schemars(length(max = 9), inner(length(max = 8)))]
    #[x_kube(
        validation = Rule::new("self.size() > 0").message("algorithms must not be empty"),
        validation = Rule::new("self.all(a, a in ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'])").message("algorithms must be RS256/384/512, PS256/384/512, ES256/384 or EdDSA")
    )]
    pub algorithms: Vec<String>,
    /// Longest accepted assertion life (`exp - iat`), seconds.
    #[serde(default = "default_max_lifetime")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 86400").message("maxLifetime must be from 1 to 86400 seconds"))]
    pub max_lifetime: i64,
}

fn default_auth() -> String {
    "configServer".into()
}
fn default_second_factor() -> String {
    "off".into()
}
fn default_enabled() -> bool {
    true
}
fn default_user_filter() -> String {
    ldap::DEFAULT_USER_FILTER.into()
}
fn default_group_filter() -> String {
    ldap::DEFAULT_GROUP_FILTER.into()
}
fn default_timeout_ms() -> i64 {
    ldap::DEFAULT_TIMEOUT_MS
}
fn default_pool_size() -> i64 {
    ldap::DEFAULT_POOL_SIZE
}
fn default_dbid() -> String {
    tollgate_store::model::LdapAttributes::default().dbid
}
fn default_first_name() -> String {
    tollgate_store::model::LdapAttributes::default().first_name
}
fn default_last_name() -> String {
    tollgate_store::model::LdapAttributes::default().last_name
}
fn default_email() -> String {
    tollgate_store::model::LdapAttributes::default().email
}
fn default_client_authentication() -> String {
    OidcClientAuth::ClientSecretBasic.as_str().into()
}
fn default_scopes() -> Vec<String> {
    oidc::DEFAULT_SCOPES.map(String::from).to_vec()
}
fn default_username_claim() -> String {
    OidcClaims::default().username
}
fn default_first_name_claim() -> String {
    OidcClaims::default().first_name
}
fn default_last_name_claim() -> String {
    OidcClaims::default().last_name
}
fn default_email_claim() -> String {
    OidcClaims::default().email
}
fn default_binding() -> String {
    "post".into()
}
fn default_max_lifetime() -> i64 {
    trusted_issuer::DEFAULT_MAX_LIFETIME
}

#[cfg(test)]
mod tests {
    use kube::core::CustomResourceExt;
    use tollgate_store::validate::ASYMMETRIC;

    /// The schema's list of algorithms is the store's, no more and no less.
    #[test]
    fn the_algorithm_rule_lists_exactly_the_accepted_algorithms() {
        let crd = serde_json::to_value(super::ContactCenter::crd()).unwrap();
        let rules = crd.pointer(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/trustedIssuers/items/properties/algorithms/x-kubernetes-validations",
        )
        .and_then(|v| v.as_array())
        .expect("rules on algorithms");
        let rule = rules
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .find(|r| r.contains(" in ["))
            .expect("the membership rule");
        let listed: Vec<&str> = rule
            .split('[')
            .nth(1)
            .and_then(|s| s.split(']').next())
            .unwrap()
            .split(',')
            .map(|a| a.trim().trim_matches('\''))
            .collect();
        assert_eq!(listed, ASYMMETRIC);
    }
}
