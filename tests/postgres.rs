//! The real binary on a real PostgreSQL: the users' tables as SQL sees them,
//! `adsched migrate`, the query commands with `--store`, a database that is
//! down at start, and a password that never shows.

mod common;

use std::process::Command;

use common::{pg, schedule, wait_for, Bin, Project};
use serde_json::Value;

fn gen(p: &Project) -> String {
    format!("cmd:{}", p.path("gen-ok.sh").display())
}

fn trigger(bin: &Bin, id: &str) -> String {
    let (status, body) =
        common::http("POST", bin.port, &format!("/api/v1/schedules/{id}/trigger")).unwrap();
    assert_eq!(status, 202, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn wait_completed(bin: &Bin, run_id: &str) -> Value {
    wait_for(30, "the run to complete", || {
        bin.get(&format!("/api/v1/runs/{run_id}"))
            .filter(|r| r["status"] == "completed")
    })
}

#[test]
fn the_daemon_on_postgres_writes_the_users_tables_and_never_shows_the_password() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("pg-daily", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    p.write(
        "schedules/once.yaml",
        &schedule(
            "pg-once",
            "  once: { at: \"2030-01-02T03:04\" }\n  timezone: UTC\n  max_runs: 1",
            1,
        )
        .replace(
            "  mode: unused\n  count: 1",
            "  mode: specific\n  ids: [t001.png, t002.png]",
        ),
    );
    let url = pg::database();
    let bin = Bin::start(&p, &gen(&p), &[("ADSCHED_STORE", &url)]);
    let ready = bin.get("/readyz").unwrap();
    assert_eq!(ready["store"]["kind"], "postgres", "{ready}");
    let run_id = trigger(&bin, "pg-daily");
    let run = wait_completed(&bin, &run_id);
    assert_eq!(run["templates_used"].as_array().unwrap().len(), 1);

    // The team's own SQL reads the history.
    assert_eq!(
        pg::query(
            &url,
            "SELECT schedule_type || ',' || coalesce(cron_expression, '-') || ',' || status || ',' || product_id || ',' || brand_id FROM scheduled_jobs WHERE id = 'pg-daily'"
        ),
        ["recurring,-,active,collagen,acme"]
    );
    // Every column a team's SQL reads, as the document says.
    assert_eq!(
        pg::query(
            &url,
            "SELECT concat_ws('|', schedule_type, scheduled_at AT TIME ZONE 'UTC', next_run_at AT TIME ZONE 'UTC', max_runs, runs_completed, template_mode, coalesce(template_count::text, '-'), array_to_string(template_ids, ','), parameters->>'num_variations', spec->>'id', state->>'id') FROM scheduled_jobs WHERE id = 'pg-once'"
        ),
        ["one_time|2030-01-02 03:04:00|2030-01-02 03:04:00|1|0|specific|-|t001.png,t002.png|1|pg-once|pg-once"]
    );
    assert_eq!(
        pg::query(
            &url,
            "SELECT id || ',' || trigger || ',' || status FROM scheduled_job_runs WHERE status = 'completed'"
        ),
        [format!("{run_id},manual,completed")]
    );
    assert_eq!(
        pg::query(
            &url,
            "SELECT count(*) FROM product_template_usage WHERE product_id = 'collagen'"
        ),
        ["1"]
    );
    let logs = pg::query(
        &url,
        &format!("SELECT logs FROM scheduled_job_runs WHERE id = '{run_id}'"),
    );
    assert!(logs[0].contains("queued by a manual trigger"), "{logs:?}");
    // The run's end and its last line are committed together: the outcome
    // closes both the `logs` text and the table of lines.
    let last = logs[0].trim_end().lines().last().unwrap_or_default();
    assert!(last.contains(" info run completed: "), "{logs:?}");
    assert_eq!(
        pg::query(
            &url,
            &format!("SELECT message FROM adsched_run_logs WHERE run_id = '{run_id}' ORDER BY seq DESC LIMIT 1"),
        ),
        [last.split_once(" info ").map(|(_, m)| m).unwrap_or_default()]
    );
    // One scheduled time cannot be recorded twice, whatever writes it.
    let row = "INSERT INTO scheduled_job_runs (id, scheduled_job_id, trigger, attempt, scheduled_for, queued_at, status, record) VALUES ('{ID}', 'pg-daily', 'schedule', 1, '2026-06-01T09:00:00Z', now(), 'completed', '{}')";
    pg::execute(&url, &row.replace("{ID}", "01XTESTA")).unwrap();
    let twice = pg::execute(&url, &row.replace("{ID}", "01XTESTB")).unwrap_err();
    assert!(twice.contains("scheduled_job_runs_one_per_time"), "{twice}");
    pg::execute(&url, "DELETE FROM scheduled_job_runs WHERE id = '01XTESTA'").unwrap();

    // The password shows nowhere a person or a log collector looks.
    for path in [
        "/readyz",
        "/api/v1/schedules",
        &format!("/api/v1/runs/{run_id}"),
        &format!("/api/v1/runs/{run_id}/logs"),
        "/",
        "/runs",
        "/metrics",
    ] {
        let (_, body) = common::http("GET", bin.port, path).unwrap();
        assert!(!body.contains(pg::PASSWORD), "{path} shows the password");
    }
    assert_eq!(bin.term(), Some(0));
    let log = std::fs::read_to_string(p.path("daemon.log")).unwrap();
    assert!(
        !log.contains(pg::PASSWORD),
        "the daemon log shows the password"
    );

    // No daemon: the query commands read the database.
    let (code, out, err) = common::adsched(
        &p,
        &[
            "runs",
            "pg-daily",
            "--store",
            &url,
            "--server",
            "http://127.0.0.1:9",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["id"], run_id.as_str(), "{out}");
    assert!(!err.contains(pg::PASSWORD), "{err}");

    // The scheduler's index of wake times: each schedule's next look.
    let wake = "SELECT id || '|' || coalesce((next_wake AT TIME ZONE 'UTC')::text, '-') FROM scheduled_jobs ORDER BY id";
    let woken = pg::query(&url, wake);
    assert_eq!(woken.len(), 2);
    assert_eq!(woken[1], "pg-once|2030-01-02 03:04:00", "{woken:?}");
    // A database from before the index (schema version 3) gets it filled
    // when migrated, and the later versions applied; migrate is idempotent.
    pg::query(
        &url,
        "UPDATE scheduled_jobs SET next_wake = NULL; DELETE FROM adsched_schema WHERE version >= 4; SELECT 1",
    );
    for _ in 0..2 {
        let (code, out, err) = common::adsched(&p, &["migrate", "--store", &url], &[]);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("schema version 6"), "{out}");
    }
    assert_eq!(pg::query(&url, wake), woken);
    // Schedule rows are kept whole, not compressed (schema version 6).
    assert_eq!(
        pg::query(
            &url,
            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'scheduled_jobs'"
        ),
        ["toast_tuple_target=8160"]
    );
}

#[test]
fn a_database_down_at_start_is_reported_and_the_daemon_comes_up_when_it_returns() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("pg-late", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let port = common::free_port();
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{port}/postgres?sslmode=disable",
        pg::PASSWORD
    );
    // A bad URL, and an unreachable server, are named without the password.
    let (code, _, err) = common::adsched(&p, &["migrate", "--store", &url], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/postgres"
        )),
        "{err}"
    );
    assert!(!err.contains(pg::PASSWORD), "{err}");
    let (code, _, err) = common::adsched(&p, &["migrate", "--store", "mysql://u:pw@h/db"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("must be a postgres:// URL") && !err.contains("pw@"),
        "{err}"
    );

    let mut daemon = Command::new(env!("CARGO_BIN_EXE_adsched"));
    let listen = common::free_port();
    daemon
        .current_dir(p.dir.path())
        .args([
            "daemon",
            "--listen",
            &format!("127.0.0.1:{listen}"),
            "--generator",
            &gen(&p),
        ])
        .env("ADSCHED_STORE", &url)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(p.path("daemon.log")).unwrap());
    let bin = Bin {
        child: daemon.spawn().unwrap(),
        port: listen,
    };
    // Serving, not ready, saying why; and not a crash loop.
    let (status, body) = wait_for(20, "/readyz", || common::http("GET", listen, "/readyz"));
    assert_eq!(status, 503, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"]["kind"], "postgres");
    assert_eq!(ready["store"]["ok"], false);
    assert!(
        ready["store"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot connect to PostgreSQL"),
        "{ready}"
    );
    assert!(!body.contains(pg::PASSWORD));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        common::http("GET", listen, "/healthz").is_some(),
        "the daemon died"
    );

    // The database comes: tables made, schedules applied, ready.
    let _server = pg::start_on(port);
    wait_for(30, "ready once the database is up", || {
        common::http("GET", listen, "/readyz").filter(|(s, _)| *s == 200)
    });
    let s = wait_for(10, "the schedule in the store", || {
        bin.get("/api/v1/schedules/pg-late")
    });
    assert_eq!(s["status"], "active");
    let run_id = trigger(&bin, "pg-late");
    wait_completed(&bin, &run_id);
    assert_eq!(
        pg::query(&url, "SELECT count(*) FROM scheduled_job_runs"),
        ["1"]
    );
    assert_eq!(bin.term(), Some(0));
    let log = std::fs::read_to_string(p.path("daemon.log")).unwrap();
    assert!(
        !log.contains(pg::PASSWORD),
        "the daemon log shows the password"
    );
}

/// SPEC 7: the database lost while a run works. The daemon neither crashes
/// nor loses the work: `/readyz` says why, and when the database is back
/// the run's real outcome is written (not `interrupted`), once.
#[test]
fn a_database_lost_mid_run_gets_the_runs_outcome_when_it_returns() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("pg-lost", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    p.script(
        "gen-long.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\nsleep 4\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{}\"}}]}}'\n",
            common::PNG_1X1
        ),
    );
    let port = common::free_port();
    let server = pg::start_on(port);
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{port}/postgres?sslmode=disable",
        pg::PASSWORD
    );
    let bin = Bin::start(
        &p,
        &format!("cmd:{}", p.path("gen-long.sh").display()),
        &[("ADSCHED_STORE", &url)],
    );
    let run_id = trigger(&bin, "pg-lost");
    wait_for(20, "the run to start", || {
        bin.get(&format!("/api/v1/runs/{run_id}"))
            .filter(|r| r["status"] == "running")
    });

    // The database goes away while the generator works.
    server.stop();
    let (_, body) = wait_for(20, "/readyz to say the store is down", || {
        common::http("GET", bin.port, "/readyz").filter(|(s, _)| *s == 503)
    });
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"]["ok"], false, "{ready}");
    assert!(!body.contains(pg::PASSWORD), "{body}");
    // The generator finishes during the outage.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(
        common::http("GET", bin.port, "/healthz").is_some(),
        "the daemon died with its database"
    );

    server.start_again();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let run = loop {
        match bin.get(&format!("/api/v1/runs/{run_id}")) {
            Some(r) if r["status"] == "completed" => break r,
            last if std::time::Instant::now() > deadline => panic!(
                "the run did not complete once the database returned: {last:?}\n{}",
                std::fs::read_to_string(p.path("daemon.log")).unwrap_or_default()
            ),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert_eq!(run["ads"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["templates_used"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(
        pg::query(&url, "SELECT count(*) FROM scheduled_job_runs"),
        ["1"],
        "one run, recorded once"
    );
    let logs = bin.get(&format!("/api/v1/runs/{run_id}/logs")).unwrap();
    let text = logs.to_string();
    assert_eq!(
        text.matches("run completed").count(),
        1,
        "the outcome, logged once: {logs}"
    );
    assert_eq!(bin.term(), Some(0));
    let log = std::fs::read_to_string(p.path("daemon.log")).unwrap();
    assert!(log.contains("keeping it until the store is back"), "{log}");
    assert!(
        !log.contains(pg::PASSWORD),
        "the daemon log shows the password"
    );
}
