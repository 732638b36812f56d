//! The `http(s)://` generator: POSTs the SPEC 5 request (the template as
//! `content_base64`, since the ad API runs elsewhere) and reads JSON back.
//! Transient failures — connection errors, 429, 5xx — are retried with
//! exponential backoff and jitter, honouring `Retry-After`; the same
//! `Idempotency-Key` travels with every attempt, so the API makes one ad
//! run per template however often we ask.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;

use super::generator::{GenFuture, Generator, GeneratorError, LogFn};
use super::protocol::{GenerateRequest, GenerateResponse, ProtocolError};
use crate::export::Failure;

/// Why a call to the ad API failed. The messages hold the underlying
/// error's text, so it is not also a `source`: a report walking the chain
/// would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// reqwest could not set up its client (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    /// No connection, or it broke; with every cause in the chain, since
    /// reqwest's own text is often just "error sending request".
    #[error("cannot reach the ad API: {}", error_chain(.0))]
    Unreachable(reqwest::Error),
    /// A success status whose body could not be read.
    #[error("reading the ad API's answer: {0}")]
    ReadAnswer(reqwest::Error),
    /// A success status whose body is not a SPEC 5 response.
    #[error(transparent)]
    Response(ProtocolError),
    /// 429 or 5xx: worth another attempt.
    #[error("the ad API answered {status}: {detail}")]
    Busy {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        detail: String,
    },
    /// Another status that is not a success: the request is refused.
    #[error("the ad API refused the request ({status}): {detail}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        detail: String,
    },
    /// Every attempt failed transiently; `last` is the last attempt's error.
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp {
        /// The last error.
        last: Box<HttpError>,
        /// Attempts made.
        attempts: u32,
    },
}

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

impl RetryPolicy {
    /// The un-jittered delays: `base`, doubling, one fewer than `attempts`.
    /// No cap here: [`RetryPolicy::wait`] caps after jitter, as the cap
    /// bounds the actual wait.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(self.base)
            .with_factor(2.0)
            .without_max_delay()
            .with_max_times(self.attempts.saturating_sub(1) as usize)
    }

    /// The wait before a retry: the server's `Retry-After` if it sent one,
    /// else 50–100 % of the exponential delay `exp` (jitter spreads retries
    /// from many runs), never above `cap`. backon's own jitter adds 0–100 %
    /// on top of the delay, after its cap, so it is not used.
    fn wait(&self, exp: Duration, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or_else(|| exp.mul_f64(0.5 + jitter_fraction() / 2.0))
            .min(self.cap)
    }
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
    pub fn new(url: &str, timeout: Duration, policy: RetryPolicy) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("adsched/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HttpError::Client)?;
        Ok(HttpGenerator {
            url: url.to_string(),
            client,
            policy,
        })
    }
}

/// A fraction in [0, 1) from std's randomly keyed hasher: enough to spread
/// retries, without a random-number crate.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
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
            let body = serde_json::to_vec(request).map_err(GeneratorError::Encode)?;
            let body = &body;
            let attempts = &AtomicU32::new(0);
            let call = move || async move {
                attempts.fetch_add(1, Ordering::Relaxed);
                let sent = self
                    .client
                    .post(&self.url)
                    .header("Idempotency-Key", key)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let resp = sent.map_err(|e| Failure::Transient(HttpError::Unreachable(e), None))?;
                let status = resp.status();
                if status.is_success() {
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| Failure::Permanent(HttpError::ReadAnswer(e)))?;
                    return GenerateResponse::from_slice(&body, "the ad API's answer is not JSON")
                        .map_err(|e| Failure::Permanent(HttpError::Response(e)));
                }
                let hint = retry_after(&resp);
                let text = resp.text().await.unwrap_or_default();
                let detail: String = text.chars().take(300).collect();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    Err(Failure::Transient(HttpError::Busy { status, detail }, hint))
                } else {
                    Err(Failure::Permanent(HttpError::Refused { status, detail }))
                }
            };
            let answer = call
                .retry(self.policy.backoff())
                .when(Failure::is_transient)
                .adjust(|f, exp| exp.map(|d| self.policy.wait(d, f.retry_after())))
                .notify(|f, wait| {
                    log(&format!(
                        "{}; retrying in {:.1}s (attempt {} of {})",
                        f.error(),
                        wait.as_secs_f64(),
                        attempts.load(Ordering::Relaxed) + 1,
                        self.policy.attempts
                    ))
                })
                .await;
            answer.map_err(|f| {
                GeneratorError::Http(match f {
                    Failure::Permanent(e) => e,
                    Failure::Transient(last, _) => HttpError::GaveUp {
                        last: Box::new(last),
                        attempts: attempts.load(Ordering::Relaxed),
                    },
                })
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn default_policy_waits_as_spec_5_says() {
        let p = RetryPolicy::default();
        let exp: Vec<Duration> = p.backoff().build().collect();
        // Five attempts: four waits, from 2 s, doubling.
        assert_eq!(exp, [2, 4, 8, 16].map(Duration::from_secs));
        for _ in 0..100 {
            for d in &exp {
                let w = p.wait(*d, None);
                assert!(w >= *d / 2 && w <= *d, "{w:?} for {d:?}");
            }
            // Jitter never lifts a wait above the cap.
            let w = p.wait(Duration::from_secs(100), None);
            assert!(w >= Duration::from_secs(50) && w <= p.cap, "{w:?}");
        }
        // Retry-After wins over the backoff, up to the cap.
        assert_eq!(
            p.wait(Duration::from_secs(2), Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.wait(Duration::from_secs(2), Some(Duration::from_secs(600))),
            p.cap
        );
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        assert_eq!(once.backoff().build().next(), None, "no retry");
    }
}
