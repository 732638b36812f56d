//! Operations without a commit (SPEC 8), as an operator uses them: the
//! real binary, real files, the CLI and the API; a slow `cmd:` generator
//! that counts its calls; a local server speaking Slack's Web API and a
//! real SMTP server (aiosmtpd) for alerts and exports.

mod common;

use common::slack::FakeSlack;
use common::{free_port, request, schedule, wait_for, Bin, Project};
use serde_json::{json, Value};

const SLACK_TOKEN: &str = "xoxb-ops-test-token";
const OPS_TOKEN: &str = "tok-ops-5f1e9a";
const CI_TOKEN: &str = "tok-ci-77c2d0";

fn gen(p: &Project, name: &str) -> String {
    format!("cmd:{}", p.path(name).display())
}

/// A generator that appends a line to `calls` per call, then sleeps.
fn counting_generator(p: &Project, seconds: &str) {
    p.script(
        "gen-count.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho call >> {calls}\nsleep {seconds}\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{png}\"}}]}}'\n",
            calls = p.path("calls").display(),
            png = common::PNG_1X1,
        ),
    );
}

fn calls(p: &Project) -> usize {
    std::fs::read_to_string(p.path("calls"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A POST with a JSON body and, when given, a bearer token.
fn post(bin: &Bin, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, text) = request("POST", bin.port, path, &headers, &body).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The real binary as a command against the daemon, with `token` as its
/// ADSCHED_API_TOKEN; (exit code, stdout, stderr).
fn cli(p: &Project, bin: &Bin, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let server = format!("http://127.0.0.1:{}", bin.port);
    let mut all = args.to_vec();
    all.extend(["--server", &server]);
    let env: Vec<(&str, &str)> = token
        .map(|t| ("ADSCHED_API_TOKEN", t))
        .into_iter()
        .collect();
    let (code, out, err) = common::adsched(p, &all, &env);
    (code.unwrap_or(-1), out, err)
}

fn run_id(v: &Value) -> String {
    v["run_id"]
        .as_str()
        .or(v["id"].as_str())
        .unwrap()
        .to_string()
}

fn wait_status(bin: &Bin, run: &str, done: &[&str]) -> Value {
    wait_for(30, &format!("run {run} to end"), || {
        let r = bin.get(&format!("/api/v1/runs/{run}"))?;
        done.contains(&r["status"].as_str()?).then_some(r)
    })
}

#[test]
fn pause_survives_an_edit_and_a_restart_until_resume_and_until_ends_it() {
    let p = Project::new();
    let text = schedule("weekly", "  daily: { at: \"09:00\" }", 1);
    p.write("schedules/s.yaml", &text);
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);

    let (code, out, err) = cli(
        &p,
        &bin,
        None,
        &["pause", "weekly", "--reason", "Slack is flooded"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("paused by local"), "{out}");
    let s = bin.get("/api/v1/schedules/weekly").unwrap();
    assert_eq!(s["status"], "paused");
    assert_eq!(s["override"]["paused"], true);
    assert_eq!(s["override"]["by"], "local");
    assert_eq!(s["override"]["reason"], "Slack is flooded");
    assert!(s["override"]["at"].is_string());
    assert!(s["override"]["until"].is_null());
    assert!(s["next_run_at"].is_null());

    // An edit of the file is applied, the pause holds; then a restart.
    p.write(
        "schedules/s.yaml",
        &text.replace("name: weekly", "name: Renamed"),
    );
    wait_for(10, "the edit to be applied", || {
        let s = bin.get("/api/v1/schedules/weekly")?;
        (s["name"] == "Renamed").then_some(())
    });
    assert_eq!(
        bin.get("/api/v1/schedules/weekly").unwrap()["status"],
        "paused"
    );
    assert_eq!(bin.term(), Some(0));
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    let s = bin.get("/api/v1/schedules/weekly").unwrap();
    assert_eq!(
        (s["status"].as_str(), s["override"]["by"].as_str()),
        (Some("paused"), Some("local"))
    );
    let page = common::http("GET", bin.port, "/schedules/weekly")
        .unwrap()
        .1;
    assert!(page.contains("Slack is flooded"), "the dashboard says why");

    // Resume: active again, with a next time.
    let (code, out, err) = cli(&p, &bin, None, &["resume", "weekly"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("weekly: active"), "{out}");
    let s = bin.get("/api/v1/schedules/weekly").unwrap();
    assert!(
        s["override"].is_null() && s["next_run_at"].is_string(),
        "{s}"
    );

    // `until` ends a pause by itself.
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, v) = post(
        &bin,
        "/api/v1/schedules/weekly/pause",
        None,
        &json!({"reason": "a short break", "until": until}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "paused");
    assert!(v["override"]["until"].is_string(), "{v}");
    wait_for(15, "the pause to end at its until", || {
        let s = bin.get("/api/v1/schedules/weekly")?;
        (s["status"] == "active" && s["override"].is_null()).then_some(())
    });
    let audit = bin.get("/api/v1/audit?schedule=weekly").unwrap();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("adsched", "resume"),
            ("local", "pause"),
            ("local", "resume"),
            ("local", "pause")
        ],
        "{audit}"
    );
    assert_eq!(audit[3]["reason"], "Slack is flooded");

    // A file that says `paused: true` wins over a resume.
    p.write(
        "schedules/s.yaml",
        &text.replace("product: collagen", "product: collagen\npaused: true"),
    );
    wait_for(10, "the file's pause", || {
        let s = bin.get("/api/v1/schedules/weekly")?;
        (s["status"] == "paused").then_some(())
    });
    let (code, out, _) = cli(&p, &bin, None, &["resume", "weekly"]);
    assert_eq!(code, 0);
    assert!(out.contains("its file says `paused: true`"), "{out}");

    // Bad input: named, never a crash.
    let (status, v) = post(
        &bin,
        "/api/v1/schedules/weekly/pause",
        None,
        &json!({"until": "soon"}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("RFC 3339"), "{v}");
    let (status, v) = post(
        &bin,
        "/api/v1/schedules/weekly/pause",
        None,
        &json!({"why": "x"}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("unknown field"),
        "{v}"
    );
    let (status, _) = post(&bin, "/api/v1/schedules/nope/pause", None, &Value::Null);
    assert_eq!(status, 404);
}

#[test]
fn cancel_a_pending_run_at_once_and_a_running_one_after_its_template() {
    let p = Project::new();
    counting_generator(&p, "1");
    p.write(
        "schedules/a.yaml",
        &schedule("a", "  daily: { at: \"09:00\" }", 3),
    );
    p.write(
        "schedules/b.yaml",
        &schedule("b", "  daily: { at: \"09:00\" }", 2),
    );
    let bin = Bin::start(&p, &gen(&p, "gen-count.sh"), &[]);
    let (s, a) = post(&bin, "/api/v1/schedules/a/trigger", None, &Value::Null);
    assert_eq!(s, 202, "{a}");
    let (s, b) = post(&bin, "/api/v1/schedules/b/trigger", None, &Value::Null);
    assert_eq!(s, 202, "{b}");
    let (a, b) = (run_id(&a), run_id(&b));
    wait_for(10, "a's first generator call", || {
        (calls(&p) >= 1).then_some(())
    });

    // b waits behind a: cancelled at once, never started.
    let (code, out, err) = cli(
        &p,
        &bin,
        None,
        &[
            "cancel",
            &b,
            "--reason",
            "wrong product",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["error_message"], "cancelled by local: wrong product");

    // a is running: it stops after the template it is making.
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{a}/cancel"),
        None,
        &json!({"reason": "flooding"}),
    );
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "running");
    let run = wait_status(&bin, &a, &["cancelled", "completed", "failed"]);
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["error_message"], "cancelled by local: flooding");
    assert!(run["exports"].as_array().unwrap().is_empty());
    let made = run["ads"].as_array().unwrap().len();
    assert!(
        (1..3).contains(&made),
        "stopped after its current template: {run}"
    );
    // No more calls come: b never ran, a stopped.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(calls(&p), made, "generator calls: one per template made");
    assert_eq!(
        bin.get(&format!("/api/v1/runs/{b}")).unwrap()["started_at"],
        Value::Null
    );

    // An ended run cannot be cancelled: 409, exit 1.
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{a}/cancel"),
        None,
        &Value::Null,
    );
    assert_eq!(status, 409, "{v}");
    let (code, _, err) = cli(&p, &bin, None, &["cancel", &a]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cancelled already"), "{err}");
    let logs = bin
        .get(&format!("/api/v1/runs/{a}/logs"))
        .unwrap()
        .to_string();
    assert!(logs.contains("stopping: cancelled by local"), "{logs}");
    let runs = bin.get("/api/v1/runs?status=cancelled").unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
}

#[test]
fn named_tokens_gate_every_action_and_name_the_actor_never_the_token() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("s", "  daily: { at: \"09:00\" }", 1),
    );
    let tokens = format!("ops:{OPS_TOKEN},ci:{CI_TOKEN}");
    let bin = Bin::start(
        &p,
        &gen(&p, "gen-ok.sh"),
        &[("ADSCHED_API_TOKENS", &tokens)],
    );
    for path in [
        "/api/v1/schedules/s/trigger",
        "/api/v1/schedules/s/pause",
        "/api/v1/schedules/s/resume",
        "/api/v1/runs/x/cancel",
        "/api/v1/runs/x/export",
    ] {
        let (status, v) = post(&bin, path, None, &Value::Null);
        assert_eq!(status, 401, "{path}: {v}");
        let (status, _) = post(&bin, path, Some("not-a-token"), &Value::Null);
        assert_eq!(status, 401, "{path}");
    }
    let (status, v) = post(
        &bin,
        "/api/v1/schedules/s/trigger",
        Some(OPS_TOKEN),
        &Value::Null,
    );
    assert_eq!(status, 202, "{v}");
    let run = run_id(&v);
    wait_status(&bin, &run, &["completed"]);
    // The CLI sends ADSCHED_API_TOKEN; without it, 401 is an exit code 1.
    let (code, _, err) = cli(&p, &bin, None, &["pause", "s", "--reason", "x"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Authorization"), "{err}");
    let (code, _, err) = cli(
        &p,
        &bin,
        Some(CI_TOKEN),
        &["pause", "s", "--reason", "launch freeze"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&p, &bin, None, &["audit", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let audit: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(audit[0]["actor"], "ci");
    assert_eq!(audit[0]["action"], "pause");
    assert_eq!(audit[0]["reason"], "launch freeze");
    assert_eq!(audit[1]["actor"], "ops");
    assert_eq!(audit[1]["action"], "trigger");
    assert_eq!(audit[1]["run_id"], run.as_str());
    // A page of another site cannot act through a browser.
    let (status, _) = request(
        "POST",
        bin.port,
        "/api/v1/schedules/s/resume",
        &[
            ("Authorization", &format!("Bearer {OPS_TOKEN}")),
            ("Origin", "https://evil.example"),
        ],
        "",
    )
    .unwrap();
    assert_eq!(status, 403);

    // No token in any answer, page, record or log.
    let mut seen = String::new();
    for path in [
        "/api/v1/audit",
        "/api/v1/schedules",
        &format!("/api/v1/runs/{run}"),
        &format!("/api/v1/runs/{run}/logs"),
        "/",
        "/schedules/s",
        &format!("/runs/{run}"),
        "/audit",
        "/metrics",
    ] {
        seen.push_str(&common::http("GET", bin.port, path).unwrap().1);
    }
    assert_eq!(bin.term(), Some(0));
    seen.push_str(&std::fs::read_to_string(p.path("daemon.log")).unwrap());
    for token in [OPS_TOKEN, CI_TOKEN] {
        assert!(!seen.contains(token), "a token leaked");
    }
}

#[test]
fn without_tokens_only_loopback_may_act_and_a_bad_token_list_stops_the_daemon() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("s", "  daily: { at: \"09:00\" }", 1),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let tokens = format!("ops:{OPS_TOKEN},{CI_TOKEN}");
    let (code, _, err) = common::adsched(
        &p,
        &["daemon", "--listen", &listen],
        &[("ADSCHED_API_TOKENS", &tokens)],
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("entry 2 is not `name:token`"), "{err}");
    assert!(!err.contains(OPS_TOKEN) && !err.contains(CI_TOKEN), "{err}");
}

#[test]
fn alerts_reach_slack_and_email_and_export_again_sends_anew() {
    let p = Project::new();
    let slack = FakeSlack::start(SLACK_TOKEN);
    let smtp_port = free_port();
    let inbox = p.path("inbox");
    let _smtp = common::smtp_server(smtp_port, &inbox, 0);
    // `broken` fails and alerts by Slack and email; `posting` exports to a
    // channel Slack refuses, which alerts through the daemon's default.
    let broken = schedule("broken", "  daily: { at: \"09:00\" }\n  retries: 0", 1)
        + "alerts:\n  on: [failed]\n  slack: { channel: C0ALERTS01 }\n  email: { to: [ops@acme.example] }\n";
    let posting = schedule("posting", "  daily: { at: \"09:00\" }", 2)
        + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n";
    p.write("schedules/broken.yaml", &broken);
    p.write("schedules/posting.yaml", &posting);
    p.script(
        "gen-some-fail.sh",
        &format!(
            "#!/bin/sh\nreq=$(cat)\ncase \"$req\" in *'\"schedule_id\":\"broken\"'*) echo 'the ad API is down' >&2; exit 3;; esac\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{}\"}}]}}'\n",
            common::PNG_1X1
        ),
    );
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    let api_url = slack.api_url();
    let env = [
        ("ADSCHED_SLACK_TOKEN", SLACK_TOKEN),
        ("ADSCHED_SLACK_API_URL", api_url.as_str()),
        (
            "ADSCHED_SLACK_ALLOW",
            "C0ALERTS01,C0123ABCD9,C0ALERTS02,C0OTHER001",
        ),
        ("ADSCHED_SMTP_URL", smtp_url.as_str()),
        ("ADSCHED_EMAIL_FROM", "adsched@acme.example"),
        ("ADSCHED_EMAIL_ALLOW", "acme.example"),
        ("ADSCHED_ALERT_SLACK_CHANNEL", "C0ALERTS02"),
        ("ADSCHED_PUBLIC_URL", "https://ads.acme.example"),
    ];
    let bin = Bin::start(&p, &gen(&p, "gen-some-fail.sh"), &env);

    // A failed run: one Slack message and one email, each naming the run.
    let (_, v) = post(&bin, "/api/v1/schedules/broken/trigger", None, &Value::Null);
    let failed = run_id(&v);
    wait_status(&bin, &failed, &["failed"]);
    let post_for = |channel: &str, run: &str| {
        wait_for(20, &format!("an alert in {channel}"), || {
            slack
                .lock()
                .posts
                .iter()
                .find(|m| m["channel"] == channel && m["text"].as_str().unwrap_or("").contains(run))
                .cloned()
        })
    };
    let msg = post_for("C0ALERTS01", &failed);
    let text = msg["text"].as_str().unwrap();
    assert!(
        text.contains("a run failed") && text.contains("broken"),
        "{text}"
    );
    assert!(text.contains("the ad API is down"), "the reason: {text}");
    assert!(
        text.contains(&format!("https://ads.acme.example/runs/{failed}")),
        "{text}"
    );
    let mail = wait_for(20, "the alert email", || {
        std::fs::read(inbox.join("1.eml")).ok()
    });
    let parsed = mailparse::parse_mail(&mail).unwrap();
    use mailparse::MailHeaderMap;
    assert!(parsed
        .headers
        .get_first_value("Subject")
        .unwrap()
        .contains("a run failed in broken"));
    assert!(String::from_utf8_lossy(&mail).contains(&failed));
    // The run's log says so once the send is done (it is written after).
    wait_for(20, "the alert in the run's log", || {
        let logs = bin.get(&format!("/api/v1/runs/{failed}/logs"))?.to_string();
        logs.contains("alert sent to Slack channel C0ALERTS01")
            .then_some(())
    });

    // An export that fails: the default channel hears of it.
    slack.lock().missing_channels = vec!["C0123ABCD9".into()];
    let (_, v) = post(
        &bin,
        "/api/v1/schedules/posting/trigger",
        None,
        &Value::Null,
    );
    let posted = run_id(&v);
    let run = wait_status(&bin, &posted, &["completed"]);
    assert_eq!(run["exports"][0]["status"], "failed", "{run}");
    slack.lock().missing_channels.clear();
    let msg = wait_for(30, "the export_failed alert", || {
        let f = slack.lock();
        f.posts
            .iter()
            .find(|m| m["channel"] == "C0ALERTS02")
            .cloned()
    });
    assert!(
        msg["text"].as_str().unwrap().contains("an export failed"),
        "{msg}"
    );
    assert!(
        msg["text"].as_str().unwrap().contains("channel_not_found"),
        "{msg}"
    );

    // Export again, once Slack is fixed: a second entry, sent.
    let before = slack.lock().completes.len();
    let (code, out, err) = cli(&p, &bin, None, &["export", &posted]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exporting run"), "{out}");
    let run = wait_for(30, "the second export", || {
        let r = bin.get(&format!("/api/v1/runs/{posted}"))?;
        (r["exports"].as_array()?.len() == 2).then_some(r)
    });
    assert_eq!(run["exports"][1]["status"], "sent", "{run}");
    assert_eq!(slack.lock().completes.len(), before + 1);
    // To another channel, by the API; the allow-list refuses what it lacks.
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{posted}/export"),
        None,
        &json!({"slack": {"channel": "C0OTHER001"}}),
    );
    assert_eq!(status, 202, "{v}");
    wait_for(30, "the third export", || {
        let f = slack.lock();
        f.completes
            .iter()
            .any(|c| c["channel_id"] == "C0OTHER001")
            .then_some(())
    });
    let (status, _) = post(
        &bin,
        &format!("/api/v1/runs/{posted}/export"),
        None,
        &json!({"slack": {"channel": "C0NOTALLOWED"}}),
    );
    assert_eq!(status, 202);
    let run = wait_for(30, "the refused export", || {
        let r = bin.get(&format!("/api/v1/runs/{posted}"))?;
        (r["exports"].as_array()?.len() == 4).then_some(r)
    });
    assert_eq!(run["exports"][3]["status"], "refused", "{run}");
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{posted}/export"),
        None,
        &json!({"slack": {"channel": "#general"}}),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{failed}/export"),
        None,
        &Value::Null,
    );
    assert_eq!(status, 409, "a failed run has no ads: {v}");
    let audit = bin.get("/api/v1/audit?limit=3").unwrap();
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "export" && e["run_id"] == posted.as_str()));
    assert_eq!(slack.lock().bad_auth, 0);
}

#[test]
fn missed_and_interrupted_runs_alert_too() {
    let p = Project::new();
    let slack = FakeSlack::start(SLACK_TOKEN);
    // Ten minutes of schedule time per real second: an hourly time passes
    // while the daemon is stopped, and is missed (the window is 1s).
    let r0 = chrono::Utc::now().timestamp_millis();
    let clock = format!("warp:2026-06-01T00:00:30Z:{r0}:600");
    let hourly = schedule(
        "hourly",
        "  cron: \"0 * * * *\"\n  timezone: UTC\n  catchup_window: 1s",
        1,
    ) + "alerts:\n  on: [missed, interrupted]\n  slack: { channel: C0ALERTS01 }\n";
    p.write("schedules/h.yaml", &hourly);
    // It says when it is called: a run's work starts only once its start is
    // on disk, so a kill after a call finds the run `running`.
    let calls = p.path("hang-calls");
    p.script(
        "gen-hang.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho called >> {}\nsleep 30\n",
            calls.display()
        ),
    );
    let called = || {
        std::fs::read_to_string(&calls)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let api_url = slack.api_url();
    let env = [
        ("ADSCHED_SLACK_TOKEN", SLACK_TOKEN),
        ("ADSCHED_SLACK_API_URL", api_url.as_str()),
        ("ADSCHED_CLOCK", clock.as_str()),
    ];
    let bin = Bin::start(&p, &gen(&p, "gen-hang.sh"), &env);
    assert_eq!(bin.term(), Some(0));
    // 01:00 passes while no daemon runs.
    let restart_at = r0 + 6_500;
    while chrono::Utc::now().timestamp_millis() < restart_at {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let bin = Bin::start(&p, &gen(&p, "gen-hang.sh"), &env);
    let missed = wait_for(20, "the missed alert", || {
        slack
            .lock()
            .posts
            .iter()
            .find(|m| m["text"].as_str().unwrap_or("").contains("were missed"))
            .cloned()
    });
    assert_eq!(missed["channel"], "C0ALERTS01");
    assert!(
        missed["text"]
            .as_str()
            .unwrap()
            .contains("outside the catch-up window"),
        "the reason: {missed}"
    );

    // A run in progress when the daemon is killed is found interrupted.
    let before = called();
    let (status, v) = post(&bin, "/api/v1/schedules/hourly/trigger", None, &Value::Null);
    assert_eq!(status, 202, "{v}");
    let run = run_id(&v);
    wait_for(10, "the run's generator call", || {
        let r = bin.get(&format!("/api/v1/runs/{run}"))?;
        (r["status"] == "running" && called() > before).then_some(())
    });
    bin.kill9();
    let bin = Bin::start(&p, &gen(&p, "gen-hang.sh"), &env);
    let alert = wait_for(20, "the interrupted alert", || {
        slack
            .lock()
            .posts
            .iter()
            .find(|m| m["text"].as_str().unwrap_or("").contains("interrupted"))
            .cloned()
    });
    assert!(alert["text"].as_str().unwrap().contains(&run), "{alert}");
    assert_eq!(
        bin.get(&format!("/api/v1/runs/{run}")).unwrap()["status"],
        "interrupted"
    );
}
