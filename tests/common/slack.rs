//! A local HTTP server that speaks Slack's Web API as adsched uses it
//! (`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`,
//! `chat.postMessage`) and incoming webhooks, recording what it was sent.
//! One server for every test that needs Slack; it runs on its own thread,
//! so sync tests (the real binary) and async ones use it alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the server was sent, and how it should misbehave next.
#[derive(Default)]
pub struct Slack {
    /// The bot token it accepts.
    pub token: String,
    /// Its port.
    pub port: u16,
    /// file id -> (file name, declared length, uploaded length)
    pub files: HashMap<String, (String, usize, Option<usize>)>,
    /// Bodies of `files.completeUploadExternal`.
    pub completes: Vec<Value>,
    /// Bodies of `chat.postMessage`.
    pub posts: Vec<Value>,
    /// Bodies posted to a webhook.
    pub webhook_posts: Vec<Value>,
    /// The next upload URL request answers 429 with `Retry-After: 1`.
    pub rate_limit_next: bool,
    /// Channels that answer `channel_not_found`.
    pub missing_channels: Vec<String>,
    /// Requests that came without the token.
    pub bad_auth: u32,
}

type S = Arc<Mutex<Slack>>;

/// The running server.
pub struct FakeSlack {
    state: S,
}

impl FakeSlack {
    /// Starts a server that accepts `token`.
    pub fn start(token: &str) -> FakeSlack {
        let state: S = Arc::new(Mutex::new(Slack {
            token: token.to_string(),
            ..Slack::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let app = Router::new()
            .route("/api/files.getUploadURLExternal", post(get_upload_url))
            .route("/upload/{id}", post(upload))
            .route("/api/files.completeUploadExternal", post(complete))
            .route("/api/chat.postMessage", post(post_message))
            .route("/hooks/{*path}", post(webhook))
            .with_state(state.clone());
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = listener.local_addr().unwrap().port();
                st.lock().unwrap().port = port;
                tx.send(port).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        rx.recv().unwrap();
        FakeSlack { state }
    }

    /// `ADSCHED_SLACK_API_URL` for this server.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.lock().port)
    }

    /// An incoming-webhook URL on this server.
    pub fn webhook_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/{path}", self.lock().port)
    }

    /// What it was sent; its switches.
    pub fn lock(&self) -> MutexGuard<'_, Slack> {
        self.state.lock().unwrap()
    }
}

fn authed(h: &HeaderMap, f: &mut Slack) -> bool {
    let want = format!("Bearer {}", f.token);
    let ok = h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str());
    if !ok {
        f.bad_auth += 1;
    }
    ok
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
        form.get("filename").cloned(),
        form.get("length").and_then(|l| l.parse::<usize>().ok()),
    ) else {
        return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
    };
    if name.is_empty() {
        return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
    }
    let id = format!("F{:08}", f.files.len() + 1);
    f.files.insert(id.clone(), (name, len, None));
    let url = format!("http://127.0.0.1:{}/upload/{id}", f.port);
    Json(json!({"ok": true, "upload_url": url, "file_id": id})).into_response()
}

async fn upload(State(s): State<S>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut f = s.lock().unwrap();
    match f.files.get_mut(&id) {
        Some(e) => {
            e.2 = Some(body.len());
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
    if f.missing_channels
        .iter()
        .any(|c| body["channel_id"] == c.as_str())
    {
        return Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
    }
    f.completes.push(body);
    Json(json!({"ok": true, "files": []})).into_response()
}

async fn post_message(State(s): State<S>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut f = s.lock().unwrap();
    if !authed(&h, &mut f) {
        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    if f.missing_channels
        .iter()
        .any(|c| body["channel"] == c.as_str())
    {
        return Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
    }
    f.posts.push(body);
    Json(json!({"ok": true, "ts": "1.0"})).into_response()
}

async fn webhook(State(s): State<S>, Json(body): Json<Value>) -> Response {
    s.lock().unwrap().webhook_posts.push(body);
    (StatusCode::OK, "ok").into_response()
}
