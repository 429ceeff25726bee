//! [`FlyClient`]: one HTTP attempt loop shared by every call (pacing, auth, retries, metrics,
//! tracing), and the calls themselves grouped by resource in `client/`.

mod apps;
mod leases;
mod machines;
mod secrets;
mod volumes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, Span, field};
use url::Url;

use crate::auth::{InvalidToken, authorization_header};
use crate::config::FlyClientConfig;
use crate::error::{Endpoint, FlyError, FlyErrorKind};
use crate::rate_limit::Limiter;
use crate::retry::RetryPolicy;
use crate::types::LeaseNonce;

pub use machines::ListMachines;

/// The header that proves a lease is held (fly.md §2.5).
const LEASE_NONCE_HEADER: &str = "fly-machine-lease-nonce";
/// Fly's request id, for support tickets (fly.md §2.7).
const REQUEST_ID_HEADER: &str = "fly-request-id";

/// A Machines API client. Cheap to clone (an `Arc` inside); clones share the HTTP connection
/// pool and the rate-limit buckets, so share one client per process to keep the pacing honest.
#[derive(Clone)]
pub struct FlyClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    auth: HeaderValue,
    org_slug: String,
    limiter: Limiter,
    retry: RetryPolicy,
    timeout: Duration,
}

impl std::fmt::Debug for FlyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlyClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("org_slug", &self.inner.org_slug)
            .finish_non_exhaustive()
    }
}

/// Why a [`FlyClient`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    /// The token is empty or unusable in a header.
    #[error(transparent)]
    Token(#[from] InvalidToken),
    /// The base URL cannot carry paths (e.g. `mailto:`).
    #[error(
        "the Fly API base URL {0:?} cannot be used; use e.g. https://api.machines.dev \
         or http://_api.internal:4280"
    )]
    BaseUrl(String),
    /// The HTTP client could not be set up (TLS roots, user agent).
    #[error("could not set up the HTTP client for the Fly API: {0}")]
    Http(#[from] reqwest::Error),
}

impl FlyClient {
    /// Builds a client. Fails on an empty or malformed token or an unusable base URL, before
    /// any request is sent.
    pub fn new(config: FlyClientConfig) -> Result<Self, ClientBuildError> {
        let auth = authorization_header(&config.token)?;
        if config.base_url.cannot_be_a_base() {
            return Err(ClientBuildError::BaseUrl(config.base_url.to_string()));
        }
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.timeout)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.base_url,
                auth,
                org_slug: config.org_slug,
                limiter: Limiter::new(&config.rate_limits),
                retry: config.retry,
                timeout: config.timeout,
            }),
        })
    }

    /// The organization this client creates and lists apps in.
    pub fn org_slug(&self) -> &str {
        &self.inner.org_slug
    }

    /// `base_url` + `/v1/<segments…>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1").extend(segments);
        }
        url
    }

    /// Sends `call` and parses a JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, FlyError> {
        let endpoint = call.endpoint;
        let answer = self.execute(call).await?;
        serde_json::from_slice(&answer.body).map_err(|e| {
            let mut err = FlyError::new(
                endpoint,
                FlyErrorKind::Other,
                format!("the answer is not the documented JSON: {e}"),
            );
            err.status = Some(answer.status);
            err.request_id = answer.request_id;
            err
        })
    }

    /// Sends `call` and ignores the answer's body.
    async fn send(&self, call: Call<'_>) -> Result<(), FlyError> {
        self.execute(call).await.map(drop)
    }

    /// The attempt loop: pace, send, classify, maybe retry.
    async fn execute(&self, call: Call<'_>) -> Result<Answer, FlyError> {
        let span = tracing::info_span!(
            "fly_api",
            endpoint = call.endpoint.as_str(),
            app = call.app.unwrap_or(""),
            machine_id = call.machine.unwrap_or(""),
            attempt = field::Empty,
            status = field::Empty,
            request_id = field::Empty,
        );
        async {
            let mut attempt = 1;
            loop {
                let result = self.attempt(&call, attempt).await;
                let err = match result {
                    Ok(answer) => return Ok(answer),
                    Err(err) => err,
                };
                // The wait endpoint answers 408 when its server-side timeout passes; that is
                // the caller's loop condition, not a failure (fly.md §2.3).
                let wait_timeout =
                    call.endpoint == Endpoint::MachineWait && err.status == Some(408);
                let delay = if wait_timeout {
                    None
                } else {
                    self.inner.retry.next_delay(call.endpoint, attempt, &err)
                };
                let Some(delay) = delay else {
                    if err.is_ambiguous() {
                        tracing::warn!(
                            error = %err,
                            "ambiguous failure: the request may have taken effect; look before repeating it"
                        );
                    }
                    return Err(err);
                };
                tracing::warn!(
                    error = %err,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "Fly API call failed; retrying"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, call: &Call<'_>, attempt: u32) -> Result<Answer, FlyError> {
        let span = Span::current();
        span.record("attempt", attempt);
        self.inner.limiter.until_ready(call.endpoint).await;

        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, self.inner.auth.clone())
            .timeout(self.inner.timeout + call.extra_timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(nonce) = call.lease {
            request = request.header(LEASE_NONCE_HEADER, nonce.as_str());
        }

        let started = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let request_id = header_str(response.headers(), REQUEST_ID_HEADER);
                let retry_after = retry_after(response.headers());
                span.record("status", status);
                if let Some(id) = &request_id {
                    span.record("request_id", id.as_str());
                }
                match response.bytes().await {
                    Ok(body) if (200..300).contains(&status) => Ok(Answer {
                        status,
                        request_id,
                        body,
                    }),
                    Ok(body) => Err(FlyError::from_response(
                        call.endpoint,
                        status,
                        request_id,
                        retry_after,
                        &body,
                    )),
                    Err(e) => {
                        let mut err = FlyError::from_transport(call.endpoint, &e);
                        err.status = Some(status);
                        err.request_id = request_id;
                        Err(err)
                    }
                }
            }
            Err(e) => Err(FlyError::from_transport(call.endpoint, &e)),
        };
        record_metrics(call.endpoint, &result, started.elapsed());
        if let Ok(answer) = &result {
            tracing::debug!(status = answer.status, "Fly API call succeeded");
        }
        result
    }
}

/// One Machines API request, described once and sent as often as the retry policy allows.
struct Call<'a> {
    endpoint: Endpoint,
    method: Method,
    url: Url,
    body: Option<Bytes>,
    lease: Option<&'a LeaseNonce>,
    app: Option<&'a str>,
    machine: Option<&'a str>,
    /// Added to the configured timeout (the wait endpoint holds the request open).
    extra_timeout: Duration,
}

impl<'a> Call<'a> {
    fn new(endpoint: Endpoint, method: Method, url: Url) -> Self {
        Self {
            endpoint,
            method,
            url,
            body: None,
            lease: None,
            app: None,
            machine: None,
            extra_timeout: Duration::ZERO,
        }
    }

    /// Serializes `body` once; retries resend the same bytes.
    fn body(mut self, body: &impl Serialize) -> Result<Self, FlyError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            FlyError::new(
                self.endpoint,
                FlyErrorKind::Other,
                format!("could not encode the request: {e}"),
            )
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    fn app(mut self, app: &'a str) -> Self {
        self.app = Some(app);
        self
    }

    fn machine(mut self, app: &'a str, machine: &'a str) -> Self {
        self.app = Some(app);
        self.machine = Some(machine);
        self
    }

    fn lease(mut self, lease: Option<&'a LeaseNonce>) -> Self {
        self.lease = lease;
        self
    }
}

/// A 2xx answer.
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Bytes,
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` in seconds (Fly has not been seen sending the HTTP-date form; fly.md §2.7).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// `roost_fly_api_requests_total{endpoint,status}` and
/// `roost_fly_api_request_duration_seconds{endpoint}`, once per attempt. `status` is the HTTP
/// status, or `timeout` / `connect` / `transport` when Fly never answered.
fn record_metrics(endpoint: Endpoint, result: &Result<Answer, FlyError>, elapsed: Duration) {
    let status = match result {
        Ok(answer) => answer.status.to_string(),
        Err(err) => match err.status {
            Some(status) => status.to_string(),
            None if err.not_sent => "connect".to_owned(),
            None if err.message.starts_with("timed out") => "timeout".to_owned(),
            None => "transport".to_owned(),
        },
    };
    metrics::counter!(
        "roost_fly_api_requests_total",
        "endpoint" => endpoint.as_str(),
        "status" => status,
    )
    .increment(1);
    metrics::histogram!(
        "roost_fly_api_request_duration_seconds",
        "endpoint" => endpoint.as_str(),
    )
    .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> FlyClient {
        FlyClient::new(FlyClientConfig::new(base.parse().unwrap(), "fm2_x", "org")).unwrap()
    }

    #[test]
    fn paths_go_under_v1_of_the_base_url_with_segments_encoded() {
        let url = client("http://_api.internal:4280").url(&["apps", "a b/c", "machines"]);
        assert_eq!(
            url.as_str(),
            "http://_api.internal:4280/v1/apps/a%20b%2Fc/machines"
        );
        let url = client("http://localhost:9000/fly/").url(&["apps"]);
        assert_eq!(url.as_str(), "http://localhost:9000/fly/v1/apps");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn debug_shows_where_not_how_it_authenticates() {
        let text = format!("{:?}", client("https://api.machines.dev"));
        assert!(text.contains("api.machines.dev"), "{text}");
        assert!(!text.contains("fm2_x"), "{text}");
    }
}
