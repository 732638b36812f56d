//! Two daemons on one real PostgreSQL (SPEC 7): one leads, the other
//! stands by, serves reads and takes over when the leader is SIGKILLed.
//! The loop kills the leader at random moments, often mid-template, and
//! checks what a user would: no scheduled time ran twice (the generator's
//! own record of its calls, and the rows), nothing the API showed was lost,
//! the counters equal the rows, and each take-over took under 15 s (printed).
//!
//! `ADSCHED_FAILOVER_ROUNDS` sets the number of kills (default 8).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{pg, schedule, wait_for, Bin, Project};
use serde_json::Value;

/// `leader` or `standby`, as `/readyz` says; None if the daemon is gone.
fn role(bin: &Bin) -> Option<String> {
    let (_, body) = common::http("GET", bin.port, "/readyz")?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["role"].as_str().map(str::to_string)
}

fn metric(bin: &Bin, name: &str) -> Option<f64> {
    let (_, body) = common::http("GET", bin.port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

/// One replica: its own checkout of the schedules, its own state folder,
/// the shared generator that writes every call it gets to `calls`.
fn replica(calls: &std::path::Path) -> Project {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("ha", "  cron: \"*/10 * * * *\"\n  timezone: UTC", 2),
    );
    // The idempotency key is `<run id>/<template>`: the same work twice
    // would show as the same key twice.
    p.script(
        "gen-logged.sh",
        &format!(
            "#!/bin/sh\nreq=$(cat)\necho \"$req\" | grep -o '\"idempotency_key\":\"[^\"]*\"' >> {}\nsleep 0.4\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{}\"}}]}}'\n",
            calls.display(),
            common::PNG_1X1
        ),
    );
    p
}

fn start(p: &Project, env: &[(&str, &str)]) -> Bin {
    Bin::start(
        p,
        &format!("cmd:{}", p.path("gen-logged.sh").display()),
        env,
    )
}

/// Notes every run and the number of its log lines that a daemon shows.
fn look(bin: &Bin, runs: &mut HashMap<String, Value>, logs: &mut HashMap<String, usize>) {
    let Some(list) = bin.get("/api/v1/schedules/ha/runs?limit=1000") else {
        return;
    };
    for r in list.as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap().to_string();
        if let Some(lines) = bin.get(&format!("/api/v1/runs/{id}/logs")) {
            let n = lines.as_array().map_or(0, Vec::len);
            let seen = logs.entry(id.clone()).or_default();
            *seen = (*seen).max(n);
        }
        runs.insert(id, r.clone());
    }
}

#[test]
fn the_leader_killed_at_random_moments_never_fires_a_time_twice_or_loses_a_record() {
    let url = pg::database();
    let shared = tempfile::tempdir().unwrap();
    let calls = shared.path().join("calls.txt");
    let replicas = [replica(&calls), replica(&calls)];
    let r0 = chrono::Utc::now().timestamp_millis();
    // Both replicas read one warped clock: ten minutes a second.
    let clock = format!("warp:2026-06-01T00:00:00Z:{r0}:600");
    let env = [
        ("ADSCHED_CLOCK", clock.as_str()),
        ("ADSCHED_STORE", url.as_str()),
    ];
    let rounds: usize = std::env::var("ADSCHED_FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);

    let mut daemons = [start(&replicas[0], &env), start(&replicas[1], &env)];
    let mut seen_runs = HashMap::new();
    let mut seen_logs = HashMap::new();
    let mut failovers = Vec::new();
    let mut seed = r0 as u64;
    for round in 0..rounds {
        let leader = wait_for(20, "one daemon to lead", || {
            let roles: Vec<_> = daemons.iter().map(role).collect();
            let leaders = roles
                .iter()
                .filter(|r| r.as_deref() == Some("leader"))
                .count();
            assert!(leaders <= 1, "two leaders at once: {roles:?}");
            roles.iter().position(|r| r.as_deref() == Some("leader"))
        });
        let standby = 1 - leader;
        assert_eq!(role(&daemons[standby]).as_deref(), Some("standby"));
        if round == 0 {
            assert_eq!(metric(&daemons[leader], "adsched_leader"), Some(1.0));
            assert_eq!(metric(&daemons[standby], "adsched_leader"), Some(0.0));
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let deadline = Instant::now() + Duration::from_millis(300 + (seed >> 33) % 2000);
        while Instant::now() < deadline {
            // Both replicas serve the history; what either showed must last.
            for d in &daemons {
                look(d, &mut seen_runs, &mut seen_logs);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let killed = Instant::now();
        let _ = daemons[leader].child.kill();
        let _ = daemons[leader].child.wait();
        wait_for(15, "the standby to take over within 15 s", || {
            (role(&daemons[standby]).as_deref() == Some("leader")).then_some(())
        });
        failovers.push(killed.elapsed());
        // The killed replica comes back, as its supervisor would restart it.
        daemons[leader] = start(&replicas[leader], &env);
    }
    for d in &daemons {
        look(d, &mut seen_runs, &mut seen_logs);
    }
    let times: Vec<String> = failovers
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect();
    let worst = failovers.iter().max().copied().unwrap_or_default();
    println!(
        "failover after SIGKILL of the leader, {} rounds: worst {:.2} s; each (s): {}",
        failovers.len(),
        worst.as_secs_f64(),
        times.join(" ")
    );

    // A clean stop of both: the leader resigns, the other leads, then stops.
    let [a, b] = daemons;
    assert_eq!(a.term(), Some(0));
    assert_eq!(b.term(), Some(0));

    // Every run and log line a daemon showed is in the database.
    let rows = pg::query(
        &url,
        "SELECT record::text FROM scheduled_job_runs WHERE scheduled_job_id = 'ha' ORDER BY id",
    );
    let runs: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    let by_id: HashMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for id in seen_runs.keys() {
        assert!(
            by_id.contains_key(id.as_str()),
            "run {id} was shown, then lost"
        );
        let n: usize = pg::query(
            &url,
            &format!("SELECT count(*)::text FROM adsched_run_logs WHERE run_id = '{id}'"),
        )[0]
        .parse()
        .unwrap();
        assert!(
            n >= seen_logs[id],
            "log lines of {id} lost: {n} < {}",
            seen_logs[id]
        );
    }

    // No time was recorded twice, and none did its work twice.
    let mut slots = HashSet::new();
    let mut counted = 0u64;
    for r in &runs {
        assert_ne!(
            r["status"], "running",
            "a run left running after a stop: {r}"
        );
        if matches!(r["trigger"].as_str(), Some("schedule" | "catchup")) {
            let slot = r["scheduled_for"].as_str().unwrap().to_string();
            assert!(slots.insert(slot.clone()), "the time {slot} has two runs");
            if r["status"] != "pending" && r["status"] != "missed" {
                counted += 1;
            }
        }
    }
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    let mut keys = HashSet::new();
    for key in calls.lines() {
        assert!(keys.insert(key), "the generator was called twice for {key}");
        let run_id = key
            .trim_start_matches("\"idempotency_key\":\"")
            .split('/')
            .next()
            .unwrap();
        assert!(
            by_id.contains_key(run_id),
            "the generator worked for run {run_id}, which has no row"
        );
    }
    assert!(
        counted >= 3 && keys.len() >= 3,
        "the loop should have fired and worked several times: {counted} runs, {} calls",
        keys.len()
    );
    let done: u64 = pg::query(
        &url,
        "SELECT runs_completed::text FROM scheduled_jobs WHERE id = 'ha'",
    )[0]
    .parse()
    .unwrap();
    assert_eq!(done, counted, "runs_completed against the rows");

    // A replica that never made an image serves it from the database.
    let ad = runs
        .iter()
        .flat_map(|r| r["ads"].as_array().cloned().unwrap_or_default())
        .find_map(|a| a["image"].as_str().map(str::to_string))
        .expect("some run made an ad");
    let fresh = replica(&shared.path().join("unused.txt"));
    let c = start(&fresh, &env);
    let (status, _) = common::http("GET", c.port, &ad).unwrap();
    assert_eq!(status, 200, "{ad} from a replica without the file");
    assert!(!common::exists(&fresh.path(&format!("state{ad}"))));
    assert_eq!(c.term(), Some(0));
}

/// The fence below the election: a standby's start of work is refused by
/// the store, and so is the leader's once its session has ended (the lock
/// may be another's by then), while a standby may still queue a manual run.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_session_holding_the_lock_starts_work() {
    use adsched::store::{Queued, Store, StoreError};
    let url = pg::database();
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let a = Store::open_any(Some(&url), dir.path()).await.unwrap();
    let b = Store::open_any(Some(&url), dir.path()).await.unwrap();
    assert!(a.lead().await.unwrap(), "the first to look leads");
    assert!(!b.lead().await.unwrap(), "the second stands by");
    assert!(a.lead().await.unwrap(), "the leader keeps the lead");
    let refused = b.begin_run("no-such-run", now).await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader(_))),
        "{refused:?}"
    );
    assert!(matches!(a.begin_run("no-such-run", now).await, Ok(None)));
    assert_eq!(
        b.queue_manual("no-such-schedule", "local", now)
            .await
            .unwrap(),
        Queued::NoSchedule
    );

    // The leader's session is cut (a network partition, an operator).
    pg::execute(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .unwrap();
    let refused = a.begin_run("no-such-run", now).await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader(_))),
        "{refused:?}"
    );
    assert!(b.lead().await.unwrap(), "the standby takes the freed lock");
    assert!(
        !matches!(a.lead().await, Ok(true)),
        "the old leader does not lead"
    );
    assert!(!a.lead().await.unwrap(), "and stands by on a new session");
    assert!(matches!(b.begin_run("no-such-run", now).await, Ok(None)));
}

/// Two sessions' changes that cross (a team's SQL, or a standby's cancel
/// against the leader's run) deadlock; PostgreSQL stops one of them, and
/// the store's is tried again rather than failing the operator's call.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_stopped_by_a_deadlock_is_tried_again() {
    use adsched::records::{ActorNote, Run, RunStatus, ScheduleState, Trigger};
    use adsched::store::{Cancelled, Store};
    let url = pg::database();
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let store = Store::open_any(Some(&url), dir.path()).await.unwrap();
    let mut state = ScheduleState::empty("s1");
    state.timezone = "UTC".into();
    pg::execute(
        &url,
        &format!(
            "INSERT INTO scheduled_jobs (id, product_id, brand_id, name, schedule_type, runs_completed, status, spec, state)
             VALUES ('s1', 'p', 'b', 's1', 'recurring', 0, 'active', '{{}}', '{}')",
            serde_json::to_string(&state).unwrap().replace('\'', "''")
        ),
    )
    .unwrap();
    let run = Run::new(store.new_run_id(now), &state, Trigger::Manual, 1, None, now);
    store.import_runs(vec![run.clone()]).await.unwrap();

    // Another session takes the schedule's row first, then wants the run's:
    // the cancel below takes the run's, then wants the schedule's.
    let (held, is_held) = std::sync::mpsc::channel();
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let (other_url, run_id) = (url.clone(), run.id.clone());
    let other = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&other_url, postgres::NoTls).unwrap();
        let mut t = c.transaction().unwrap();
        t.query(
            "SELECT 1 FROM scheduled_jobs WHERE id = 's1' FOR UPDATE",
            &[],
        )
        .unwrap();
        held.send(()).unwrap();
        wait_go.recv().unwrap();
        let rows = t
            .query(
                "SELECT 1 FROM scheduled_job_runs WHERE id = $1 FOR UPDATE",
                &[&run_id],
            )
            .map(|r| r.len());
        t.commit().unwrap();
        rows
    });
    is_held.recv().unwrap();
    let (cancelling, id) = (store.clone(), run.id.clone());
    let note = ActorNote {
        by: "ops".into(),
        reason: String::new(),
        at: now,
    };
    let cancel = tokio::spawn(async move { cancelling.cancel(&id, note).await });
    // The cancel holds the run's row and waits for the schedule's: it waits
    // first, so its session's deadlock check runs first and stops it.
    let waits = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()";
    wait_for(10, "the cancel to wait for the schedule's row", || {
        (pg::query(&url, waits) == ["1"]).then_some(())
    });
    go.send(()).unwrap();
    let cancelled = cancel.await.unwrap();
    assert!(
        matches!(cancelled, Ok(Cancelled::Now(_))),
        "the cancel, tried again: {cancelled:?}"
    );
    assert_eq!(
        other.join().unwrap().unwrap(),
        1,
        "the other session got the run's row"
    );
    let after = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(after.status, RunStatus::Cancelled);
}
