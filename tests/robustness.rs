//! The robustness suite (issue 7): the real binary against a full disk, a
//! schedules folder that goes away and returns, and a `git checkout` that
//! changes 1,000 files at once. The longer SIGKILL loop is
//! `sigkill_at_random_moments_never_fires_twice_or_loses_records` in
//! daemon_bin.rs with `ADSCHED_CRASH_ROUNDS` raised, as `.ci/run` does.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cli_store as cli, schedule, wait_for, Bin, Project, PRODUCT};
use serde_json::Value;

fn readyz(bin: &Bin) -> Option<(u16, Value)> {
    let (status, body) = common::http("GET", bin.port, "/readyz")?;
    Some((status, serde_json::from_str(&body).ok()?))
}

fn daemon_log(p: &Project) -> String {
    std::fs::read_to_string(p.path("daemon.log")).unwrap_or_default()
}

/// A tmpfs mounted for the length of a test.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "the full-disk test mounts a small tmpfs as the state folder and needs \
             root (or CAP_SYS_ADMIN) for it; mount said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the file system says it is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match f.write_all(&chunk).and_then(|_| f.sync_all()) {
            Ok(()) => continue,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Top off the last partial chunk, byte pages at a time.
    let small = [0x5au8; 512];
    while f.write_all(&small).and_then(|_| f.sync_all()).is_ok() {}
}

/// A full state disk: the daemon says so on `/readyz`, starts no work it
/// cannot record, and recovers by itself once space returns. The generator
/// writes each call's run id outside the full disk: every call must belong
/// to a run in the store.
#[test]
fn a_full_state_disk_is_reported_fires_nothing_unrecorded_and_recovers() {
    let p = Project::new();
    // Every 10 minutes, on a clock that runs 10 minutes a second.
    p.write(
        "schedules/s.yaml",
        &schedule("tick", "  cron: \"*/10 * * * *\"\n  timezone: UTC", 1),
    );
    let calls = p.path("calls.log");
    p.script(
        "gen-record.sh",
        &format!(
            "#!/bin/sh\nreq=$(cat)\necho \"$req\" | grep -o '\"run_id\":\"[^\"]*\"' | head -n1 >> {}\n\
             echo '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"url\": \"https://cdn.example.com/a.png\"}}]}}'\n",
            calls.display()
        ),
    );
    let _disk = Tmpfs::mount(&p.path("state"), "24m");
    let r0 = chrono::Utc::now().timestamp_millis();
    let clock = format!("warp:2026-06-01T00:00:00Z:{r0}:600");
    let gen = format!("cmd:{}", p.path("gen-record.sh").display());
    let bin = Bin::start(&p, &gen, &[("ADSCHED_CLOCK", clock.as_str())]);

    let completed = |bin: &Bin| -> Option<Vec<Value>> {
        let runs = bin.get("/api/v1/schedules/tick/runs?limit=1000")?;
        Some(
            runs.as_array()?
                .iter()
                .filter(|r| r["status"] == "completed")
                .cloned()
                .collect(),
        )
    };
    let before = wait_for(30, "two runs before the disk fills", || {
        completed(&bin).filter(|r| r.len() >= 2)
    });

    fill(&p.path("state/filler"));
    let (_, body) = wait_for(30, "/readyz to report the store failure", || {
        readyz(&bin).filter(|(s, b)| *s == 503 && b["store"]["ok"] == false)
    });
    let error = body["store"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("No space left"),
        "/readyz should say why: {body}"
    );
    // Several calendar times pass while the disk is full.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(readyz(&bin).map(|(s, _)| s), Some(503));
    let calls_while_full = std::fs::read_to_string(&calls).unwrap_or_default();

    std::fs::remove_file(p.path("state/filler")).unwrap();
    wait_for(30, "/readyz to recover once space returns", || {
        readyz(&bin).filter(|(s, b)| *s == 200 && b["store"]["ok"] == true)
    });
    let count_after = before.len();
    wait_for(30, "new runs after recovery", || {
        completed(&bin).filter(|r| r.len() >= count_after + 2)
    });
    assert_eq!(bin.term(), Some(0));

    let log = daemon_log(&p);
    assert!(
        log.contains("cannot write") && log.contains("takes writes again"),
        "the daemon log should report the failure and the recovery:\n{log}"
    );
    let runs = cli(&p, &["runs", "tick", "--limit", "1000"]);
    let runs = runs.as_array().unwrap();
    let by_id: HashMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    // Nothing the API showed before the disk filled was lost.
    for r in &before {
        let id = r["id"].as_str().unwrap();
        assert_eq!(
            by_id.get(id).map(|r| &r["status"]),
            Some(&r["status"]),
            "run {id} changed or vanished"
        );
    }
    // Every generator call belongs to a recorded run: nothing fired unrecorded.
    let all_calls = std::fs::read_to_string(&calls).unwrap();
    for line in all_calls.lines() {
        let id = line
            .trim_start_matches("\"run_id\":\"")
            .trim_end_matches('"');
        assert!(
            by_id.contains_key(id),
            "the generator ran for {id}, which the store does not know:\n{all_calls}"
        );
    }
    assert!(
        all_calls.lines().count() > calls_while_full.lines().count(),
        "work resumed after recovery"
    );
    // No calendar time ran twice, none is left running.
    let mut slots = HashSet::new();
    for r in runs {
        assert_ne!(r["status"], "running", "left running: {r}");
        if matches!(r["trigger"].as_str(), Some("schedule" | "catchup")) {
            let slot = r["scheduled_for"].as_str().unwrap().to_string();
            assert!(slots.insert(slot.clone()), "time {slot} fired twice");
        }
    }
}

/// The schedules folder goes away (renamed, then deleted outright) and comes
/// back: everything stays in force meanwhile, `/readyz` names the folder, and
/// what comes back is read afresh.
#[test]
fn a_schedules_folder_that_disappears_and_returns() {
    let p = Project::new();
    let s = schedule("stay", "  daily: { at: \"09:00\" }", 1);
    p.write("schedules/s.yaml", &s);
    let bin = Bin::start(&p, "local", &[]);
    let status = |bin: &Bin| {
        bin.get("/api/v1/schedules/stay")
            .map(|v| v["status"].clone())
    };
    assert_eq!(status(&bin).unwrap(), "active");

    let folder = p.path("schedules");
    let away = p.path("schedules.away");
    std::fs::rename(&folder, &away).unwrap();
    let (_, body) = wait_for(20, "/readyz to name the missing folder", || {
        readyz(&bin).filter(|(_, b)| {
            b["invalid_files"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["file"] == "schedules"))
        })
    });
    assert!(body.to_string().contains("schedules"), "{body}");
    // Nothing was removed or paused meanwhile, even across the periodic rescan.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&bin).unwrap(), "active");

    // It returns, edited while away: the edit is read.
    std::fs::write(
        away.join("s.yaml"),
        s.replace("name: stay", "name: Came back"),
    )
    .unwrap();
    std::fs::rename(&away, &folder).unwrap();
    wait_for(20, "the returned folder to be read", || {
        let v = bin.get("/api/v1/schedules/stay")?;
        (v["name"] == "Came back").then_some(())
    });
    wait_for(20, "/readyz to clear the folder error", || {
        readyz(&bin).filter(|(s, b)| *s == 200 && b["invalid_files"] == serde_json::json!([]))
    });

    // Deleted outright, then recreated from scratch.
    std::fs::remove_dir_all(&folder).unwrap();
    wait_for(20, "/readyz to name the deleted folder", || {
        readyz(&bin).filter(|(_, b)| b["invalid_files"].as_array().is_some_and(|a| !a.is_empty()))
    });
    assert_eq!(status(&bin).unwrap(), "active");
    p.write("schedules/products.yaml", PRODUCT);
    p.write(
        "schedules/s.yaml",
        &s.replace("name: stay", "name: Recreated"),
    );
    wait_for(20, "the recreated folder to be read", || {
        let v = bin.get("/api/v1/schedules/stay")?;
        (v["name"] == "Recreated" && v["status"] == "active").then_some(())
    });
    assert_eq!(bin.term(), Some(0));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=adsched tests",
            "-c",
            "user.email=tests@adsched.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `git checkout` that edits 1,000 files, deletes 100 and adds 100 in one
/// go: the daemon ends with exactly the new branch, nothing invalid and no
/// schedule of the new branch marked removed.
#[test]
fn a_git_checkout_of_a_thousand_files_at_once() {
    let p = Project::new();
    let dir = p.path("schedules");
    let file = |i: usize| format!("s-{i:04}.yaml");
    let doc = |i: usize, name: &str| {
        schedule(&format!("g-{i:04}"), "  daily: { at: \"09:00\" }", 1)
            .replace(&format!("name: g-{i:04}"), &format!("name: {name}"))
    };
    for i in 0..1000 {
        std::fs::write(dir.join(file(i)), doc(i, "v1")).unwrap();
    }
    git(&dir, &["init", "-q", "-b", "one"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "one"]);
    git(&dir, &["checkout", "-q", "-b", "two"]);
    for i in 0..900 {
        std::fs::write(dir.join(file(i)), doc(i, "v2")).unwrap();
    }
    for i in 900..1000 {
        std::fs::remove_file(dir.join(file(i))).unwrap();
    }
    for i in 1000..1100 {
        std::fs::write(dir.join(file(i)), doc(i, "v2")).unwrap();
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "two"]);
    git(&dir, &["checkout", "-q", "one"]);

    let bin = Bin::start(&p, "local", &[]);
    let count = |bin: &Bin| -> Option<(usize, usize, usize)> {
        let all = bin.get("/api/v1/schedules")?;
        let all = all.as_array()?;
        let active: Vec<&Value> = all.iter().filter(|s| s["status"] == "active").collect();
        let v2 = active.iter().filter(|s| s["name"] == "v2").count();
        Some((active.len(), v2, all.len()))
    };
    assert_eq!(count(&bin).unwrap(), (1000, 0, 1000));

    let t = Instant::now();
    git(&dir, &["checkout", "-q", "two"]);
    wait_for(60, "the daemon to show the whole checkout", || {
        count(&bin).filter(|c| *c == (1000, 1000, 1100))
    });
    let took = t.elapsed();
    let all = bin.get("/api/v1/schedules").unwrap();
    for s in all.as_array().unwrap() {
        let n: usize = s["id"].as_str().unwrap()[2..].parse().unwrap();
        let want = if (900..1000).contains(&n) {
            "removed"
        } else {
            "active"
        };
        assert_eq!(s["status"], want, "{s}");
    }
    let (_, ready) = readyz(&bin).unwrap();
    assert_eq!(ready["invalid_files"], serde_json::json!([]), "{ready}");
    eprintln!("checkout of 1,100 files applied in {took:?}");

    // And back: the deleted hundred return with their old names.
    git(&dir, &["checkout", "-q", "one"]);
    wait_for(60, "the daemon to show the checkout back", || {
        count(&bin).filter(|c| *c == (1000, 0, 1100))
    });
    assert_eq!(bin.term(), Some(0));
}
