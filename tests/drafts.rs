//! Drafts from the browser's form (SPEC 9): `POST /api/v1/validate` and
//! `/api/v1/preview` against the tree the daemon has loaded, every code a
//! form can produce at its line, an edit in place, bad bodies; and the form
//! pages themselves (products by brand, the pool's thumbnails, how many
//! templates a product has not used, the GitHub links).

mod common;

use std::sync::Arc;
use std::time::Duration;

use adsched::clock::ManualClock;
use adsched::daemon::{self, Config};
use adsched::dashboard::RepoLink;
use common::Project;
use serde_json::{json, Value};

const BASE: &str = r#"apiVersion: adsched/v1
kind: Schedule
id: draft-one
name: Draft one
product: collagen
schedule:
  weekly: { day: monday, at: "09:00" }
  timezone: America/Los_Angeles
templates:
  mode: unused
  count: 2
parameters:
  num_variations: 5
export:
  destination: email
  email: { to: [ads@acme.example] }
"#;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn validate(&self, yaml: &str, path: Option<&str>) -> Value {
        let mut body = json!({ "yaml": yaml });
        if let Some(p) = path {
            body["path"] = json!(p);
        }
        let (status, v) = self.post("/api/v1/validate", &body.to_string()).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = r.bytes().await.unwrap();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// (code, line) of every finding, errors then warnings.
fn findings(report: &Value) -> Vec<(String, u64)> {
    ["errors", "warnings"]
        .iter()
        .flat_map(|k| report[*k].as_array().unwrap().iter())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The JSON the form page hands its script.
fn form_data(html: &str) -> Value {
    let at = html.find("id=\"form-data\"").expect("the form's data");
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// The 1-based line of `yaml` holding `needle`.
fn line_of(yaml: &str, needle: &str) -> u64 {
    yaml.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in\n{yaml}")) as u64
        + 1
}

async fn start(p: &Project) -> (daemon::Daemon, Api) {
    let config = Config {
        schedules: p.path("schedules"),
        templates: p.path("templates"),
        state: p.path("state"),
        store: None,
        listen: "127.0.0.1:0".into(),
        generator: format!("cmd:{}", p.path("gen-ok.sh").display()),
        public_url: None,
        grace: Duration::from_secs(5),
        retain: None,
        repo: Some(RepoLink::parse("https://github.com/acme/ad-schedules", "release/ads").unwrap()),
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let d = daemon::start(config, Arc::new(ManualClock::new(now)))
        .await
        .unwrap();
    let api = Api {
        base: format!("http://{}", d.addr),
        http: reqwest::Client::new(),
    };
    (d, api)
}

/// Three templates in the pool, one schedule in a file of its own.
fn project() -> Project {
    let p = Project::new();
    std::fs::remove_dir_all(p.path("templates")).unwrap();
    std::fs::create_dir_all(p.path("templates")).unwrap();
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/bold-01.png");
    for name in ["a.png", "b.png", "c.png"] {
        std::fs::copy(&png, p.path("templates").join(name)).unwrap();
    }
    p.write("schedules/acme/draft-one.yaml", BASE);
    p.write(
        "schedules/globex.yaml",
        "apiVersion: adsched/v1\nkind: Product\nid: trail-bar\nname: Trail Bar\nbrand: { id: globex, name: Globex Outdoors }\n",
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_checked_as_validate_checks_files_against_the_loaded_tree() {
    let p = project();
    let (_d, api) = start(&p).await;

    // The file as it is, in place: valid (not its own duplicate).
    let same = api
        .validate(BASE, Some("schedules/acme/draft-one.yaml"))
        .await;
    assert_eq!(
        same,
        json!({"valid": true, "files": 1, "documents": 1, "errors": [], "warnings": []})
    );
    // The same id in another file is a duplicate, reported on the draft's line.
    let copy = api.validate(BASE, Some("acme/copy.yaml")).await;
    assert_eq!(copy["valid"], false);
    assert_eq!(copy["errors"][0]["file"], "acme/copy.yaml");
    assert_eq!(copy["errors"][0]["code"], "duplicate-id");
    assert_eq!(copy["errors"][0]["line"], 3);
    assert_eq!(copy["errors"][0]["column"], 5);
    assert!(
        copy["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("here and at acme/draft-one.yaml:3:5"),
        "{copy}"
    );

    // Each code the form can produce, at the draft's own line.
    let weekly = "  weekly: { day: monday, at: \"09:00\" }";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "schema",
            BASE.replace("id: draft-one", "id: Draft One"),
            "id: Draft One",
        ),
        (
            "cron",
            BASE.replace(weekly, "  cron: \"0 25 * * 1\""),
            "cron:",
        ),
        (
            "never-fires",
            BASE.replace(weekly, "  cron: \"0 9 30 2 *\""),
            "cron:",
        ),
        (
            "timezone",
            BASE.replace("America/Los_Angeles", "Mars/Olympus"),
            "timezone:",
        ),
        ("time", BASE.replace("\"09:00\"", "\"25:00\""), "weekly:"),
        (
            "time",
            BASE.replace(weekly, "  once: { at: \"2026-02-30T09:00\" }"),
            "once:",
        ),
        (
            "unknown-product",
            BASE.replace("product: collagen", "product: nope"),
            "product:",
        ),
        (
            "template-missing",
            BASE.replace(
                "  mode: unused\n  count: 2",
                "  mode: specific\n  ids: [a.png, nope.png]",
            ),
            "ids:",
        ),
        (
            "path-escape",
            BASE.replace(
                "  mode: unused\n  count: 2",
                "  mode: uploaded\n  files: [../../x.png]",
            ),
            "files:",
        ),
        (
            "template-missing",
            BASE.replace(
                "  mode: unused\n  count: 2",
                "  mode: uploaded\n  files: [assets/none.png]",
            ),
            "files:",
        ),
        (
            "email",
            BASE.replace("ads@acme.example", "not an address"),
            "email:",
        ),
        (
            "export",
            BASE.replace("destination: email", "destination: slack"),
            "destination:",
        ),
        (
            "unknown-field",
            BASE.replace("name: Draft one", "name: Draft one\ncolour: red"),
            "colour:",
        ),
        (
            "yaml-syntax",
            BASE.replace("count: 2", "count: [2"),
            "count:",
        ),
        // Warnings: valid, but said.
        (
            "once-in-past",
            BASE.replace(weekly, "  once: { at: \"2026-01-05T09:00\" }"),
            "once:",
        ),
        (
            "pool-too-small",
            BASE.replace("count: 2", "count: 5"),
            "count:",
        ),
    ];
    for (code, yaml, needle) in &cases {
        let r = api.validate(yaml, Some("acme/draft-one.yaml")).await;
        let got = findings(&r);
        let want_line = line_of(yaml, needle);
        assert!(
            got.contains(&(code.to_string(), want_line))
                || (*code == "yaml-syntax" && got.iter().any(|(c, _)| c == code)),
            "{code}: want line {want_line}, got {got:?}\n{yaml}"
        );
        let warning = matches!(*code, "once-in-past" | "pool-too-small");
        assert_eq!(r["valid"], warning, "{code}: {r}");
    }
    // Findings name places inside the folder, never where the daemon keeps it.
    let missing = BASE.replace(
        "  mode: unused\n  count: 2",
        "  mode: uploaded\n  files: [assets/none.png]",
    );
    let r = api.validate(&missing, Some("acme/draft-one.yaml")).await;
    let message = r["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("acme/assets/none.png"), "{message}");
    assert!(
        !message.contains(&p.path("schedules").display().to_string()),
        "{message}"
    );
    // An uploaded file beside the draft's place counts (paths are the file's).
    std::fs::create_dir_all(p.path("schedules/acme/assets")).unwrap();
    std::fs::copy(
        p.path("templates/a.png"),
        p.path("schedules/acme/assets/hero.png"),
    )
    .unwrap();
    let uploaded = BASE.replace(
        "  mode: unused\n  count: 2",
        "  mode: uploaded\n  files: [assets/hero.png]",
    );
    assert_eq!(
        api.validate(&uploaded, Some("acme/draft-one.yaml")).await["valid"],
        true
    );
    // No path: the draft is `schedule.yaml` at the folder's top.
    let r = api
        .validate(&BASE.replace("draft-one", "draft-two"), None)
        .await;
    assert_eq!(
        (r["valid"].clone(), r["documents"].clone()),
        (json!(true), json!(1))
    );

    // Preview: the calendar's next times, as `adsched next` gives them.
    let (status, v) = api
        .post(
            "/api/v1/preview",
            &json!({"yaml": BASE, "count": 3, "path": "acme/draft-one.yaml"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"id": "draft-one", "timezone": "America/Los_Angeles",
               "description": "every Monday at 09:00 (America/Los_Angeles)",
               "times": ["2026-03-02T09:00:00-08:00", "2026-03-09T09:00:00-07:00", "2026-03-16T09:00:00-07:00"]})
    );
    let (status, v) = api
        .post(
            "/api/v1/preview",
            &json!({"yaml": BASE, "after": "2026-11-01T00:00:00Z", "path": "acme/draft-one.yaml"})
                .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["times"].as_array().unwrap().len(),
        5,
        "count defaults to 5"
    );
    assert_eq!(v["times"][0], "2026-11-02T09:00:00-08:00");
    // An invalid draft: 422 with the report.
    let bad = BASE.replace("America/Los_Angeles", "Mars/Olympus");
    let (status, v) = api
        .post(
            "/api/v1/preview",
            &json!({"yaml": bad, "path": "acme/draft-one.yaml"}).to_string(),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(findings(&v), [("timezone".to_string(), 8)]);
    // Two schedules: say which.
    let two = format!("{BASE}---\n{}", BASE.replace("draft-one", "draft-two"));
    let (status, v) = api
        .post(
            "/api/v1/preview",
            &json!({"yaml": two, "path": "acme/draft-one.yaml"}).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("draft-one, draft-two"),
        "{v}"
    );
    let (status, v) = api
        .post(
            "/api/v1/preview",
            &json!({"yaml": two, "path": "acme/draft-one.yaml", "id": "draft-two", "count": 1})
                .to_string(),
        )
        .await;
    assert_eq!((status, v["id"].clone()), (200, json!("draft-two")), "{v}");

    // Bad bodies: 400 with a message that says what is expected.
    for (path, body, says) in [
        ("/api/v1/validate", "not json", "JSON object"),
        ("/api/v1/validate", "{}", "missing field `yaml`"),
        ("/api/v1/validate", r#"{"yml": "x"}"#, "unknown field `yml`"),
        ("/api/v1/validate", r#"{"yaml": 3}"#, "invalid type"),
        (
            "/api/v1/validate",
            r#"{"yaml": "x", "path": "../x.yaml"}"#,
            "inside the schedules folder",
        ),
        (
            "/api/v1/validate",
            r#"{"yaml": "x", "path": "/etc/x.yaml"}"#,
            "inside the schedules folder",
        ),
        (
            "/api/v1/validate",
            r#"{"yaml": "x", "path": "acme/x.txt"}"#,
            "ending in .yaml",
        ),
        (
            "/api/v1/preview",
            r#"{"yaml": "x", "count": 0}"#,
            "give 1 to 100",
        ),
        (
            "/api/v1/preview",
            r#"{"yaml": "x", "count": 101}"#,
            "give 1 to 100",
        ),
        (
            "/api/v1/preview",
            r#"{"yaml": "x", "after": "monday"}"#,
            "RFC 3339",
        ),
    ] {
        let (status, v) = api.post(path, body).await;
        assert_eq!(status, 400, "{path} {body}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(says),
            "{path} {body}: {v}"
        );
    }
    // The daemon never writes the folder.
    assert!(!p.path("schedules/acme/new.yaml").exists());
    assert!(!p.path("schedules/schedule.yaml").exists());
}

/// The form's checks keep the folder's files parsed between calls (a form
/// checked at every edit against 10,000 files): a file edited, added or
/// removed on disk since the last check counts at the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_checked_against_the_folder_as_it_is_now() {
    let p = project();
    let (_d, api) = start(&p).await;
    let draft = BASE
        .replace("id: draft-one", "id: draft-new")
        .replace("product: collagen", "product: river-bar");
    let codes = |r: &Value| findings(r).into_iter().map(|(c, _)| c).collect::<Vec<_>>();

    let r = api.validate(&draft, Some("acme/new.yaml")).await;
    assert_eq!(codes(&r), ["unknown-product"], "{r}");

    // The product appears in a file read by the last check.
    let globex = std::fs::read_to_string(p.path("schedules/globex.yaml")).unwrap();
    p.write(
        "schedules/globex.yaml",
        &format!(
            "{globex}---\napiVersion: adsched/v1\nkind: Product\nid: river-bar\nname: River Bar\nbrand: {{ id: globex, name: Globex Outdoors }}\n"
        ),
    );
    let r = api.validate(&draft, Some("acme/new.yaml")).await;
    assert_eq!(r["valid"], true, "{r}");

    // A new file with the draft's id: a duplicate.
    p.write(
        "schedules/acme/taken.yaml",
        &BASE.replace("id: draft-one", "id: draft-new"),
    );
    let r = api.validate(&draft, Some("acme/new.yaml")).await;
    assert_eq!(codes(&r), ["duplicate-id"], "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("acme/taken.yaml"),
        "{r}"
    );

    // Removed again: no duplicate; and the product's file made invalid.
    std::fs::remove_file(p.path("schedules/acme/taken.yaml")).unwrap();
    let r = api.validate(&draft, Some("acme/new.yaml")).await;
    assert_eq!(r["valid"], true, "{r}");
    p.write("schedules/globex.yaml", &globex);
    let r = api.validate(&draft, Some("acme/new.yaml")).await;
    assert_eq!(codes(&r), ["unknown-product"], "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_pages_offer_the_loaded_products_the_pool_and_github_links() {
    let p = project();
    let (d, api) = start(&p).await;
    // One run uses two of the three templates for `collagen`.
    d.ctx.trigger("draft-one").await.unwrap();
    for _ in 0..2000 {
        let runs = d.ctx.store.latest_runs(None, 10).await.unwrap();
        let busy = |r: &adsched::records::Run| {
            matches!(
                r.status,
                adsched::records::RunStatus::Pending | adsched::records::RunStatus::Running
            )
        };
        if !runs.is_empty() && !runs.iter().any(busy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let (status, kind, html) = api.get_text("/new").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    // Products from the loaded tree, grouped by brand.
    let acme = html.find("<optgroup label=\"Acme").expect("an Acme group");
    let globex = html
        .find("<optgroup label=\"Globex Outdoors\"")
        .expect("a Globex group");
    assert!(
        html[acme..globex].contains("<option value=\"collagen\">"),
        "{html}"
    );
    assert!(html[globex..].contains("<option value=\"trail-bar\">"));
    // The pool as thumbnails, served by the daemon.
    for name in ["a.png", "b.png", "c.png"] {
        assert!(
            html.contains(&format!("src=\"/templates/{name}\"")),
            "{name}"
        );
    }
    let data = form_data(&html);
    assert_eq!(data["products"]["collagen"]["unused"], 1, "{data}");
    assert_eq!(data["products"]["trail-bar"]["unused"], 3, "{data}");
    assert_eq!(data["pool"], 3);
    assert_eq!(
        data["repo"],
        json!({"url": "https://github.com/acme/ad-schedules", "branch": "release/ads"})
    );
    assert_eq!(data["spec"], Value::Null);
    // Nothing fetched from elsewhere: no CDN.
    assert!(!html.contains("src=\"http"), "an outside script or image");
    assert!(!html.contains("href=\"http"), "an outside link");

    let (status, kind, _) = api.get_text("/templates/a.png").await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    for bad in [
        "/templates/..%2Fschedules%2Fglobex.yaml",
        "/templates/x.yaml",
        "/templates/.hidden.png",
    ] {
        let (status, _, _) = api.get_text(bad).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
    assert_eq!(api.get_text("/templates/none.png").await.0, 404);

    // The edit form: the document in force and its file on GitHub.
    let (status, _, html) = api.get_text("/schedules/draft-one/edit").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("href=\"https://github.com/acme/ad-schedules/blob/release/ads/schedules/acme/draft-one.yaml\""),
        "{html}"
    );
    let data = form_data(&html);
    assert_eq!(data["spec"]["id"], "draft-one");
    assert_eq!(data["file"], "schedules/acme/draft-one.yaml");
    assert_eq!(data["file_text"], BASE);
    assert_eq!(api.get_text("/schedules/nope/edit").await.0, 404);
    // The schedule's page links its form.
    let (_, _, page) = api.get_text("/schedules/draft-one").await;
    assert!(page.contains("href=\"/schedules/draft-one/edit\""));
}
