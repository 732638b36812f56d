//! The dashboard in a real browser: the daemon with the local generator makes
//! runs with real PNGs for two brands, then headless Chromium (Debian's
//! `chromium`, driven by tests/browser/dashboard.mjs through playwright-core)
//! opens `/`, filters by brand, follows a schedule to a run and checks that the
//! thumbnails loaded and the log is shown. Screenshots land in
//! `target/browser/` (a CI artifact).
//!
//! Needs Debian's chromium (or CHROMIUM_PATH=/path/to/chrome), Node.js >= 20
//! and `npm ci --prefix tests/browser`; scripts/test.sh installs them all.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, schedule, wait_for, Bin, Project};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/browser`, wherever the target folder is (CARGO_TARGET_TMPDIR is `<target>/tmp`).
fn artifacts() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    target.join("browser")
}

/// None when everything is there, else what is missing.
fn missing_tools() -> Option<String> {
    let mut missing = Vec::new();
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium ({chromium} not found)"));
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => missing.push("Node.js (`node` not on PATH)".into()),
    }
    for package in ["playwright-core", "axe-core"] {
        let pw = repo().join(format!("tests/browser/node_modules/{package}/package.json"));
        if !pw.exists() {
            missing.push(format!("{package} ({} not found)", pw.display()));
        }
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

fn trigger(port: u16, schedule_id: &str) -> String {
    let (status, body) = http(
        "POST",
        port,
        &format!("/api/v1/schedules/{schedule_id}/trigger"),
    )
    .unwrap_or_else(|| panic!("no answer to the trigger of {schedule_id}"));
    assert_eq!(status, 202, "trigger {schedule_id}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

/// Runs `cmd` for at most `limit`, returning (success, stdout, stderr).
fn run_with_limit(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (out_t.join().unwrap(), err_t.join().unwrap());
            panic!("the browser script took over {limit:?}\n--- stdout\n{o}\n--- stderr\n{e}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (ok, out_t.join().unwrap(), err_t.join().unwrap())
}

#[test]
fn dashboard_filters_follows_a_run_and_shows_loaded_thumbnails() {
    if let Some(what) = missing_tools() {
        common::missing(&what);
    }

    // Two products of two brands, real templates of two sizes.
    let p = Project::new();
    std::fs::remove_dir_all(p.path("templates")).unwrap();
    std::fs::create_dir_all(p.path("templates")).unwrap();
    for e in std::fs::read_dir(repo().join("templates")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), p.path("templates").join(e.file_name())).unwrap();
    }
    p.write(
        "schedules/products2.yaml",
        "apiVersion: adsched/v1\nkind: Product\nid: trail-bar\nname: Trail Bar\n\
         brand: { id: globex, name: Globex Outdoors }\nhooks: [\"Fuel for the last mile\"]\n",
    );
    // Far in the future: only the manual triggers below make runs.
    let later = "  once: { at: \"2099-01-05T09:00:00\" }\n  timezone: UTC";
    let with_variations = |s: String| s.replace("num_variations: 1", "num_variations: 2");
    p.write(
        "schedules/acme.yaml",
        &format!(
            "{}---\n{}",
            with_variations(schedule("acme-hero", later, 2)),
            schedule("acme-spare", later, 1)
        ),
    );
    p.write(
        "schedules/globex.yaml",
        &with_variations(schedule("globex-trail", later, 2))
            .replace("product: collagen", "product: trail-bar"),
    );

    let bin = Bin::start(&p, "local", &[]);
    let list = bin.get("/api/v1/schedules").unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let acme_run = trigger(bin.port, "acme-hero");
    let globex_run = trigger(bin.port, "globex-trail");
    let runs: Vec<serde_json::Value> = [&acme_run, &globex_run]
        .iter()
        .map(|id| {
            wait_for(30, &format!("run {id} to complete"), || {
                let r = bin.get(&format!("/api/v1/runs/{id}"))?;
                match r["status"].as_str()? {
                    "completed" => Some(r),
                    "failed" | "interrupted" => panic!("run {id} did not complete: {r}"),
                    _ => None,
                }
            })
        })
        .collect();
    let acme_ads = runs[0]["ads"].as_array().unwrap().len();
    assert_eq!(acme_ads, 4, "2 templates x 2 variations: {}", runs[0]);

    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("dashboard.png");
    let mut cmd = Command::new("node");
    cmd.current_dir(repo())
        .arg("tests/browser/dashboard.mjs")
        .arg(format!("http://127.0.0.1:{}", bin.port))
        .arg(&shot)
        .arg("acme");
    let (ok, out, err) = run_with_limit(cmd, Duration::from_secs(90));
    let daemon_log = std::fs::read_to_string(p.path("daemon.log")).unwrap_or_default();
    assert!(
        ok,
        "the browser check failed\n--- stdout\n{out}\n--- stderr\n{err}\n--- daemon log (tail)\n{}",
        daemon_log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!("{out}");

    // What the browser saw matches what the API says.
    let result: serde_json::Value = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no RESULT line in\n{out}"));
    let ids = |k: &str| -> Vec<String> {
        let mut v: Vec<String> = result[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids("listed"),
        ["acme-hero", "acme-spare", "globex-trail"],
        "{result}"
    );
    assert_eq!(ids("filtered"), ["acme-hero", "acme-spare"], "{result}");
    assert_eq!(result["schedule"], "/schedules/acme-hero", "{result}");
    assert_eq!(result["run"], format!("/runs/{acme_run}"), "{result}");
    assert_eq!(
        result["axe_pages"],
        serde_json::json!(["list", "schedule", "run", "runs", "week"]),
        "axe-core checked every page: {result}"
    );
    let images = result["images"].as_array().unwrap();
    assert_eq!(images.len(), acme_ads, "{result}");
    for (img, ad) in images.iter().zip(runs[0]["ads"].as_array().unwrap()) {
        assert_eq!(img["src"], ad["image"], "{result}");
        let file = p
            .path("state")
            .join(ad["image"].as_str().unwrap().trim_start_matches('/'));
        let png = image::image_dimensions(&file).unwrap();
        assert_eq!(
            (img["w"].as_u64().unwrap(), img["h"].as_u64().unwrap()),
            (u64::from(png.0), u64::from(png.1)),
            "{result}"
        );
    }
    for s in ["dashboard.png", "dashboard-list.png"] {
        let len = std::fs::metadata(dir.join(s)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "no screenshot {}", dir.join(s).display());
    }
}

#[test]
fn operator_buttons_act_with_a_token_and_the_audit_page_lists_them() {
    if let Some(what) = missing_tools() {
        common::missing(&what);
    }
    const TOKEN: &str = "tok-browser-3c9a";
    let p = Project::new();
    let slack = common::slack::FakeSlack::start("xoxb-browser");
    // `slow` keeps the worker busy so that a run of `posting` waits behind it.
    p.script(
        "gen.sh",
        &format!(
            "#!/bin/sh\nreq=$(cat)\ncase \"$req\" in *'\"schedule_id\":\"slow\"'*) sleep 4;; esac\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{}\"}}]}}'\n",
            common::PNG_1X1
        ),
    );
    let later = "  once: { at: \"2099-01-05T09:00:00\" }\n  timezone: UTC";
    p.write("schedules/slow.yaml", &schedule("slow", later, 3));
    p.write(
        "schedules/posting.yaml",
        &(schedule("posting", later, 1)
            + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n"),
    );
    let api_url = slack.api_url();
    let tokens = format!("ops:{TOKEN}");
    let bin = Bin::start(
        &p,
        &format!("cmd:{}", p.path("gen.sh").display()),
        &[
            ("ADSCHED_API_TOKENS", &tokens),
            ("ADSCHED_SLACK_TOKEN", "xoxb-browser"),
            ("ADSCHED_SLACK_API_URL", &api_url),
        ],
    );
    let post = |path: &str| -> String {
        let auth = format!("Bearer {TOKEN}");
        let (status, body) =
            common::request("POST", bin.port, path, &[("Authorization", &auth)], "").unwrap();
        assert_eq!(status, 202, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["run_id"].as_str().unwrap().to_string()
    };
    let exported = post("/api/v1/schedules/posting/trigger");
    wait_for(30, "the posting run", || {
        let r = bin.get(&format!("/api/v1/runs/{exported}"))?;
        (r["status"] == "completed").then_some(())
    });
    assert_eq!(slack.lock().completes.len(), 1);
    let running = post("/api/v1/schedules/slow/trigger");
    let pending = post("/api/v1/schedules/posting/trigger");

    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("node");
    cmd.current_dir(repo())
        .arg("tests/browser/operations.mjs")
        .arg(format!("http://127.0.0.1:{}", bin.port))
        .arg(&dir)
        .arg(TOKEN)
        .arg("slow")
        .arg(&pending)
        .arg(&exported)
        .arg(&running);
    let (ok, out, err) = run_with_limit(cmd, Duration::from_secs(90));
    assert!(
        ok,
        "the browser check failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");

    // What the buttons did, as the API and Slack saw it.
    let r = bin.get(&format!("/api/v1/runs/{pending}")).unwrap();
    assert_eq!(r["status"], "cancelled", "{r}");
    wait_for(30, "the second export", || {
        (slack.lock().completes.len() == 2).then_some(())
    });
    let audit = bin.get("/api/v1/audit").unwrap();
    let mut seen: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.reverse();
    let want: Vec<(String, String)> = [
        "trigger", "trigger", "trigger", "pause", "resume", "trigger", "cancel", "export",
    ]
    .iter()
    .map(|a| ("ops".to_string(), a.to_string()))
    .collect();
    assert_eq!(seen, want, "{audit}");
    let result: serde_json::Value = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no RESULT line in\n{out}"));
    assert_eq!(result["audit"].as_array().unwrap().len(), 8, "{result}");
    for s in ["operations-paused.png", "operations-audit.png"] {
        assert!(dir.join(s).exists(), "no screenshot {s}");
    }
}

#[test]
fn a_marketer_reviews_ads_and_only_the_approved_ones_reach_slack() {
    if let Some(what) = missing_tools() {
        common::missing(&what);
    }
    let p = Project::new();
    let slack = common::slack::FakeSlack::start("xoxb-review");
    let later = "  once: { at: \"2099-01-05T09:00:00\" }\n  timezone: UTC";
    p.write(
        "schedules/drafts.yaml",
        &(schedule("drafts", later, 3)
            + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n  review: required\n"),
    );
    let api_url = slack.api_url();
    let bin = Bin::start(
        &p,
        "local",
        &[
            ("ADSCHED_SLACK_TOKEN", "xoxb-review"),
            ("ADSCHED_SLACK_API_URL", &api_url),
        ],
    );
    let run = trigger(bin.port, "drafts");
    wait_for(60, "the run to wait for review", || {
        let r = bin.get(&format!("/api/v1/runs/{run}"))?;
        (r["exports"][0]["status"] == "awaiting_review").then_some(())
    });
    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("node");
    cmd.current_dir(repo())
        .arg("tests/browser/review.mjs")
        .arg(format!("http://127.0.0.1:{}", bin.port))
        .arg(&dir);
    let (ok, out, err) = run_with_limit(cmd, Duration::from_secs(90));
    assert!(
        ok,
        "the browser check failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    let r = bin.get(&format!("/api/v1/runs/{run}")).unwrap();
    assert_eq!(r["exports"][0]["status"], "sent", "{r}");
    // Under each ad, the hook it carries, as the API records it.
    let result: serde_json::Value = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no RESULT line in\n{out}"));
    let texts: Vec<String> = r["ads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("\u{201c}{}\u{201d}", a["text"].as_str().unwrap()))
        .collect();
    assert_eq!(result["hooks"], serde_json::json!(texts), "{result}");
    assert_eq!(texts[0], "\u{201c}Glow\u{201d}");
    let decisions: Vec<&str> = r["ads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["review"]["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["approved", "approved", "rejected"], "{r}");
    let f = slack.lock();
    assert_eq!(f.completes.len(), 1);
    assert_eq!(
        f.files.len(),
        2,
        "the two approved ads, not the rejected one"
    );
    for s in ["review-list-phone.png", "review-run.png", "review-sent.png"] {
        assert!(dir.join(s).exists(), "no screenshot {s}");
    }
}

/// Copies the folder `from` to `to` (replacing it).
fn copy_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_marketer_writes_the_users_schedule_in_the_form_and_validate_accepts_the_file() {
    if let Some(what) = missing_tools() {
        common::missing(&what);
    }
    // The bundled examples: their products, their six templates, and a file
    // of two schedules to edit.
    let p = Project::new();
    copy_tree(&repo().join("schedules"), &p.path("schedules"));
    copy_tree(&repo().join("templates"), &p.path("templates"));
    copy_tree(&repo().join("schemas"), &p.path("schemas"));
    let bin = Bin::start(
        &p,
        "local",
        &[("ADSCHED_REPO_URL", "https://github.com/acme/ad-schedules")],
    );
    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("node");
    cmd.current_dir(repo())
        .arg("tests/browser/form.mjs")
        .arg(format!("http://127.0.0.1:{}", bin.port))
        .arg(&dir)
        .arg("acme-holiday-once");
    let (ok, out, err) = run_with_limit(cmd, Duration::from_secs(90));
    assert!(
        ok,
        "the browser check failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    let result: serde_json::Value = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no RESULT line in\n{out}"));
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();

    // The form wrote exactly the checked-in file, and said it is valid.
    let expected =
        std::fs::read_to_string(repo().join("tests/browser/expected/acme-collagen-mondays.yaml"))
            .unwrap();
    assert_eq!(s(&result["yaml"]), expected, "{result}");
    assert_eq!(s(&result["downloaded"]), expected, "the download differs");
    assert_eq!(s(&result["file_name"]), "acme-collagen-mondays.yaml");
    assert_eq!(
        s(&result["path"]),
        "schedules/acme/acme-collagen-mondays.yaml"
    );
    // 10 asked of a pool of 6: valid, with the pool-too-small warning.
    assert!(
        s(&result["findings"]).starts_with("Valid, with 1 warning"),
        "{result}"
    );
    assert!(
        s(&result["findings"]).contains("pool-too-small"),
        "{result}"
    );
    assert!(
        s(&result["unused_note"])
            .starts_with("6 of the pool's 6 templates are still unused for Collagen Peptides"),
        "{result}"
    );
    assert_eq!(
        s(&result["description"]),
        "every Monday at 09:00 (America/Los_Angeles)"
    );
    for t in result["times"].as_array().unwrap() {
        let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
        let la = t.with_timezone(&chrono_tz::America::Los_Angeles);
        assert_eq!(la.format("%a %H:%M").to_string(), "Mon 09:00", "{result}");
    }

    // GitHub's new-file page, the path and the content filled in.
    let propose = s(&result["propose"]);
    let prefix = "https://github.com/acme/ad-schedules/new/main?filename=schedules%2Facme%2Facme-collagen-mondays.yaml&value=";
    assert!(propose.starts_with(prefix), "{propose}");
    let value = propose.strip_prefix(prefix).unwrap();
    assert_eq!(percent_decode(value), expected);

    // The file as downloaded is accepted by `adsched validate`, in the tree.
    p.write(
        "schedules/acme/acme-collagen-mondays.yaml",
        &s(&result["downloaded"]),
    );
    let (code, out, err) = common::adsched(
        &p,
        &[
            "validate",
            "--format",
            "json",
            "schedules/acme/acme-collagen-mondays.yaml",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");

    // A broken zone: the finding names the YAML line that holds it.
    let broken = &result["broken"];
    let line = broken["finding"]["line"].as_u64().unwrap() as usize;
    let broken_line = expected
        .lines()
        .position(|l| l.starts_with("  timezone:"))
        .unwrap()
        + 1;
    assert_eq!(line, broken_line, "{broken}");
    assert!(
        s(&broken["finding"]["text"]).contains("Mars/Olympus"),
        "{broken}"
    );
    assert_eq!(
        broken["marked"],
        serde_json::json!(["  timezone: Mars/Olympus"]),
        "the YAML view marks the line: {broken}"
    );
    assert_eq!(broken["times"], 0, "no fire times for an invalid draft");

    // Editing the second schedule of a two-document file: the whole file,
    // that document replaced, valid (not its own duplicate).
    let edit = &result["edit"];
    assert_eq!(edit["id"], "acme-holiday-once", "{edit}");
    assert!(s(&edit["verdict"]).starts_with("Valid"), "{edit}");
    let yaml = s(&edit["yaml"]);
    assert!(yaml.contains("id: acme-collagen-monthly"), "{yaml}");
    assert!(yaml.contains("id: acme-holiday-once"), "{yaml}");
    assert!(
        yaml.contains("  once: { at: \"2030-12-24T09:00\" }"),
        "{yaml}"
    );
    assert_eq!(
        s(&edit["github"]),
        "https://github.com/acme/ad-schedules/blob/main/schedules/acme/more.yaml"
    );
    assert!(
        s(&edit["propose"])
            .starts_with("https://github.com/acme/ad-schedules/edit/main/schedules/acme/more.yaml"),
        "{edit}"
    );
    p.write("schedules/acme/more.yaml", &yaml);
    let (code, out, err) = common::adsched(&p, &["validate", "schedules"], &[]);
    assert_eq!(code, Some(0), "the edited file: {out}{err}");

    // The week page lays out the examples' fires on their days and hours:
    // each fire `adsched next` computes for the next 7 days is there (a fire
    // within minutes of the window's ends may fall either side).
    let now = chrono::Utc::now();
    let la = chrono_tz::America::Los_Angeles;
    let mut expected = Vec::new();
    let mut edge = 0;
    for s in bin.get("/api/v1/schedules").unwrap().as_array().unwrap() {
        if s["status"] != "active" {
            continue;
        }
        let id = s["id"].as_str().unwrap();
        let (code, out, err) =
            common::adsched(&p, &["next", id, "--count", "100", "--format", "json"], &[]);
        assert_eq!(code, Some(0), "{err}");
        let next: serde_json::Value = serde_json::from_str(&out).unwrap();
        for t in next["times"].as_array().unwrap() {
            let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            let end = now + chrono::Duration::days(7);
            let margin = chrono::Duration::minutes(5);
            if t > now + margin && t < end - margin {
                let local = t.with_timezone(&la);
                expected.push((
                    local.format("%A %-d %B").to_string(),
                    local.format("%H:%M").to_string(),
                    id.to_string(),
                ));
            } else if (t - now).abs() <= margin || (t - end).abs() <= margin {
                edge += 1;
            }
        }
    }
    assert!(!expected.is_empty(), "the examples fire this week");
    let shown: Vec<(String, String, String)> = result["week"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["fires"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (s(&d["day"]), s(&f["time"]), s(&f["id"])))
        })
        .collect();
    for e in &expected {
        assert!(
            shown.contains(e),
            "{e:?} is not on the week page: {shown:?}"
        );
    }
    assert!(
        shown.len() <= expected.len() + edge,
        "the week page shows fires that do not happen: {shown:?} vs {expected:?}"
    );

    assert_eq!(
        result["axe_pages"],
        serde_json::json!(["new", "edit", "week"]),
        "{result}"
    );
    for shot in [
        "form-desktop.png",
        "form-phone.png",
        "form-error.png",
        "form-edit.png",
        "week.png",
    ] {
        assert!(dir.join(shot).exists(), "no screenshot {shot}");
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
