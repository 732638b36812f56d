//! The real `adsched daemon` binary: hot reload through notify, a second
//! daemon on the same state, graceful stop, and a SIGKILL loop.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{schedule, wait_for, Bin, Project};
use serde_json::Value;

fn gen(p: &Project, script: &str) -> String {
    format!("cmd:{}", p.path(script).display())
}

fn schedule_field(bin: &Bin, id: &str, field: &str) -> Option<Value> {
    bin.get(&format!("/api/v1/schedules/{id}"))
        .map(|v| v[field].clone())
}

#[test]
fn hot_reload_sees_edits_atomic_saves_deletes_new_folders_and_broken_files() {
    let p = Project::new();
    let s = schedule("edit-me", "  daily: { at: \"09:00\" }", 1);
    p.write("schedules/s.yaml", &s);
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    assert_eq!(schedule_field(&bin, "edit-me", "name").unwrap(), "edit-me");

    // A plain in-place write.
    std::fs::write(
        p.path("schedules/s.yaml"),
        s.replace("name: edit-me", "name: Plain edit"),
    )
    .unwrap();
    wait_for(20, "a plain edit", || {
        (schedule_field(&bin, "edit-me", "name")? == "Plain edit").then_some(())
    });

    // An editor's atomic save: write a temp file, rename over.
    p.write(
        "schedules/s.yaml",
        &s.replace("name: edit-me", "name: Atomic save"),
    );
    wait_for(20, "an atomic save", || {
        (schedule_field(&bin, "edit-me", "name")? == "Atomic save").then_some(())
    });

    // A new folder with a new file.
    p.write(
        "schedules/new/deeper/n.yaml",
        &schedule("newcomer", "  daily: { at: \"10:00\" }", 1),
    );
    wait_for(20, "a new folder", || {
        schedule_field(&bin, "newcomer", "status").filter(|s| s == "active")
    });

    // A broken file: the last valid version stays in force, the error is shown.
    let next_before = schedule_field(&bin, "edit-me", "next_run_at").unwrap();
    std::fs::write(
        p.path("schedules/s.yaml"),
        s.replace("daily: { at: \"09:00\" }", "daily: { at: \"9 o'clock\" }"),
    )
    .unwrap();
    let err = wait_for(20, "the error to show", || {
        schedule_field(&bin, "edit-me", "error").filter(|e| !e.is_null())
    });
    assert_eq!(err["file"], "schedules/s.yaml");
    assert_eq!(err["line"], 7);
    assert!(
        err["message"].as_str().unwrap().contains("9 o'clock"),
        "{err}"
    );
    assert_eq!(schedule_field(&bin, "edit-me", "status").unwrap(), "active");
    assert_eq!(
        schedule_field(&bin, "edit-me", "next_run_at").unwrap(),
        next_before
    );
    let ready = bin.get("/readyz").unwrap();
    assert_eq!(
        ready["invalid_files"][0]["file"], "schedules/s.yaml",
        "{ready}"
    );
    assert_eq!(ready["role"], "leader", "alone on its store: {ready}");

    // Fixed again: the error clears.
    std::fs::write(p.path("schedules/s.yaml"), &s).unwrap();
    wait_for(20, "the error to clear", || {
        schedule_field(&bin, "edit-me", "error").filter(|e| e.is_null())
    });

    // Deleted: removed, history kept; back: restored.
    bin_trigger_and_wait(&bin, "edit-me");
    std::fs::remove_file(p.path("schedules/s.yaml")).unwrap();
    wait_for(20, "removal", || {
        schedule_field(&bin, "edit-me", "status").filter(|s| s == "removed")
    });
    assert_eq!(
        schedule_field(&bin, "edit-me", "next_run_at").unwrap(),
        Value::Null
    );
    let runs = bin.get("/api/v1/schedules/edit-me/runs").unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "history kept");
    let (status, _) = common::http("POST", bin.port, "/api/v1/schedules/edit-me/trigger").unwrap();
    assert_eq!(status, 409, "a removed schedule cannot be triggered");
    p.write("schedules/s.yaml", &s);
    wait_for(20, "restore", || {
        schedule_field(&bin, "edit-me", "status").filter(|s| s == "active")
    });
    assert!(schedule_field(&bin, "edit-me", "next_run_at")
        .unwrap()
        .is_string());
}

fn bin_trigger_and_wait(bin: &Bin, id: &str) {
    let (status, body) =
        common::http("POST", bin.port, &format!("/api/v1/schedules/{id}/trigger")).unwrap();
    assert_eq!(status, 202, "{body}");
    let run_id = serde_json::from_str::<Value>(&body).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(10, "the manual run", || {
        bin.get(&format!("/api/v1/runs/{run_id}"))
            .filter(|r| r["status"] == "completed")
    });
}

#[cfg(unix)]
#[test]
fn a_configmap_style_symlink_swap_is_seen() {
    // Kubernetes mounts a ConfigMap as: schedules/s.yaml -> ..data/s.yaml,
    // ..data -> ..2026_01_01_v1/; an update writes a new timestamped folder and
    // swaps ..data atomically. Events only name ..data.
    use std::os::unix::fs::symlink;
    let p = Project::new();
    let cm = p.path("schedules/cm");
    std::fs::create_dir_all(cm.join("..v1")).unwrap();
    std::fs::write(
        cm.join("..v1/s.yaml"),
        schedule("cm", "  daily: { at: \"09:00\" }", 1),
    )
    .unwrap();
    symlink("..v1", cm.join("..data")).unwrap();
    symlink("..data/s.yaml", cm.join("s.yaml")).unwrap();
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    assert_eq!(schedule_field(&bin, "cm", "name").unwrap(), "cm");

    std::fs::create_dir_all(cm.join("..v2")).unwrap();
    std::fs::write(
        cm.join("..v2/s.yaml"),
        schedule("cm", "  daily: { at: \"09:00\" }", 1).replace("name: cm", "name: Swapped"),
    )
    .unwrap();
    symlink("..v2", cm.join("..data_tmp")).unwrap();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    std::fs::remove_dir_all(cm.join("..v1")).unwrap();
    wait_for(20, "the swap", || {
        (schedule_field(&bin, "cm", "name")? == "Swapped").then_some(())
    });
}

#[cfg(unix)]
#[test]
fn a_git_sync_style_swap_of_the_whole_folder_is_seen() {
    // git-sync: ./schedules -> repo/current/schedules, current -> rev-1, swapped to rev-2.
    use std::os::unix::fs::symlink;
    let p = Project::new();
    let products = std::fs::read_to_string(p.path("schedules/products.yaml")).unwrap();
    std::fs::remove_dir_all(p.path("schedules")).unwrap();
    for (rev, name) in [("rev-1", "First"), ("rev-2", "Second")] {
        let d = p.path(&format!("repo/{rev}/schedules"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("products.yaml"), &products).unwrap();
        std::fs::write(
            d.join("s.yaml"),
            schedule("gs", "  daily: { at: \"09:00\" }", 1)
                .replace("name: gs", &format!("name: {name}")),
        )
        .unwrap();
    }
    symlink("rev-1", p.path("repo/current")).unwrap();
    symlink("repo/current/schedules", p.path("schedules")).unwrap();
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    assert_eq!(schedule_field(&bin, "gs", "name").unwrap(), "First");
    symlink("rev-2", p.path("repo/current-new")).unwrap();
    std::fs::rename(p.path("repo/current-new"), p.path("repo/current")).unwrap();
    wait_for(20, "the swap", || {
        (schedule_field(&bin, "gs", "name")? == "Second").then_some(())
    });
}

#[test]
fn a_second_daemon_on_the_same_state_exits_naming_the_folder() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("one", "  daily: { at: \"09:00\" }", 1),
    );
    let _first = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .current_dir(p.dir.path())
        .args([
            "daemon",
            "--listen",
            &format!("127.0.0.1:{}", common::free_port()),
            "--generator",
            &gen(&p, "gen-ok.sh"),
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("state") && err.contains("in use by another adsched daemon"),
        "{err}"
    );
}

#[test]
fn sigterm_finishes_the_template_records_and_exits_zero() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("slow", "  daily: { at: \"09:00\" }", 3),
    );
    let bin = Bin::start(&p, &gen(&p, "gen-slow.sh"), &[]);
    let (status, body) = common::http("POST", bin.port, "/api/v1/schedules/slow/trigger").unwrap();
    assert_eq!(status, 202);
    let run_id = serde_json::from_str::<Value>(&body).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Wait until the first template is with the generator (0.3 s each).
    wait_for(20, "the first template to start", || {
        let log = bin.get(&format!("/api/v1/runs/{run_id}/logs"))?;
        log.as_array()?
            .iter()
            .any(|l| l["message"].as_str().unwrap_or("").contains("calling"))
            .then_some(())
    });
    let port = bin.port;
    assert_eq!(bin.term(), Some(0));
    // Restart and look: the run stopped between templates and says so.
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    assert_ne!(port, 0);
    let run = bin.get(&format!("/api/v1/runs/{run_id}")).unwrap();
    assert_eq!(run["status"], "interrupted", "{run}");
    let used = run["templates_used"].as_array().unwrap().len();
    assert_eq!(
        used, 1,
        "the current template finished, no new one started: {run}"
    );
    assert_eq!(run["ads"].as_array().unwrap().len(), 1);
}

/// The SIGKILL loop: a warp clock (10 minutes a second) and a schedule every
/// 10 minutes, killed at random moments and restarted. No calendar time may
/// run twice; nothing the API showed may disappear; counters equal records.
#[test]
fn sigkill_at_random_moments_never_fires_twice_or_loses_records() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("crash", "  cron: \"*/10 * * * *\"\n  timezone: UTC", 2),
    );
    let r0 = chrono::Utc::now().timestamp_millis();
    let clock = format!("warp:2026-06-01T00:00:00Z:{r0}:600");
    let env = [("ADSCHED_CLOCK", clock.as_str())];
    let rounds: usize = std::env::var("ADSCHED_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut seen_runs: HashMap<String, Value> = HashMap::new();
    let mut seen_logs: HashMap<String, usize> = HashMap::new();
    let mut seed = r0 as u64;
    for _ in 0..rounds {
        let bin = Bin::start(&p, &gen(&p, "gen-slow.sh"), &env);
        // A random moment between 0.2 and 2 s: often mid-template.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = 200 + (seed >> 33) % 1800;
        let deadline = Instant::now() + Duration::from_millis(wait);
        while Instant::now() < deadline {
            if let Some(runs) = bin.get("/api/v1/schedules/crash/runs?limit=1000") {
                for r in runs.as_array().unwrap() {
                    let id = r["id"].as_str().unwrap().to_string();
                    if let Some(lines) = bin.get(&format!("/api/v1/runs/{id}/logs")) {
                        let n = lines.as_array().unwrap().len();
                        let e = seen_logs.entry(id.clone()).or_default();
                        *e = (*e).max(n);
                    }
                    seen_runs.insert(id, r.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bin.kill9();
    }
    // A last start recovers what the kills left; stop it cleanly, then read
    // the store directly (no daemon keeps firing while we count).
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &env);
    assert_eq!(bin.term(), Some(0));
    let cli = |args: &[&str]| common::cli_store(&p, args);
    let runs = cli(&["runs", "crash", "--limit", "1000"]);
    let runs = runs.as_array().unwrap();
    let by_id: HashMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for id in seen_runs.keys() {
        assert!(
            by_id.contains_key(id.as_str()),
            "run {id} was reported and then lost"
        );
        let lines = cli(&["logs", id]);
        assert!(
            lines.as_array().unwrap().len() >= seen_logs[id],
            "log lines of {id} lost"
        );
    }
    let mut slots = HashSet::new();
    let mut counted = 0;
    for r in runs {
        let trig = r["trigger"].as_str().unwrap();
        if trig == "schedule" || trig == "catchup" {
            let slot = r["scheduled_for"].as_str().unwrap().to_string();
            assert!(
                slots.insert(slot.clone()),
                "time {slot} fired twice: {runs:#?}"
            );
            if r["status"] != "pending" && r["status"] != "missed" {
                counted += 1;
            }
        }
        assert_ne!(
            r["status"], "running",
            "a run left running after a stop: {r}"
        );
    }
    assert!(
        counted >= 3,
        "the loop should have fired several times: {runs:#?}"
    );
    let s = cli(&["show", "crash"]);
    assert_eq!(
        s["schedule"]["runs_completed"].as_u64().unwrap(),
        counted,
        "{s}"
    );
}

/// `adsched list` through the running daemon, human format.
fn list_human(p: &Project, bin: &Bin) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .current_dir(p.dir.path())
        .args([
            "list",
            "--server",
            &format!("http://127.0.0.1:{}", bin.port),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn list_shows_files_in_error_and_schedules_running_an_older_version() {
    let p = Project::new();
    let good = schedule("kept", "  daily: { at: \"09:00\" }", 1);
    p.write("schedules/kept.yaml", &good);
    p.write(
        "schedules/never.yaml",
        &schedule("never-valid", "  daily: { at: \"25:00\" }", 1),
    );
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    let text = list_human(&p, &bin);
    assert!(
        text.contains("schedules/never.yaml:"),
        "a file that never was valid is listed:\n{text}"
    );
    assert!(text.contains("25:00"), "{text}");
    // The file of a running schedule breaks: it stays, marked.
    p.write("schedules/kept.yaml", &good.replace("count: 1", "count: 0"));
    wait_for(20, "the error on the schedule", || {
        schedule_field(&bin, "kept", "error").filter(Value::is_object)
    });
    let text = list_human(&p, &bin);
    let row = text
        .lines()
        .find(|l| l.starts_with("kept"))
        .unwrap_or_default();
    assert!(row.contains("active (file invalid)"), "{text}");
    assert!(text.contains("schedules/kept.yaml:"), "{text}");
}

#[test]
fn a_start_up_error_is_printed_once_and_a_read_only_state_is_named() {
    let p = Project::new();
    // Root ignores permissions: make the state folder a read-only mount.
    std::fs::create_dir_all(p.path("state")).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(p.path("state"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "this test mounts a read-only tmpfs and needs root (CI runs as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(p.path("state"));
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .current_dir(p.dir.path())
        .args(["daemon", "--listen", "127.0.0.1:0", "--state"])
        .arg(p.path("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let state = p.path("state").display().to_string();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("cannot be written"))
        .collect();
    assert_eq!(lines.len(), 1, "printed once:\n{err}");
    assert!(
        lines[0].contains(&state) && lines[0].contains("--state"),
        "{err}"
    );
}

/// Whether a process with this pid is still alive (and not a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn a_generator_past_its_timeout_is_killed_with_its_children_and_the_run_goes_on() {
    let p = Project::new();
    // The first call hangs (with a child of its own, as a shell script's curl
    // would); later calls answer at once.
    p.script(
        "gen-hang-once.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\nif [ ! -e {marker} ]; then\n  touch {marker}\n  sleep 300 &\n  echo $$ $! > {pids}\n  wait\nfi\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{png}\"}}]}}'\n",
            marker = p.path("hung").display(),
            pids = p.path("pids").display(),
            png = common::PNG_1X1,
        ),
    );
    p.write(
        "schedules/s.yaml",
        &schedule("hang", "  daily: { at: \"09:00\" }\n  timeout: 2s", 2),
    );
    let bin = Bin::start(&p, &gen(&p, "gen-hang-once.sh"), &[]);
    let (status, body) = common::http("POST", bin.port, "/api/v1/schedules/hang/trigger").unwrap();
    assert_eq!(status, 202, "{body}");
    let run_id = serde_json::from_str::<Value>(&body).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = wait_for(30, "the run to end", || {
        let r = bin.get(&format!("/api/v1/runs/{run_id}"))?;
        matches!(r["status"].as_str()?, "completed" | "failed").then_some(r)
    });
    // The hung template failed; the next one ran.
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["ads"].as_array().unwrap().len(), 1, "{run}");
    let logs = bin.get(&format!("/api/v1/runs/{run_id}/logs")).unwrap();
    assert!(
        logs.to_string().contains("timed out after 2s"),
        "the log says why: {logs}"
    );
    let pids = std::fs::read_to_string(p.path("pids")).unwrap();
    for pid in pids.split_whitespace() {
        wait_for(5, &format!("process {pid} to be gone"), || {
            (!alive(pid)).then_some(())
        });
    }
}

#[test]
fn the_dashboard_lists_schedules_a_hundred_a_page_with_the_filters_kept() {
    let p = Project::new();
    let docs: Vec<String> = (0..150)
        .map(|i| schedule(&format!("s{i:03}"), "  daily: { at: \"09:00\" }", 1))
        .collect();
    p.write("schedules/many.yaml", &docs.join("---\n"));
    let bin = Bin::start(&p, &gen(&p, "gen-ok.sh"), &[]);
    let rows = |html: &str| html.matches("<tr class=\"schedule\">").count();
    let first = common::http("GET", bin.port, "/?brand=acme").unwrap().1;
    assert_eq!(rows(&first), 100);
    assert!(first.contains("Page 1 of 2 (150 schedules)"), "{first}");
    assert!(
        first.contains("href=\"/?brand=acme&amp;page=2\""),
        "the filter is kept"
    );
    let second = common::http("GET", bin.port, "/?brand=acme&page=2")
        .unwrap()
        .1;
    assert_eq!(rows(&second), 50);
    assert!(second.contains("s149") && !second.contains(">s000<"));
    // A page past the end shows the last one.
    let past = common::http("GET", bin.port, "/?page=9").unwrap().1;
    assert_eq!(rows(&past), 50);
}
