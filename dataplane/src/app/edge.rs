//! What every request goes through: its deadline, the API's shape for a
//! bare 405, and its RED metrics.
//!
//! A layer of its own rather than `axum::middleware::from_fn`: it is on
//! every request, and `from_fn` clones and boxes the service stack beneath
//! it each time.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::time::Timeout;
use tollgate_core::metrics::RouteLabels;
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::AppState;
use tower::{Layer, Service};

use crate::web::envelope::ApiError;
use crate::web::oauth_error::OAuthResponse;

/// The endpoints of RFC 6749 / 7009 / 7662 answer errors in OAuth form.
const OAUTH_ENDPOINTS: [&str; 3] = [
    "/auth/v3/oauth/token",
    "/auth/v3/oauth/introspect",
    "/auth/v3/oauth/revoke",
];

#[derive(Clone)]
pub struct EdgeLayer {
    state: AppState,
    /// `--request-timeout`.
    limit: Duration,
}

impl EdgeLayer {
    pub fn new(state: AppState) -> EdgeLayer {
        let limit = Duration::from_secs(state.settings.request_timeout.unsigned_abs().max(1));
        EdgeLayer { state, limit }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            edge: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    edge: EdgeLayer,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_string();
        let asked = Asked {
            route,
            method: method_label(req.method()),
            oauth: OAUTH_ENDPOINTS.contains(&req.uri().path()),
            started: Instant::now(),
        };
        EdgeFuture {
            answer: tokio::time::timeout(self.edge.limit, self.inner.call(req)),
            asked,
            edge: self.edge.clone(),
        }
    }
}

/// What the response's handling needs to know of its request.
struct Asked {
    route: String,
    method: &'static str,
    oauth: bool,
    started: Instant,
}

pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        answer: Timeout<F>,
        asked: Asked,
        edge: EdgeLayer,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let asked = this.asked;
        let res = match ready!(this.answer.poll(cx)) {
            Ok(Ok(res)) if res.status() == StatusCode::METHOD_NOT_ALLOWED => {
                shape_method_not_allowed(&res, asked.oauth)
            }
            Ok(Ok(res)) => res,
            Ok(Err(never)) => match never {},
            Err(_elapsed) => timed_out(this.edge.limit, asked.oauth),
        };
        // RED metrics: latency by route template, method and status class
        // (`tollgate_http_request_duration_seconds`).
        let labels = RouteLabels {
            route: std::mem::take(&mut asked.route),
            method: asked.method,
            status: status_class(res.status()),
        };
        this.edge
            .state
            .metrics
            .http_requests
            .get_or_create(&labels)
            .observe(asked.started.elapsed().as_secs_f64());
        Poll::Ready(Ok(res))
    }
}

/// A request not answered within `--request-timeout` gets 503 with
/// `Retry-After`, in its API's shape: a dependency that stops answering (a
/// network black hole) cannot hold requests, and their tasks, forever.
fn timed_out(limit: Duration, oauth: bool) -> Response {
    tracing::warn!(timeout_s = limit.as_secs(), "request timed out");
    if oauth {
        return OAuthResponse(OAuthError::temporarily_unavailable(2)).into_response();
    }
    ApiError {
        retry_after: Some(2),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "request timed out")
    }
    .into_response()
}

/// Gives axum's bare 405 a body, keeping its `Allow` header. At the edge
/// rather than as a method fallback: a router's own layers (CORS preflight)
/// must still see the methods it does not route.
fn shape_method_not_allowed(res: &Response, oauth: bool) -> Response {
    let message = "method not allowed on this endpoint";
    let mut shaped = if oauth {
        OAuthResponse(OAuthError::method_not_allowed(message)).into_response()
    } else {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message).into_response()
    };
    if let Some(allow) = res.headers().get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// A standard method, or `other`: callers cannot make new series.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
