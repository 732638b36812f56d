//! The HTTP generator against a real local HTTP server that fails first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adsched::run::generator::Generator;
use adsched::run::http::{HttpGenerator, RetryPolicy};
use adsched::run::protocol::GenerateRequest;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Seen {
    calls: u32,
    keys: Vec<String>,
    ad_runs: Vec<String>,
    had_content: Vec<bool>,
}

type Shared = Arc<Mutex<Seen>>;

/// Fails the first two calls (503, then 429 with Retry-After: 1), then makes
/// one ad run per idempotency key and answers the same run for repeats.
async fn generate(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    let mut s = seen.lock().unwrap();
    s.calls += 1;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    s.keys.push(key.clone());
    s.had_content.push(
        req["template"]["content_base64"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
    );
    match s.calls {
        1 => return (StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response(),
        2 => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", "1")],
                "slow down",
            )
                .into_response()
        }
        _ => {}
    }
    let ad_run = format!("ar-{}", key.len());
    if !s.ad_runs.contains(&key) {
        s.ad_runs.push(key.clone());
    }
    Json(json!({"ad_run_id": ad_run, "images": [{"url": "https://cdn.example/ads/1.png"}, {"url": "https://cdn.example/ads/2.png", "status": "rejected"}]})).into_response()
}

async fn bad_request() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        "num_variations must be at most 15",
    )
        .into_response()
}

/// A request as the wire JSON of SPEC 5.
fn request() -> GenerateRequest {
    serde_json::from_value(json!({"schedule_id": "s", "run_id": "r1", "idempotency_key": "r1/t1.png",
           "product": {"id": "p", "name": "P", "brand": {"id": "b", "name": "B"}, "hooks": [], "colors": null},
           "template": {"name": "t1.png", "path": "/x/t1.png", "media_type": "image/png", "content_base64": "aGk="},
           "parameters": {"num_variations": 2}, "output_dir": "/tmp"}))
    .unwrap()
}

#[tokio::test]
async fn retries_refused_503_and_429_then_succeeds_with_one_idempotency_key() {
    // Reserve a port, and start the server on it only after the first attempts were refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route("/generate", post(generate))
        .with_state(seen.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    let policy = RetryPolicy {
        attempts: 10,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };
    let g = HttpGenerator::new(
        &format!("http://127.0.0.1:{port}/generate"),
        Duration::from_secs(10),
        policy,
    )
    .unwrap();
    let notes = Mutex::new(Vec::<String>::new());
    let log = |m: &str| notes.lock().unwrap().push(m.to_string());
    let started = std::time::Instant::now();
    let resp = g.generate(&request(), &log).await.unwrap();
    assert_eq!(resp.ad_run_id, "ar-9");
    assert_eq!(resp.images.len(), 2);
    let s = seen.lock().unwrap();
    assert_eq!(s.calls, 3, "503, 429, then success");
    assert!(s.keys.iter().all(|k| k == "r1/t1.png"), "{:?}", s.keys);
    assert_eq!(s.ad_runs.len(), 1, "one ad run for the template");
    assert!(
        s.had_content.iter().all(|c| *c),
        "the template travels as content_base64"
    );
    let notes = notes.lock().unwrap();
    assert!(
        notes.iter().any(|n| n.contains("cannot reach")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("503")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("429")), "{notes:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn a_4xx_fails_at_once_with_the_servers_message() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/generate", post(bad_request));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let g = HttpGenerator::new(
        &format!("http://127.0.0.1:{port}/generate"),
        Duration::from_secs(10),
        RetryPolicy::default(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = g
        .generate(&request(), &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("422") && err.contains("at most 15"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no retry for a 4xx"
    );
}
