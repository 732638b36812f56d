//! The JSON API, the dashboard and the query CLI against a daemon with a
//! seeded history.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use adsched::clock::ManualClock;
use adsched::daemon::{self, Config};
use adsched::records::RunStatus;
use common::{schedule, Project};
use serde_json::Value;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
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

    async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_idle(store: &adsched::store::Store) {
    for _ in 0..4000 {
        let busy = store
            .latest_runs(None, 1000)
            .await
            .unwrap()
            .iter()
            .any(|r| matches!(r.status, RunStatus::Pending | RunStatus::Running));
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("runs did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_dashboard_and_cli_over_a_seeded_history() {
    let p = Project::new();
    p.write(
        "schedules/products2.yaml",
        "apiVersion: adsched/v1\nkind: Product\nid: trail-bar\nname: Trail Bar\nbrand: { id: globex, name: Globex Outdoors }\n",
    );
    p.write(
        "schedules/a.yaml",
        &schedule(
            "acme-weekly",
            "  weekly: { day: monday, at: \"09:00\" }\n  max_runs: 10",
            1,
        ),
    );
    p.write(
        "schedules/b.yaml",
        &schedule("globex-daily", "  daily: { at: \"08:00\" }", 1)
            .replace("product: collagen", "product: trail-bar"),
    );
    p.write(
        "schedules/c.yaml",
        &schedule("acme-paused", "  daily: { at: \"08:00\" }", 1)
            .replace("product: collagen", "product: collagen\npaused: true"),
    );
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
        repo: None,
    };
    let d = daemon::start(config, Arc::new(ManualClock::new(chrono::Utc::now())))
        .await
        .unwrap();
    let api = Api {
        base: format!("http://{}", d.addr),
        http: reqwest::Client::new(),
    };
    // Seed: 7 manual runs of acme-weekly, 2 of globex-daily.
    let mut acme_runs = Vec::new();
    for _ in 0..7 {
        let (id, _) = d.ctx.trigger("acme-weekly").await.unwrap();
        acme_runs.push(id);
        wait_idle(&d.ctx.store).await;
    }
    for _ in 0..2 {
        d.ctx.trigger("globex-daily").await.unwrap();
        wait_idle(&d.ctx.store).await;
    }

    // Schedules and filters.
    let all = api.ok("/api/v1/schedules").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?brand=acme").await),
        ["acme-paused", "acme-weekly"]
    );
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?brand=Globex%20Outdoors").await),
        ["globex-daily"]
    );
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?product=trail-bar").await),
        ["globex-daily"]
    );
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?status=paused").await),
        ["acme-paused"]
    );
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?brand=acme&status=active").await),
        ["acme-weekly"]
    );
    let (s, v) = api.get("/api/v1/schedules?status=sleeping").await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("sleeping"));
    // Pages of the list: `limit` and `offset`, by id, the filters first.
    let every = ids(&all);
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?limit=2").await),
        every[..2].to_vec()
    );
    assert_eq!(
        ids(&api.ok("/api/v1/schedules?limit=2&offset=2").await),
        every[2..every.len().min(4)].to_vec()
    );
    assert!(ids(&api.ok("/api/v1/schedules?offset=100").await).is_empty());
    for bad in ["limit=0", "limit=5000", "offset=-1"] {
        let (s, v) = api.get(&format!("/api/v1/schedules?{bad}")).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }

    // Its exact fields are checked below, with the runs'.
    let one = api.ok("/api/v1/schedules/acme-weekly").await;
    assert_eq!(
        one["product"],
        serde_json::json!({"id": "collagen", "name": "Collagen"})
    );
    assert_eq!(
        one["brand"],
        serde_json::json!({"id": "acme", "name": "Acme"})
    );
    assert_eq!(
        one["source"]["file"].as_str().unwrap().rsplit('/').next(),
        Some("a.yaml")
    );
    assert_eq!(one["source"]["line"], 1);
    assert_eq!(one["max_runs"], 10);
    assert_eq!(one["runs_completed"], 0, "manual runs do not count");
    assert_eq!(one["last_run"]["id"], acme_runs[6].as_str());
    assert_eq!(one["spec"]["schedule"]["weekly"]["day"], "monday");
    assert!(
        one["next_run_at"].as_str().unwrap().ends_with(":00-08:00")
            || one["next_run_at"].as_str().unwrap().ends_with(":00-07:00")
    );
    let (s, v) = api.get("/api/v1/schedules/nope").await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("nope"));

    // Runs: newest first, limit and before page back.
    let runs = api.ok("/api/v1/schedules/acme-weekly/runs").await;
    let mut newest_first = acme_runs.clone();
    newest_first.reverse();
    assert_eq!(ids(&runs), newest_first);
    let page1 = api.ok("/api/v1/schedules/acme-weekly/runs?limit=3").await;
    assert_eq!(ids(&page1), newest_first[..3]);
    let page2 = api
        .ok(&format!(
            "/api/v1/schedules/acme-weekly/runs?limit=3&before={}",
            newest_first[2]
        ))
        .await;
    assert_eq!(ids(&page2), newest_first[3..6]);
    assert_eq!(
        ids(&api
            .ok("/api/v1/schedules/acme-weekly/runs?status=failed")
            .await)
        .len(),
        0
    );
    assert_eq!(
        ids(&api
            .ok("/api/v1/schedules/acme-weekly/runs?status=completed")
            .await)
        .len(),
        7
    );
    for bad in ["limit=0", "limit=x", "status=done"] {
        let (s, _) = api
            .get(&format!("/api/v1/schedules/acme-weekly/runs?{bad}"))
            .await;
        assert_eq!(s, 400, "{bad}");
    }
    assert_eq!(api.get("/api/v1/schedules/nope/runs").await.0, 404);
    // A cursor that names no run is refused, not taken for "from the start" or "the end".
    for bad in ["before=garbage", "before=0000"] {
        for path in ["/api/v1/schedules/acme-weekly/runs", "/api/v1/runs"] {
            let (s, v) = api.get(&format!("{path}?{bad}")).await;
            assert_eq!(s, 400, "{path}?{bad}: {v}");
            assert!(v["error"].as_str().unwrap().contains("not a run id"), "{v}");
        }
    }
    // Every schedule's runs, filtered by the schedule's brand and product
    // (id or name) and by trigger.
    let globex = api.ok("/api/v1/runs?brand=globex").await;
    assert_eq!(globex.as_array().unwrap().len(), 2, "{globex}");
    assert!(globex
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["schedule_id"] == "globex-daily"));
    assert_eq!(
        ids(&api.ok("/api/v1/runs?product=Collagen&limit=1000").await),
        newest_first
    );
    assert_eq!(
        ids(&api.ok("/api/v1/runs?brand=acme&product=trail-bar").await).len(),
        0
    );
    assert_eq!(
        ids(&api.ok("/api/v1/runs?trigger=manual&limit=5").await).len(),
        5,
        "the limit counts matching runs"
    );
    assert_eq!(ids(&api.ok("/api/v1/runs?trigger=schedule").await).len(), 0);
    let (s, v) = api.get("/api/v1/runs?trigger=cron").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["error"],
        "trigger `cron` is not one of schedule, catchup, manual, retry"
    );
    // Each answer has exactly the fields SPEC 6 names, plus the ones
    // docs/queries.md adds (marked), and nothing else.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |names: &[&str]| {
        let mut k: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    let schedule_fields = sorted(&[
        "id",
        "name",
        "tenant_id",
        "product",
        "brand",
        "status",
        "description",
        "timezone",
        "next_run_at",
        "runs_completed",
        "max_runs",
        "source",
        "error",
        "last_run",
        "spec",
        // SPEC 8
        "override",
        // docs/queries.md
        "pending_run",
        "running_run",
        "retry",
    ]);
    let run_fields = sorted(&[
        "id",
        "schedule_id",
        "tenant_id",
        "trigger",
        "attempt",
        "status",
        "scheduled_for",
        "started_at",
        "completed_at",
        "error_message",
        "templates_used",
        "ad_run_ids",
        "ads",
        "exports",
        "missed_count",
        // docs/queries.md
        "queued_at",
        "duration_seconds",
    ]);
    for s in api.ok("/api/v1/schedules").await.as_array().unwrap() {
        assert_eq!(keys(s), schedule_fields, "{s}");
        if s["last_run"].is_object() {
            assert_eq!(keys(&s["last_run"]), run_fields);
        }
    }
    let one_run = api.ok(&format!("/api/v1/runs/{}", acme_runs[0])).await;
    assert_eq!(keys(&one_run), run_fields);
    assert_eq!(
        keys(&one_run["ads"][0]),
        // SPEC 11: a person's decision, null until one is made, and the
        // hook on the ad (null here: this generator does not say).
        sorted(&["template", "ad_run_id", "image", "status", "review", "text"])
    );
    assert_eq!(one_run["ads"][0]["text"], Value::Null);
    for path in ["/api/v1/runs", "/api/v1/schedules/acme-weekly/runs"] {
        for r in api.ok(path).await.as_array().unwrap() {
            assert_eq!(keys(r), run_fields, "{path}");
        }
    }
    for l in api
        .ok(&format!("/api/v1/runs/{}/logs", acme_runs[0]))
        .await
        .as_array()
        .unwrap()
    {
        assert_eq!(keys(l), sorted(&["time", "level", "message"]));
    }
    // Unknown routes and wrong methods answer JSON errors like every other error.
    let (s, v) = api.get("/api/v1/nothing-here").await;
    assert_eq!(s, 404);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nothing-here"),
        "{v}"
    );
    let r = api
        .http
        .delete(format!("{}/api/v1/schedules/acme-weekly", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("DELETE"), "{v}");

    let run = api.ok(&format!("/api/v1/runs/{}", acme_runs[0])).await;
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["ads"][0]["template"], run["templates_used"][0]);
    let img = run["ads"][0]["image"].as_str().unwrap();
    let r = api
        .http
        .get(format!("{}{img}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let logs = api.ok(&format!("/api/v1/runs/{}/logs", acme_runs[0])).await;
    let first = &logs.as_array().unwrap()[0];
    assert!(
        first["time"].is_string() && first["level"].is_string() && first["message"].is_string()
    );
    assert_eq!(
        api.get("/api/v1/runs/01XXXXXXXXXXXXXXXXXXXXXXXX").await.0,
        404
    );
    assert_eq!(
        api.get("/api/v1/runs/01XXXXXXXXXXXXXXXXXXXXXXXX/logs")
            .await
            .0,
        404
    );
    // Nothing outside the state folder is served.
    for bad in [
        "/ads/../state/db",
        "/ads/%2e%2e/%2e%2e/etc/passwd",
        "/ads/..%2Fschedules%2Fa.yaml",
    ] {
        let s = api
            .http
            .get(format!("{}{bad}", api.base))
            .send()
            .await
            .unwrap()
            .status();
        assert!(s == 400 || s == 404, "{bad}: {s}");
    }

    // Before the folder is applied (a first start on a large folder) an
    // action is refused with 503 saying why, and nothing is queued.
    let before = d
        .ctx
        .store
        .latest_runs(Some("globex-daily"), 1000)
        .await
        .unwrap()
        .len();
    let trigger = || {
        api.http
            .post(format!(
                "{}/api/v1/schedules/globex-daily/trigger",
                api.base
            ))
            .send()
    };
    d.ctx
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let r = trigger().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("starting"), "{body}");
    assert_eq!(
        d.ctx
            .store
            .latest_runs(Some("globex-daily"), 1000)
            .await
            .unwrap()
            .len(),
        before
    );
    d.ctx.ready.store(true, std::sync::atomic::Ordering::SeqCst);

    // Trigger over HTTP from loopback.
    let r = trigger().await.unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert!(body["run_id"].is_string());
    assert_eq!(keys(&body), sorted(&["run_id", "already_pending"]));
    wait_idle(&d.ctx.store).await;
    let r = api
        .http
        .post(format!("{}/api/v1/schedules/nope/trigger", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Metrics.
    // The worker counts a run just after recording it: wait for the tenth.
    let mut text = String::new();
    for _ in 0..500 {
        let r = api
            .http
            .get(format!("{}/metrics", api.base))
            .send()
            .await
            .unwrap();
        text = r.text().await.unwrap();
        if text.contains("adsched_runs_total{status=\"completed\"} 10") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for m in [
        "adsched_runs_total{status=\"completed\"} 10",
        "adsched_run_duration_seconds_bucket",
        "adsched_generator_calls_total 10",
        "adsched_generator_failures_total 0",
        "adsched_schedules{status=\"active\"} 2",
        "adsched_schedules{status=\"paused\"} 1",
        "adsched_invalid_files 0",
        "adsched_schedule_next_run_timestamp_seconds{schedule_id=\"acme-weekly\"}",
        "adsched_reloads_total",
        "adsched_last_reload_success 1",
    ] {
        assert!(text.contains(m), "metrics lack {m}:\n{text}");
    }

    // Dashboard pages.
    let page = |path: String| {
        let http = api.http.clone();
        let url = format!("{}{path}", api.base);
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, html) = page("/".into()).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("acme-weekly")
            && html.contains("Globex Outdoors")
            && html.contains("every Monday at 09:00")
    );
    let (_, html) = page("/?brand=globex".into()).await;
    assert!(html.contains("globex-daily") && !html.contains("href=\"/schedules/acme-weekly\""));
    let (s, html) = page("/schedules/acme-weekly".into()).await;
    assert_eq!(s, 200);
    assert!(html.contains(&acme_runs[0]) && html.contains("Next times"));
    let (s, html) = page(format!("/runs/{}", acme_runs[0])).await;
    assert_eq!(s, 200);
    assert!(html.contains(img) && html.contains("class=\"log\""));
    assert_eq!(page("/schedules/nope".into()).await.0, 404);
    // Every schedule's runs, with the API's filters.
    let (s, html) = page("/runs".into()).await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("<tr class=\"run\">").count(), 10, "{html}");
    assert!(html.contains(&format!("href=\"/runs/{}\"", acme_runs[0])));
    let (_, html) = page("/runs?brand=globex&trigger=manual".into()).await;
    assert_eq!(html.matches("<tr class=\"run\">").count(), 3);
    assert!(!html.contains(&format!("href=\"/runs/{}\"", acme_runs[0])));
    let (s, html) = page("/runs?trigger=cron".into()).await;
    assert_eq!(s, 400);
    assert!(html.contains("trigger `cron` is not one of schedule, catchup, manual, retry"));
    // The next 7 days: a daily schedule 7 times, the weekly one once, the
    // paused one never.
    let (s, html) = page("/week".into()).await;
    assert_eq!(s, 200);
    assert_eq!(
        html.matches("href=\"/schedules/globex-daily\"").count(),
        7,
        "{html}"
    );
    assert_eq!(html.matches("href=\"/schedules/acme-weekly\"").count(), 1);
    assert!(!html.contains("href=\"/schedules/acme-paused\""));
    assert!(html.contains("America/Los_Angeles") && html.contains("08:00"));
    let (_, html) = page("/week?tz=Asia/Tokyo".into()).await;
    assert!(html.contains("in Asia/Tokyo") && html.contains("(08:00 America/Los_Angeles)"));
    assert_eq!(page("/week?tz=Mars/Olympus".into()).await.0, 400);

    // The CLI talks to the daemon...
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
            .current_dir(p.dir.path())
            .args(args)
            .args(["--server", &api.base, "--format", "json"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = tokio::task::block_in_place(|| cli(&["list", "--brand", "acme"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from the daemon"), "{err}");
    assert_eq!(
        ids(&serde_json::from_str(&out).unwrap()),
        ["acme-paused", "acme-weekly"]
    );
    let (code, out, _) =
        tokio::task::block_in_place(|| cli(&["runs", "acme-weekly", "--limit", "2"]));
    assert_eq!(code, 0);
    assert_eq!(ids(&serde_json::from_str(&out).unwrap()), newest_first[..2]);
    let (code, _, err) = tokio::task::block_in_place(|| cli(&["show", "nope"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope"));
    let (code, out, _) = tokio::task::block_in_place(|| cli(&["run", &acme_runs[1]]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(!v["logs"].as_array().unwrap().is_empty());
    d.shutdown().await.unwrap();

    // ...and opens the store when no daemon answers.
    let (code, out, err) = tokio::task::block_in_place(|| cli(&["runs", "globex-daily"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from the store"), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (code, out, _) = tokio::task::block_in_place(|| cli(&["trigger", "acme-weekly"]));
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<Value>(&out).unwrap()["run_id"].is_string());
    let (code, _, _) = tokio::task::block_in_place(|| cli(&["logs", &acme_runs[0]]));
    assert_eq!(code, 0);
    let (code, out, _) = tokio::task::block_in_place(|| cli(&["plan"]));
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["changes"].as_array().unwrap().len(), 0, "{plan}");
}
