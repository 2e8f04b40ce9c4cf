//! Fetching an IdP's metadata URL, for the Environment API, the periodic
//! refresh and the operator: bounded in time and size, https only, no
//! redirects.

use std::time::Duration;

use tollgate_store::validate::saml::{check_idp_metadata_url, MAX_METADATA_BYTES};

const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How metadata URLs are fetched: the HTTP client (with any extra CA) and
/// the interval of the scheduled refresh.
pub struct MetadataRefresh {
    pub http: reqwest::Client,
    pub interval: Duration,
}

/// The client metadata URLs are fetched with: bounded in time, no
/// redirects (a redirect could leave https), the system's roots plus
/// `extra_roots_pem` (a PEM bundle: a private CA of the IdPs).
pub fn metadata_http_client(extra_roots_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    metadata_http_client_with(reqwest::Client::builder(), extra_roots_pem)
}

/// [`metadata_http_client`] from a builder of the caller's (e.g. with a DNS
/// resolver that keeps connections off internal addresses).
pub fn metadata_http_client_with(
    builder: reqwest::ClientBuilder,
    extra_roots_pem: Option<&[u8]>,
) -> Result<reqwest::Client, String> {
    let mut builder = builder
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_roots_pem {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("the IdP metadata CA bundle cannot be read: {e}"))?;
        if roots.is_empty() {
            return Err("the IdP metadata CA bundle holds no certificate".into());
        }
        builder = builder.tls_certs_merge(roots);
    }
    builder
        .build()
        .map_err(|e| format!("the IdP metadata HTTP client cannot be built: {e}"))
}

/// The document at an IdP's metadata URL (not yet checked as metadata).
/// The error says why, in words fit for an administrator.
pub async fn fetch_idp_metadata(http: &reqwest::Client, url: &str) -> Result<String, String> {
    check_idp_metadata_url(url)?;
    let cannot = |e: reqwest::Error| format!("'idpMetadataUrl' cannot be fetched: {e}");
    let mut res = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(cannot)?;
    let too_large = || format!("'idpMetadataUrl' answers more than {MAX_METADATA_BYTES} bytes");
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(cannot)? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "'idpMetadataUrl' answers with no UTF-8 XML".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_https_urls_are_fetched() {
        let http = metadata_http_client(None).unwrap();
        let err = fetch_idp_metadata(&http, "http://idp.example/metadata")
            .await
            .unwrap_err();
        assert!(err.contains("https://"), "{err}");
        let err = metadata_http_client(Some(b"no PEM here")).unwrap_err();
        assert!(err.contains("CA bundle"), "{err}");
    }
}
