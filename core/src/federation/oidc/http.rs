//! The relying party's HTTP client: `openidconnect`'s async client trait over
//! the workspace's reqwest, so the crate needs no HTTP stack of its own.
//! Redirects are not followed (a provider's endpoints are exact URLs),
//! answers are bounded in time and size, and only addresses the outbound
//! policy allows are reached (the discovery document names the endpoints).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::{http, AsyncHttpClient, HttpRequest, HttpResponse};
use tollgate_store::metrics::{Dependency, DependencyTimes};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents, JWK sets and token answers are small.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request to the provider failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the provider's answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the provider's answer cannot be read: {0}")]
    Malformed(#[from] http::Error),
    #[error(transparent)]
    Refused(#[from] crate::outbound::Refused),
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    outbound: Arc<crate::outbound::Policy>,
    times: DependencyTimes,
}

impl Http {
    pub fn new(outbound: &Arc<crate::outbound::Policy>, times: DependencyTimes) -> Self {
        Http {
            client: outbound
                .client_builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            outbound: outbound.clone(),
            times,
        }
    }

    /// A GET with a bearer token (userinfo), the body as JSON.
    pub async fn get_json(
        &self,
        url: &str,
        bearer: &str,
    ) -> Result<(u16, serde_json::Value), HttpError> {
        let call = self.get_json_untimed(url, bearer);
        self.times.time(Dependency::IdentityProvider, call).await
    }

    async fn get_json_untimed(
        &self,
        url: &str,
        bearer: &str,
    ) -> Result<(u16, serde_json::Value), HttpError> {
        self.outbound.check_url(url).await?;
        let res = self
            .client
            .get(url)
            .bearer_auth(bearer)
            .header("accept", "application/json")
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = read_bounded(res).await?;
        Ok((
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ))
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let call = self.send_untimed(request);
        self.times.time(Dependency::IdentityProvider, call).await
    }

    async fn send_untimed(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        self.outbound.check_url(&parts.uri.to_string()).await?;
        let res = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut builder = http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            builder = builder.header(name, value);
        }
        let body = read_bounded(res).await?;
        Ok(builder.body(body)?)
    }
}

async fn read_bounded(mut res: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
