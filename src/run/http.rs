//! The `http(s)://` generator: POSTs the SPEC 5 request (the template as
//! `content_base64`, since the ad API runs elsewhere) and reads JSON back.
//! Transient failures — connection errors, 429, 5xx — are retried with
//! exponential backoff and jitter, honouring `Retry-After`; the same
//! `Idempotency-Key` travels with every attempt, so the API makes one ad
//! run per template however often we ask.

use std::time::Duration;

use reqwest::StatusCode;

use super::generator::{GenFuture, Generator, LogFn};
use super::protocol::{GenerateRequest, GenerateResponse};

/// Retry policy of the HTTP generator.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub base: Duration,
    /// No delay is longer than this (Retry-After included).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Five tries over about a minute: long enough to ride out a deploy of
        // the ad API, short enough that one broken template does not hold the queue.
        RetryPolicy {
            attempts: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        }
    }
}

/// POSTs requests to an ad API.
pub struct HttpGenerator {
    url: String,
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl HttpGenerator {
    /// A generator for `url`, each call bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration, policy: RetryPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("adsched/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpGenerator {
            url: url.to_string(),
            client,
            policy,
        })
    }

    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.policy.base.saturating_mul(1 << (attempt - 1).min(16));
        // Full jitter on the exponential part, so retries from many runs spread out.
        let jitter = jitter_fraction(attempt);
        let d = retry_after.unwrap_or_else(|| exp.mul_f64(0.5 + jitter / 2.0));
        d.min(self.policy.cap)
    }
}

fn jitter_fraction(seed: u32) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(seed);
    (h.finish() % 1000) as f64 / 1000.0
}

/// Reads `Retry-After` as seconds (the HTTP-date form is rare for APIs).
pub fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Generator for HttpGenerator {
    fn name(&self) -> String {
        format!("http generator {}", self.url)
    }

    fn wants_content(&self) -> bool {
        true
    }

    fn generate<'a>(&'a self, request: &'a GenerateRequest, log: LogFn<'a>) -> GenFuture<'a> {
        Box::pin(async move {
            let key = &request.idempotency_key;
            // Encoded once: every attempt sends the same bytes.
            let body = serde_json::to_vec(request)
                .map_err(|e| format!("cannot encode the generator request: {e}"))?;
            let mut attempt = 1;
            loop {
                let sent = self
                    .client
                    .post(&self.url)
                    .header("Idempotency-Key", key)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let (why, wait_hint) = match sent {
                    Err(e) => (
                        format!("cannot reach the ad API: {}", error_chain(&e)),
                        None,
                    ),
                    Ok(resp) => {
                        let status = resp.status();
                        if status.is_success() {
                            let body = resp
                                .bytes()
                                .await
                                .map_err(|e| format!("reading the ad API's answer: {e}"))?;
                            return GenerateResponse::from_slice(
                                &body,
                                "the ad API's answer is not JSON",
                            );
                        }
                        let hint = retry_after(&resp);
                        let body = resp.text().await.unwrap_or_default();
                        let detail: String = body.chars().take(300).collect();
                        let transient =
                            status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                        if !transient {
                            return Err(format!(
                                "the ad API refused the request ({status}): {detail}"
                            ));
                        }
                        (format!("the ad API answered {status}: {detail}"), hint)
                    }
                };
                if attempt >= self.policy.attempts {
                    return Err(format!("{why} (gave up after {attempt} attempts)"));
                }
                let wait = self.delay(attempt, wait_hint);
                log(&format!(
                    "{why}; retrying in {:.1}s (attempt {} of {})",
                    wait.as_secs_f64(),
                    attempt + 1,
                    self.policy.attempts
                ));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
