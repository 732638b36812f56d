//! Slack export against a local HTTP server that speaks the Web API's
//! request and response shapes. One test function: the Slack settings are
//! process-wide environment variables.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adsched::clock::ManualClock;
use adsched::daemon::{self, Config};
use adsched::records::{Run, RunStatus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::{schedule, Project};
use serde_json::{json, Value};

const TOKEN: &str = "xoxb-secret-test-token";

#[derive(Default)]
struct Fake {
    port: u16,
    /// file id -> (declared length, uploaded length)
    files: HashMap<String, (usize, Option<usize>)>,
    completes: Vec<Value>,
    webhook_posts: Vec<Value>,
    rate_limit_next: bool,
    fail_channel: bool,
    bad_auth: u32,
}

type S = Arc<Mutex<Fake>>;

fn authed(h: &HeaderMap, f: &mut Fake) -> bool {
    let ok =
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if !ok {
        f.bad_auth += 1;
    }
    ok
}

async fn get_upload_url(State(s): State<S>, h: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    let mut f = s.lock().unwrap();
    if !authed(&h, &mut f) {
        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    if f.rate_limit_next {
        f.rate_limit_next = false;
        return (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "1")], "").into_response();
    }
    let (Some(name), Some(len)) = (
        form.get("filename"),
        form.get("length").and_then(|l| l.parse::<usize>().ok()),
    ) else {
        return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
    };
    assert!(!name.is_empty());
    let id = format!("F{:08}", f.files.len() + 1);
    f.files.insert(id.clone(), (len, None));
    let url = format!("http://127.0.0.1:{}/upload/{id}", f.port);
    Json(json!({"ok": true, "upload_url": url, "file_id": id})).into_response()
}

/// application/x-www-form-urlencoded, as Slack reads it.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

async fn upload(State(s): State<S>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut f = s.lock().unwrap();
    match f.files.get_mut(&id) {
        Some(e) => {
            e.1 = Some(body.len());
            (StatusCode::OK, format!("OK - {}", body.len())).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

async fn complete(State(s): State<S>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut f = s.lock().unwrap();
    if !authed(&h, &mut f) {
        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    if f.fail_channel {
        return Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
    }
    f.completes.push(body);
    Json(json!({"ok": true, "files": []})).into_response()
}

async fn webhook(State(s): State<S>, Json(body): Json<Value>) -> Response {
    s.lock().unwrap().webhook_posts.push(body);
    (StatusCode::OK, "ok").into_response()
}

async fn wait_run(store: &adsched::store::Store, id: &str) -> Run {
    for _ in 0..3000 {
        if let Some(r) = store
            .run(id)
            .await
            .unwrap()
            .filter(|r| r.status == RunStatus::Completed)
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("run {id} did not complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_export_uploads_every_image_with_one_summary() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake: S = Arc::new(Mutex::new(Fake {
        port,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/api/files.getUploadURLExternal", post(get_upload_url))
        .route("/upload/{id}", post(upload))
        .route("/api/files.completeUploadExternal", post(complete))
        .route("/hooks/T000/B000/xyz", post(webhook))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    std::env::set_var("ADSCHED_SLACK_TOKEN", TOKEN);
    std::env::set_var(
        "ADSCHED_SLACK_API_URL",
        format!("http://127.0.0.1:{port}/api"),
    );
    std::env::set_var(
        "ACME_WEBHOOK",
        format!("http://127.0.0.1:{port}/hooks/T000/B000/xyz"),
    );
    std::env::remove_var("ADSCHED_SLACK_ALLOW");

    let p = Project::new();
    let bot = schedule("bot", "  daily: { at: \"09:00\" }", 3)
        .replace("name: bot", "name: \"<!channel> & friends\"")
        + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n";
    let hook = schedule("hook", "  daily: { at: \"09:00\" }", 1)
        + "export:\n  destination: slack\n  slack: { webhook_env: ACME_WEBHOOK }\n";
    p.write("schedules/bot.yaml", &bot);
    p.write("schedules/hook.yaml", &hook);
    let config = Config {
        schedules: p.path("schedules"),
        templates: p.path("templates"),
        state: p.path("state"),
        store: None,
        listen: "127.0.0.1:0".into(),
        generator: format!("cmd:{}", p.path("gen-ok.sh").display()),
        public_url: Some("https://ads.acme.example".into()),
        grace: Duration::from_secs(5),
    };
    let clock = ManualClock::new(chrono::Utc::now());
    let d = daemon::start(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = d.ctx.store.clone();

    // First upload URL request is rate limited (429, Retry-After: 1), then all goes through.
    fake.lock().unwrap().rate_limit_next = true;
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports.len(), 1);
    let e = &run.exports[0];
    assert_eq!(
        (e.destination.as_str(), e.status.as_str()),
        ("slack", "sent"),
        "{e:?}"
    );
    assert_eq!(e.attempts, 2, "one 429, then success: {e:?}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.files.len(), 3, "every image uploaded");
        for (id, (declared, got)) in &f.files {
            assert_eq!(
                Some(*declared),
                *got,
                "file {id}: the declared length matches the bytes"
            );
        }
        assert_eq!(f.completes.len(), 1, "one summary");
        let c = &f.completes[0];
        assert_eq!(c["channel_id"], "C0123ABCD9");
        assert_eq!(c["files"].as_array().unwrap().len(), 3);
        let blocks = c["blocks"].to_string();
        assert!(
            blocks.contains("&lt;!channel&gt; &amp; friends"),
            "escaped: {blocks}"
        );
        assert!(!blocks.contains("<!channel>"));
        assert!(
            blocks.contains("https://ads.acme.example/runs/"),
            "{blocks}"
        );
        assert_eq!(f.bad_auth, 0);
    }

    // channel_not_found is recorded on the run with its code; the ads stay.
    fake.lock().unwrap().fail_channel = true;
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    let e = &run.exports[0];
    assert_eq!(e.status, "failed");
    assert!(e.detail.contains("channel_not_found"), "{e:?}");
    assert_eq!(run.ads.len(), 3);
    fake.lock().unwrap().fail_channel = false;

    // The allow-list refuses other channels (read when the daemon starts).
    std::env::set_var("ADSCHED_SLACK_ALLOW", "C999999999");
    d.shutdown().await.unwrap();
    let d = daemon::start(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = d.ctx.store.clone();
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports[0].status, "refused");
    std::env::remove_var("ADSCHED_SLACK_ALLOW");
    d.shutdown().await.unwrap();
    let d = daemon::start(config, Arc::new(clock)).await.unwrap();
    let store = d.ctx.store.clone();

    // Webhook mode posts the summary with links (webhooks cannot upload files).
    let (id, _) = d.ctx.trigger("hook").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports[0].status, "sent", "{:?}", run.exports);
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.webhook_posts.len(), 1);
        let post = f.webhook_posts[0].to_string();
        assert!(
            post.contains("https://ads.acme.example/ads/"),
            "links to the images: {post}"
        );
    }

    // The token never shows in records or logs.
    for r in store.latest_runs(None, 100).await.unwrap() {
        let text = serde_json::to_string(&r).unwrap()
            + &serde_json::to_string(&store.logs(&r.id).await.unwrap()).unwrap();
        assert!(!text.contains(TOKEN), "the token leaked into run {}", r.id);
        assert!(
            !text.contains("/hooks/T000"),
            "the webhook URL leaked into run {}",
            r.id
        );
    }
    d.shutdown().await.unwrap();
}
