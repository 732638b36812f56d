//! The daemon in-process on a manual clock: real files, a real store, a
//! real `cmd:` generator; a year of schedule time in a second or two.
//!
//! Every test body runs twice, on the embedded sled store and on a real
//! PostgreSQL (`<test>::sled`, `<test>::postgres`), so the stores cannot
//! drift apart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use adsched::clock::{Clock, ManualClock};
use adsched::daemon::{self, Config, Daemon};
use adsched::records::{Run, RunStatus, ScheduleState, ScheduleStatus, Trigger};
use adsched::service;
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use common::{schedule, Project};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Which store a test body runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sled,
    Postgres,
}

struct H {
    /// The database URL on PostgreSQL, the same across restarts of one test.
    store: Option<String>,
    project: Project,
    clock: ManualClock,
    daemon: Option<Daemon>,
}

impl H {
    async fn start(backend: Backend, project: Project, now: &str, generator: &str) -> H {
        let clock = ManualClock::new(utc(now));
        let store = match backend {
            Backend::Sled => None,
            Backend::Postgres => Some(common::pg::database()),
        };
        let mut h = H {
            store,
            project,
            clock,
            daemon: None,
        };
        h.boot(generator).await;
        h
    }

    async fn boot(&mut self, generator: &str) {
        let config = Config {
            schedules: self.project.path("schedules"),
            templates: self.project.path("templates"),
            state: self.project.path("state"),
            store: self.store.clone(),
            listen: "127.0.0.1:0".into(),
            generator: format!("cmd:{}", self.project.path(generator).display()),
            public_url: None,
            grace: Duration::from_secs(5),
            retain: None,
            repo: None,
        };
        self.daemon = Some(
            daemon::start(config, Arc::new(self.clock.clone()))
                .await
                .unwrap(),
        );
    }

    async fn stop(&mut self) {
        self.daemon.take().unwrap().shutdown().await.unwrap();
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().unwrap()
    }

    async fn state(&self, id: &str) -> ScheduleState {
        self.d().ctx.store.schedule(id).await.unwrap().unwrap()
    }

    /// Runs of a schedule, oldest first.
    async fn runs(&self, id: &str) -> Vec<Run> {
        let mut r = self
            .d()
            .ctx
            .store
            .latest_runs(Some(id), 100_000)
            .await
            .unwrap();
        r.reverse();
        r
    }

    /// Waits until the schedule has `n` runs and none is pending or running.
    async fn settle(&self, id: &str, n: usize) -> Vec<Run> {
        for _ in 0..2000 {
            let runs = self.runs(id).await;
            let busy = runs
                .iter()
                .any(|r| matches!(r.status, RunStatus::Pending | RunStatus::Running));
            if runs.len() >= n && !busy {
                assert_eq!(runs.len(), n, "more runs than expected: {runs:#?}");
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "timed out waiting for {n} settled runs of {id}: {:#?}",
            self.runs(id).await
        );
    }

    /// Moves the clock and lets the scheduler look.
    fn set(&self, t: DateTime<Utc>) {
        self.clock.set(t);
    }
}

async fn a_year_of_mondays_fires_at_nine_local_across_dst(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("weekly", "  weekly: { day: monday, at: \"09:00\" }", 1),
    );
    let h = H::start(b, p, "2026-01-01T00:00:00Z", "gen-ok.sh").await;
    let la: Tz = "America/Los_Angeles".parse().unwrap();
    for i in 0..52 {
        let next = h
            .state("weekly")
            .await
            .next_run_at
            .expect("an active schedule has a next time");
        h.set(next + chrono::Duration::milliseconds(300));
        let runs = h.settle("weekly", i + 1).await;
        let last = runs.last().unwrap();
        assert_eq!(last.status, RunStatus::Completed, "{last:#?}");
        assert_eq!(last.trigger, Trigger::Schedule);
        let local = last.scheduled_for.unwrap().with_timezone(&la);
        assert_eq!(
            (local.weekday(), local.hour(), local.minute()),
            (Weekday::Mon, 9, 0),
            "{local}"
        );
        // Started within a second of its time.
        assert!(
            last.started_at.unwrap() - last.scheduled_for.unwrap() < chrono::Duration::seconds(1)
        );
    }
    let runs = h.runs("weekly").await;
    let mut slots: Vec<_> = runs.iter().map(|r| r.scheduled_for).collect();
    slots.dedup();
    assert_eq!(slots.len(), 52, "no time fired twice");
    assert_eq!(h.state("weekly").await.runs_completed, 52);
}

async fn max_runs_completes_the_schedule_and_raising_it_reactivates(b: Backend) {
    let p = Project::new();
    let text = schedule("daily", "  daily: { at: \"09:00\" }\n  max_runs: 2", 1);
    p.write("schedules/s.yaml", &text);
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    for i in 0..2 {
        let next = h.state("daily").await.next_run_at.unwrap();
        h.set(next + chrono::Duration::milliseconds(100));
        h.settle("daily", i + 1).await;
    }
    let s = h.state("daily").await;
    assert_eq!(s.status, ScheduleStatus::Completed);
    assert_eq!(s.next_run_at, None);
    assert_eq!(s.runs_completed, 2);
    h.set(utc("2026-06-10T00:00:00Z"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.runs("daily").await.len(),
        2,
        "a completed schedule fires no more"
    );
    // Re-applying the same file does not reset the counter; raising max_runs reactivates.
    h.stop().await;
    h.project.write(
        "schedules/s.yaml",
        &text.replace("max_runs: 2", "max_runs: 3"),
    );
    h.boot("gen-ok.sh").await;
    let s = h.state("daily").await;
    assert_eq!((s.status, s.runs_completed), (ScheduleStatus::Active, 2));
    assert!(
        s.next_run_at.unwrap() > utc("2026-06-10T00:00:00Z"),
        "no catch-up of completed time"
    );
}

async fn missed_times_catch_up_once_inside_the_window_else_a_missed_record(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("hourly", "  cron: \"0 * * * *\"\n  catchup_window: 2h", 1),
    );
    let h = H::start(b, p, "2026-06-01T00:30:00Z", "gen-ok.sh").await;
    // Three hourly times pass at once (the daemon was busy or suspended); the latest is 30 min ago.
    h.set(utc("2026-06-01T03:30:00Z"));
    let runs = h.settle("hourly", 1).await;
    assert_eq!(runs[0].trigger, Trigger::Catchup);
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-01T03:00:00Z")));
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(
        h.state("hourly").await.next_run_at,
        Some(utc("2026-06-01T04:00:00Z"))
    );
    // Now a day passes: the latest missed time (an hour... no: 23:00) is outside? Use a window test:
    h.set(utc("2026-06-02T03:59:00Z"));
    let runs = h.settle("hourly", 2).await;
    // 04:00 .. 03:00 next day: 24 times, the latest 59 minutes ago: inside 2h, one catch-up.
    assert_eq!(runs[1].trigger, Trigger::Catchup);
    assert_eq!(runs[1].missed_count, 23);
}

async fn outside_the_window_one_missed_record_then_the_next_future_time(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("daily", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-04T12:00:00Z"));
    let runs = h.settle("daily", 1).await;
    assert_eq!(runs[0].status, RunStatus::Missed);
    assert_eq!(runs[0].missed_count, 4); // June 1, 2, 3, 4 at 09:00
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-04T09:00:00Z")));
    assert!(runs[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("missed 4"));
    let s = h.state("daily").await;
    assert_eq!(s.next_run_at, Some(utc("2026-06-05T09:00:00Z")));
    assert_eq!(s.runs_completed, 0, "a missed record is not a run");
}

async fn a_time_passed_while_stopped_is_a_catchup_even_seconds_late(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("daily", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let mut h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-ok.sh").await;
    h.stop().await;
    // 09:00 passes while no daemon runs; it starts 5 s later.
    h.set(utc("2026-06-01T09:00:05Z"));
    h.boot("gen-ok.sh").await;
    let runs = h.settle("daily", 1).await;
    assert_eq!(runs[0].trigger, Trigger::Catchup, "{runs:#?}");
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-01T09:00:00Z")));
    // A time the running daemon waited for is on time.
    h.set(utc("2026-06-02T09:00:00.300Z"));
    let runs = h.settle("daily", 2).await;
    assert_eq!(runs[1].trigger, Trigger::Schedule, "{runs:#?}");
}

async fn a_one_second_window_is_honoured_exactly(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule(
            "daily",
            "  daily: { at: \"09:00\" }\n  timezone: UTC\n  catchup_window: 1s",
            1,
        ),
    );
    let mut h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-ok.sh").await;
    h.stop().await;
    h.set(utc("2026-06-01T09:00:03Z"));
    h.boot("gen-ok.sh").await;
    let runs = h.settle("daily", 1).await;
    assert_eq!(
        runs[0].status,
        RunStatus::Missed,
        "3 s late with a 1 s window: {runs:#?}"
    );
    assert_eq!(runs[0].missed_count, 1);
    h.stop().await;
    // Inside the window: a catch-up.
    h.set(utc("2026-06-02T09:00:00.500Z"));
    h.boot("gen-ok.sh").await;
    let runs = h.settle("daily", 2).await;
    assert_eq!(runs[1].trigger, Trigger::Catchup, "{runs:#?}");
    assert_eq!(runs[1].status, RunStatus::Completed);
}

async fn once_fires_once_then_completed(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/a.yaml",
        &schedule(
            "once-ok",
            "  once: { at: \"2026-06-01T09:00\" }\n  timezone: UTC",
            1,
        ),
    );
    p.write(
        "schedules/b.yaml",
        &schedule(
            "once-late",
            "  once: { at: \"2026-06-01T10:00\" }\n  timezone: UTC\n  catchup_window: 30m",
            1,
        ),
    );
    let h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T09:00:00.5Z"));
    h.settle("once-ok", 1).await;
    // The daemon "sleeps" through 10:00 and wakes at 11:00: outside the 30 min window.
    h.set(utc("2026-06-01T11:00:00Z"));
    let late = h.settle("once-late", 1).await;
    assert_eq!(late[0].status, RunStatus::Missed);
    for id in ["once-ok", "once-late"] {
        let s = h.state(id).await;
        assert_eq!(s.status, ScheduleStatus::Completed, "{id}");
        assert_eq!(s.next_run_at, None);
    }
    h.set(utc("2027-01-01T00:00:00Z"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.runs("once-ok").await.len(), 1);

    // Moved to another time that is already past: never silently dropped.
    // Outside the window it is a `missed` record; inside, a catch-up run.
    h.project.write(
        "schedules/a.yaml",
        &schedule(
            "once-ok",
            "  once: { at: \"2026-12-31T09:00\" }\n  timezone: UTC",
            1,
        ),
    );
    h.project.write(
        "schedules/b.yaml",
        &schedule(
            "once-late",
            "  once: { at: \"2026-12-31T23:30\" }\n  timezone: UTC",
            1,
        ),
    );
    daemon::reload(&h.d().ctx, true).await;
    let missed = h.settle("once-ok", 2).await;
    assert_eq!(missed[1].status, RunStatus::Missed);
    assert_eq!(missed[1].scheduled_for, Some(utc("2026-12-31T09:00:00Z")));
    let caught = h.settle("once-late", 2).await;
    assert_eq!(caught[1].status, RunStatus::Completed);
    assert_eq!(caught[1].trigger, Trigger::Catchup);
    for id in ["once-ok", "once-late"] {
        assert_eq!(h.state(id).await.status, ScheduleStatus::Completed, "{id}");
    }
}

async fn failed_runs_are_retried_with_backoff_and_count_once(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule(
            "flaky",
            "  daily: { at: \"09:00\" }\n  timezone: UTC\n  retries: 2",
            1,
        ),
    );
    let h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-fail.sh").await;
    h.set(utc("2026-06-01T09:00:00.2Z"));
    let runs = h.settle("flaky", 1).await;
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert!(
        runs[0].error_message.as_deref().unwrap().contains("exit"),
        "{:?}",
        runs[0].error_message
    );
    let retry = h.state("flaky").await.retry.expect("a retry is planned");
    assert_eq!(retry.at, utc("2026-06-01T09:05:00.2Z"));
    h.set(retry.at);
    let runs = h.settle("flaky", 2).await;
    assert_eq!((runs[1].trigger, runs[1].attempt), (Trigger::Retry, 2));
    assert_eq!(runs[1].scheduled_for, runs[0].scheduled_for);
    let retry = h.state("flaky").await.retry.expect("a second retry");
    assert_eq!(
        retry.at - runs[1].completed_at.unwrap(),
        chrono::Duration::minutes(10)
    );
    h.set(retry.at);
    let runs = h.settle("flaky", 3).await;
    assert_eq!(runs[2].attempt, 3);
    let s = h.state("flaky").await;
    assert!(s.retry.is_none(), "retries: 2 means two retries");
    assert_eq!(s.runs_completed, 1, "the slot counts once");
    assert_eq!(
        s.next_run_at,
        Some(utc("2026-06-02T09:00:00Z")),
        "still alive"
    );
    // The log tells the story.
    let log = h.d().ctx.store.logs(&runs[0].id).await.unwrap();
    assert!(
        log.iter().any(|l| l.message.contains("the ad API is down")),
        "{log:#?}"
    );
}

async fn paused_time_is_never_caught_up(b: Backend) {
    let p = Project::new();
    let text = schedule("p", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1);
    p.write(
        "schedules/s.yaml",
        &text.replace("product: collagen", "product: collagen\npaused: true"),
    );
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    assert_eq!(h.state("p").await.status, ScheduleStatus::Paused);
    h.set(utc("2026-06-05T09:10:00Z"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.runs("p").await.is_empty());
    h.stop().await;
    h.project.write("schedules/s.yaml", &text);
    h.boot("gen-ok.sh").await;
    let s = h.state("p").await;
    assert_eq!(s.status, ScheduleStatus::Active);
    assert_eq!(s.next_run_at, Some(utc("2026-06-06T09:00:00Z")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.runs("p").await.is_empty(), "no catch-up for paused time");
}

async fn one_run_at_a_time_and_at_most_one_pending_per_schedule(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/a.yaml",
        &schedule("a", "  cron: \"*/10 * * * *\"\n  timezone: UTC", 2),
    );
    p.write(
        "schedules/b.yaml",
        &schedule("b", "  cron: \"*/10 * * * *\"\n  timezone: UTC", 2),
    );
    let h = H::start(b, p, "2026-06-01T00:05:00Z", "gen-slow.sh").await;
    h.set(utc("2026-06-01T00:10:00Z"));
    // While a runs (2 templates x 0.3 s), its next two times come.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.set(utc("2026-06-01T00:20:00Z"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.set(utc("2026-06-01T00:30:00Z"));
    // a: the 00:10 run, then one pending run for 00:20 that absorbed 00:30.
    // b: queued at 00:10 behind a; 00:20 and 00:30 came while it waited.
    let a = h.settle("a", 2).await;
    let b = h.settle("b", 1).await;
    let mut all: Vec<&Run> = a.iter().chain(b.iter()).collect();
    all.sort_by_key(|r| r.started_at);
    for w in all.windows(2) {
        assert!(
            w[0].completed_at.unwrap() <= w[1].started_at.unwrap(),
            "runs overlapped: {w:#?}"
        );
    }
    assert!(all.iter().all(|r| r.status == RunStatus::Completed));
    assert_eq!(a[1].scheduled_for, Some(utc("2026-06-01T00:20:00Z")));
    let log = h.d().ctx.store.logs(&b[0].id).await.unwrap();
    let folded = log
        .iter()
        .filter(|l| l.message.contains("not queued twice"))
        .count();
    assert_eq!(folded, 2, "{log:#?}");
    assert_eq!(
        h.state("b").await.next_run_at,
        Some(utc("2026-06-01T00:40:00Z"))
    );
}

async fn manual_trigger_queues_once_and_does_not_count(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("m", "  daily: { at: \"09:00\" }\n  max_runs: 1", 1),
    );
    let h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    let (first, again) = h.d().ctx.trigger("m").await.unwrap();
    assert!(!again);
    let runs = h.settle("m", 1).await;
    assert_eq!(runs[0].id, first);
    assert_eq!(runs[0].trigger, Trigger::Manual);
    assert_eq!(h.state("m").await.runs_completed, 0);
    assert_eq!(h.state("m").await.status, ScheduleStatus::Active);
    assert!(matches!(
        h.d().ctx.trigger("nope").await,
        Err(daemon::TriggerError::NotFound(id)) if id == "nope"
    ));
}

/// Disk waits are what a burst of due runs costs (issue 19): the tick that
/// records them waits twice (the runs, then their "queued" lines) however
/// many are due, and a run of one template without an export waits twice
/// (its start before the generator call, its end), its ads riding on the end.
/// (A generator's own stderr lines are written as they come: this one is quiet.)
async fn a_due_run_costs_two_flushes_and_its_tick_two(b: Backend) {
    let p = Project::new();
    p.script(
        "gen-quiet.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho '{{\"ad_run_id\": \"ar-1\", \"images\": [{{\"png_base64\": \"{}\"}}]}}'\n",
            common::PNG_1X1
        ),
    );
    p.write(
        "schedules/s.yaml",
        &schedule("f", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-quiet.sh").await;
    let before = h.d().ctx.store.flushes();
    h.set(utc("2026-06-01T09:00:01Z"));
    h.settle("f", 1).await;
    let runs = h.runs("f").await;
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(runs[0].ads.len(), 1);
    // The run's record shows it ended a moment before its last lines'
    // flush is counted: wait for that one, then for no more.
    let flushes = || h.d().ctx.store.flushes() - before;
    for _ in 0..200 {
        if flushes() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(flushes(), 4);
}

async fn a_restart_keeps_counters_and_never_refires_a_time(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("r", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T09:00:01Z"));
    h.settle("r", 1).await;
    h.stop().await;
    h.boot("gen-ok.sh").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.runs("r").await.len(), 1);
    let s = h.state("r").await;
    assert_eq!(
        (s.runs_completed, s.next_run_at),
        (1, Some(utc("2026-06-02T09:00:00Z")))
    );
    assert!(h.clock.now() < s.next_run_at.unwrap());
}

/// A restart reads every file but compares with the store only the
/// schedules whose documents differ from what the store says was applied:
/// none when nothing changed, the edited one when a file changed while the
/// daemon was stopped, and a removed one until its file is back.
async fn a_restart_compares_only_the_schedules_whose_files_changed(b: Backend) {
    let p = Project::new();
    let daily = |at: &str| format!("  daily: {{ at: \"{at}\" }}\n  timezone: UTC");
    for id in ["ra", "rb", "rc"] {
        p.write(
            &format!("schedules/{id}.yaml"),
            &schedule(id, &daily("09:00"), 1),
        );
    }
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    let compared = |h: &H| {
        h.d()
            .ctx
            .stats
            .compared
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(compared(&h), 3, "a first start compares every schedule");
    let staged = |h: &H| {
        h.d()
            .ctx
            .stats
            .staged
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // A first start applies them while the folder is still being read
    // (their files come after the product's).
    assert_eq!(staged(&h), 3);
    let before = h.state("ra").await;
    h.stop().await;

    h.boot("gen-ok.sh").await;
    assert_eq!(compared(&h), 0, "nothing changed while stopped");
    assert_eq!(staged(&h), 0, "only into an empty store");
    assert_eq!(h.state("ra").await, before);
    h.stop().await;

    // Edited and removed while the daemon was down: both are seen.
    h.project
        .write("schedules/rb.yaml", &schedule("rb", &daily("10:00"), 1));
    std::fs::remove_file(h.project.path("schedules/rc.yaml")).unwrap();
    h.boot("gen-ok.sh").await;
    assert_eq!(compared(&h), 2);
    let rb = h.state("rb").await;
    assert_eq!(rb.next_run_at, Some(utc("2026-06-01T10:00:00Z")));
    assert_eq!(h.state("rc").await.status, ScheduleStatus::Removed);
    assert_eq!(h.state("ra").await, before);
    h.stop().await;

    // The file comes back: restored, then settled again.
    h.project
        .write("schedules/rc.yaml", &schedule("rc", &daily("09:00"), 1));
    h.boot("gen-ok.sh").await;
    assert_eq!(compared(&h), 1);
    assert_eq!(h.state("rc").await.status, ScheduleStatus::Active);
    h.stop().await;
    h.boot("gen-ok.sh").await;
    assert_eq!(compared(&h), 0);
    // And the schedules still fire.
    h.set(utc("2026-06-01T10:00:01Z"));
    h.settle("rb", 1).await;
    h.settle("ra", 1).await;
}

/// A first start applies schedules while the folder is still being read,
/// but stores only what the whole folder wants: an id
/// that a file read later defines again makes both files invalid, and
/// neither copy is stored, as on any other start.
async fn a_first_start_stores_only_what_the_whole_folder_wants(b: Backend) {
    let p = Project::new();
    let daily = "  daily: { at: \"09:00\" }\n  timezone: UTC";
    // Read before its product's file (`products.yaml`): staged once that
    // is read. Then one read after it.
    p.write("schedules/a-early.yaml", &schedule("early", daily, 1));
    p.write("schedules/t-late.yaml", &schedule("late", daily, 1));
    // Staged when read; the same id comes again in the next file.
    p.write("schedules/u-twice.yaml", &schedule("twice", daily, 1));
    p.write("schedules/v-twice.yaml", &schedule("twice", daily, 1));
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    for id in ["early", "late"] {
        let s = h.state(id).await;
        assert_eq!(s.status, ScheduleStatus::Active, "{id}");
        assert_eq!(s.next_run_at, Some(utc("2026-06-01T09:00:00Z")), "{id}");
        assert_eq!(s.error, None, "{id}");
    }
    let twice = h.d().ctx.store.schedule("twice").await.unwrap();
    assert!(twice.is_none(), "stored though defined twice: {twice:#?}");
    let mut invalid: Vec<String> = h
        .d()
        .ctx
        .invalid_files()
        .into_iter()
        .map(|e| e.file)
        .collect();
    invalid.sort();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
    assert!(invalid[0].ends_with("u-twice.yaml") && invalid[1].ends_with("v-twice.yaml"));
    let staged = h
        .d()
        .ctx
        .stats
        .staged
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        staged, 2,
        "`early` and `late` kept; `twice` staged, then removed"
    );
    h.stop().await;

    // Fixed while stopped: the store is no longer empty, the usual reload
    // adds it, and nothing else changes.
    std::fs::remove_file(h.project.path("schedules/v-twice.yaml")).unwrap();
    h.boot("gen-ok.sh").await;
    assert_eq!(h.state("twice").await.status, ScheduleStatus::Active);
    assert!(h.d().ctx.invalid_files().is_empty());
    h.set(utc("2026-06-01T09:00:01Z"));
    for id in ["early", "late", "twice"] {
        h.settle(id, 1).await;
    }
}

async fn unused_templates_never_repeat_per_product_until_the_pool_is_exhausted(b: Backend) {
    let p = Project::new();
    // A pool of 5.
    for i in 5..200 {
        std::fs::remove_file(p.path(&format!("templates/t{i:03}.png"))).unwrap();
    }
    p.write(
        "schedules/products2.yaml",
        "apiVersion: adsched/v1\nkind: Product\nid: gummies\nname: Gummies\nbrand: { id: acme, name: Acme }\n",
    );
    p.write(
        "schedules/a.yaml",
        &schedule(
            "a",
            "  daily: { at: \"09:00\" }\n  timezone: UTC\n  retries: 0",
            2,
        ),
    );
    p.write(
        "schedules/b.yaml",
        &schedule(
            "b",
            "  daily: { at: \"10:00\" }\n  timezone: UTC\n  retries: 0",
            4,
        )
        .replace("product: collagen", "product: gummies"),
    );
    let h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    let mut used_a = Vec::new();
    for day in 1..=3 {
        h.set(utc(&format!("2026-06-0{day}T09:00:00.1Z")));
        let runs = h.settle("a", day).await;
        used_a.extend(runs.last().unwrap().templates_used.clone());
        h.set(utc(&format!("2026-06-0{day}T10:00:00.1Z")));
        h.settle("b", day).await;
    }
    let runs_a = h.runs("a").await;
    // 2 + 2 + 1 (only one left of five), never a repeat.
    assert_eq!(
        runs_a
            .iter()
            .map(|r| r.templates_used.len())
            .collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let mut sorted = used_a.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "{used_a:?}");
    assert_eq!(
        used_a,
        vec!["t000.png", "t001.png", "t002.png", "t003.png", "t004.png"],
        "name order"
    );
    let log = h.d().ctx.store.logs(&runs_a[2].id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("only 1 unused template left")),
        "{log:#?}"
    );
    // The other product has its own history in the same pool.
    let runs_b = h.runs("b").await;
    assert_eq!(
        runs_b[0].templates_used,
        vec!["t000.png", "t001.png", "t002.png", "t003.png"]
    );
    assert_eq!(runs_b[1].templates_used, vec!["t004.png"]);
    assert_eq!(runs_b[2].status, RunStatus::Failed);
    assert!(
        runs_b[2]
            .error_message
            .as_deref()
            .unwrap()
            .contains("exhausted"),
        "{:?}",
        runs_b[2].error_message
    );
    // Day 4: product a is exhausted too, and says so.
    h.set(utc("2026-06-04T09:00:00.1Z"));
    let runs_a = h.settle("a", 4).await;
    let last = runs_a.last().unwrap();
    assert_eq!(last.status, RunStatus::Failed);
    assert!(
        last.error_message.as_deref().unwrap().contains("0 remain"),
        "{:?}",
        last.error_message
    );
    let usage = h.d().ctx.store.used_templates("collagen").await.unwrap();
    assert_eq!(usage.len(), 5);
    assert!(usage
        .iter()
        .all(|u| u.ad_run_id.starts_with("ar-") && !u.run_id.is_empty()));
}

async fn specific_and_uploaded_templates(b: Backend) {
    let p = Project::new();
    std::fs::create_dir_all(p.path("schedules/assets")).unwrap();
    std::fs::copy(
        p.path("templates/t000.png"),
        p.path("schedules/assets/hero.png"),
    )
    .unwrap();
    let spec = schedule("spec", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1).replace(
        "  mode: unused\n  count: 1\n",
        "  mode: specific\n  ids: [t007.png, t003.png]\n",
    );
    let up = schedule("up", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1).replace(
        "  mode: unused\n  count: 1\n",
        "  mode: uploaded\n  files: [assets/hero.png]\n",
    );
    p.write("schedules/spec.yaml", &spec);
    p.write("schedules/up.yaml", &up);
    let h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T09:00:00.1Z"));
    let s = h.settle("spec", 1).await;
    let u = h.settle("up", 1).await;
    assert_eq!(s[0].templates_used, vec!["t007.png", "t003.png"]);
    assert_eq!(u[0].templates_used, vec!["assets/hero.png"]);
    assert_eq!(u[0].status, RunStatus::Completed);
}

async fn a_broken_product_file_keeps_its_schedules_in_force(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("kept", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1),
    );
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    let before = h.state("kept").await;
    h.stop().await;
    // The product's file (not the schedule's) gets a broken second document.
    h.project.write(
        "schedules/products.yaml",
        &format!("{}---\nkind: Product\nid: oops\n", common::PRODUCT),
    );
    h.boot("gen-ok.sh").await;
    let s = h.state("kept").await;
    assert_eq!(s.status, ScheduleStatus::Active, "not removed");
    assert_eq!(s.next_run_at, before.next_run_at);
    let err = s
        .error
        .expect("the product file's error is shown on the schedule");
    assert!(err.file.ends_with("products.yaml"), "{err:?}");
    // Idempotent: a second reconcile of the same files changes nothing.
    let again = h.state("kept").await;
    daemon::reload(&h.d().ctx, true).await;
    assert_eq!(h.state("kept").await, again);
}

/// SPEC 3.3 and 8: a `once` whose time comes while an operator's pause
/// holds is not dropped silently when it is resumed: it gets a `missed`
/// record, even inside its catch-up window (paused time is never caught
/// up), and is completed. A `once` that ran before its pause gets none.
async fn a_once_paused_over_its_time_gets_a_missed_record_when_resumed(b: Backend) {
    let p = Project::new();
    let once =
        |at: &str| format!("  once: {{ at: \"{at}\" }}\n  timezone: UTC\n  catchup_window: 2h");
    p.write(
        "schedules/a.yaml",
        &schedule("held", &once("2026-06-01T09:00"), 1),
    );
    p.write(
        "schedules/b.yaml",
        &schedule("ran", &once("2026-06-01T08:30"), 1),
    );
    let h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T08:30:00.5Z"));
    h.settle("ran", 1).await;
    let store = h.d().ctx.store.clone();
    for id in ["held", "ran"] {
        service::pause(&store, id, "ops", None, None, utc("2026-06-01T08:45:00Z"))
            .await
            .unwrap();
    }
    h.set(utc("2026-06-01T09:30:00Z"));
    h.d().ctx.wake_scheduler.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.runs("held").await.is_empty(),
        "a paused schedule fires nothing"
    );

    for id in ["held", "ran"] {
        service::resume(&store, id, "ops", utc("2026-06-01T09:30:00Z"))
            .await
            .unwrap();
    }
    h.d().ctx.wake_scheduler.notify_one();
    let runs = h.settle("held", 1).await;
    assert_eq!(runs[0].status, RunStatus::Missed, "{runs:#?}");
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-01T09:00:00Z")));
    assert!(
        runs[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("passed while the schedule was paused"),
        "{runs:#?}"
    );
    let s = h.state("held").await;
    assert_eq!((s.status, s.next_run_at), (ScheduleStatus::Completed, None));
    assert_eq!(s.resumed_at, None);

    // The one that ran before its pause: completed, no second record.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.runs("ran").await.len(), 1);
    assert_eq!(h.state("ran").await.status, ScheduleStatus::Completed);
    assert_eq!(h.runs("held").await.len(), 1);
}

/// SPEC 8: an operator's pause holds across an edit of the file and a
/// restart, its time is never caught up, a resume brings the next future
/// time, a file's `paused: true` wins over a resume, and `until` ends it.
async fn an_operators_pause_holds_across_edits_and_restarts_until_resumed(b: Backend) {
    let p = Project::new();
    let text = schedule("op", "  daily: { at: \"09:00\" }\n  timezone: UTC", 1);
    p.write("schedules/s.yaml", &text);
    let mut h = H::start(b, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    let store = h.d().ctx.store.clone();
    let now = utc("2026-06-01T00:00:00Z");
    let v = service::pause(&store, "op", "ops", Some("Slack is flooded"), None, now)
        .await
        .unwrap();
    assert_eq!(v.status, ScheduleStatus::Paused);
    let o = v.override_.unwrap();
    assert_eq!(
        (o.by.as_str(), o.reason.as_str()),
        ("ops", "Slack is flooded")
    );
    assert!(v.next_run_at.is_none());

    // An edit of the file (a new name) and a restart keep the pause.
    h.project.write(
        "schedules/s.yaml",
        &text.replace("name: op", "name: renamed"),
    );
    h.stop().await;
    h.boot("gen-ok.sh").await;
    let s = h.state("op").await;
    assert_eq!(
        (s.name.as_str(), s.status),
        ("renamed", ScheduleStatus::Paused)
    );
    assert_eq!(s.pause.as_ref().unwrap().note.by, "ops");
    h.set(utc("2026-06-03T09:30:00Z"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        h.runs("op").await.is_empty(),
        "a paused schedule fires nothing"
    );

    let store = h.d().ctx.store.clone();
    let v = service::resume(&store, "op", "ops", utc("2026-06-03T09:30:00Z"))
        .await
        .unwrap();
    assert_eq!(v.status, ScheduleStatus::Active);
    assert!(v.override_.is_none());
    assert_eq!(
        h.state("op").await.next_run_at,
        Some(utc("2026-06-04T09:00:00Z"))
    );
    h.d().ctx.wake_scheduler.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.runs("op").await.is_empty(),
        "paused time is never caught up"
    );

    // A pause with `until` ends by itself, in the audit log as `adsched`.
    let t = utc("2026-06-04T08:00:00Z");
    h.set(t);
    service::pause(
        &store,
        "op",
        "ops",
        Some("quiet hour"),
        Some("2026-06-04T08:30:00Z"),
        t,
    )
    .await
    .unwrap();
    h.d().ctx.wake_scheduler.notify_one();
    h.set(utc("2026-06-04T08:31:00Z"));
    for _ in 0..400 {
        if h.state("op").await.status == ScheduleStatus::Active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = h.state("op").await;
    assert_eq!(s.status, ScheduleStatus::Active, "until passed: {s:#?}");
    assert_eq!(s.next_run_at, Some(utc("2026-06-04T09:00:00Z")));
    h.set(utc("2026-06-04T09:00:00Z"));
    let runs = h.settle("op", 1).await;
    assert_eq!(runs[0].trigger, Trigger::Schedule);

    // A file that says `paused: true` wins over a resume.
    h.project.write(
        "schedules/s.yaml",
        &text.replace("product: collagen", "product: collagen\npaused: true"),
    );
    h.stop().await;
    h.boot("gen-ok.sh").await;
    let store = h.d().ctx.store.clone();
    let v = service::resume(&store, "op", "ops", utc("2026-06-04T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(v.status, ScheduleStatus::Paused);

    let audit = service::audit(&store, Some("op"), None).await.unwrap();
    let seen: Vec<(String, &str)> = audit
        .iter()
        .map(|e| (e.actor.clone(), e.action.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("ops".to_string(), "resume"),
            ("adsched".to_string(), "resume"),
            ("ops".to_string(), "pause"),
            ("ops".to_string(), "resume"),
            ("ops".to_string(), "pause"),
        ],
        "newest first: {audit:#?}"
    );
    assert_eq!(audit[4].reason.as_deref(), Some("Slack is flooded"));
    assert!(matches!(
        service::pause(
            &store,
            "nope",
            "ops",
            None,
            None,
            utc("2026-06-04T10:00:00Z")
        )
        .await,
        Err(service::QueryError::NoSchedule(_))
    ));
    assert!(matches!(
        service::pause(&store, "op", "ops", None, Some("2020-01-01T00:00:00Z"), utc("2026-06-04T10:00:00Z")).await,
        Err(service::QueryError::Invalid(m)) if m.contains("already passed")
    ));
}

/// SPEC 8: cancelling a pending run ends it at once (a calendar run counts
/// toward max_runs); a running one stops after its current template and
/// exports nothing; an ended run cannot be cancelled.
async fn cancel_a_pending_and_a_running_run(b: Backend) {
    let p = Project::new();
    p.write(
        "schedules/a.yaml",
        &schedule(
            "a",
            "  daily: { at: \"09:00\" }\n  timezone: UTC\n  max_runs: 5",
            3,
        ),
    );
    p.write(
        "schedules/b.yaml",
        &schedule(
            "b",
            "  daily: { at: \"09:00\" }\n  timezone: UTC\n  max_runs: 5",
            1,
        ),
    );
    let h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-slow.sh").await;
    h.set(utc("2026-06-01T09:00:00Z"));
    // a runs first (3 templates x 0.3 s); b waits behind it.
    let store = h.d().ctx.store.clone();
    let (a_run, b_run) = loop {
        let a = h.state("a").await;
        let b = h.state("b").await;
        if let (Some(x), Some(y)) = (a.running_run, b.pending_run) {
            break (x, y);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let now = utc("2026-06-01T09:00:01Z");
    let v = service::cancel(&store, &b_run, "ops", Some("wrong product"), now)
        .await
        .unwrap();
    assert_eq!(v.status, RunStatus::Cancelled);
    assert_eq!(
        v.error_message.as_deref(),
        Some("cancelled by ops: wrong product")
    );
    let v = service::cancel(&store, &a_run, "ops", None, now)
        .await
        .unwrap();
    assert_eq!(
        v.status,
        RunStatus::Running,
        "it stops after its current template"
    );
    let a = h.settle("a", 1).await;
    assert_eq!(a[0].status, RunStatus::Cancelled, "{:#?}", a[0]);
    assert!(
        a[0].ads.len() < 3,
        "stopped before every template: {:#?}",
        a[0]
    );
    assert!(a[0].exports.is_empty());
    let b = h.settle("b", 1).await;
    assert_eq!(b[0].status, RunStatus::Cancelled);
    assert!(b[0].started_at.is_none(), "a pending run never starts");
    // Both calendar runs count; neither is retried.
    assert_eq!(h.state("a").await.runs_completed, 1);
    assert_eq!(h.state("b").await.runs_completed, 1);
    assert!(h.state("a").await.retry.is_none());
    assert!(h.state("b").await.pending_run.is_none());
    assert!(matches!(
        service::cancel(&store, &a_run, "ops", None, now).await,
        Err(service::QueryError::Conflict(m)) if m.contains("cancelled already")
    ));
    assert!(matches!(
        service::cancel(&store, "nope", "ops", None, now).await,
        Err(service::QueryError::NoRun(_))
    ));
    let audit = service::audit(&store, None, Some("10")).await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:#?}");
    assert!(audit
        .iter()
        .all(|e| e.action.as_str() == "cancel" && e.actor == "ops"));
}

/// SPEC 11: a run of a schedule with `review: required` ends `completed`
/// with its export waiting; decisions are kept on the ads; the call that
/// decides the last ad claims the send, once; an unreviewed export expires
/// when its window passes, found through each store's index.
async fn review_waits_claims_once_and_expires(b: Backend) {
    use adsched::export::review::{self, ReviewRequest};
    let p = Project::new();
    let reviewed = |id: &str| {
        schedule(id, "  daily: { at: \"09:00\" }\n  timezone: UTC", 2)
            + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n  review: required\n  review_window: 10m\n"
    };
    p.write("schedules/a.yaml", &reviewed("a"));
    p.write("schedules/b.yaml", &reviewed("b"));
    let h = H::start(b, p, "2026-06-01T08:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T09:00:00Z"));
    let a = h.settle("a", 1).await;
    let b_runs = h.settle("b", 1).await;
    let store = h.d().ctx.store.clone();
    let run = &a[0];
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.exports[0].status, "awaiting_review", "{run:#?}");
    assert_eq!(run.review_due, Some(utc("2026-06-01T09:10:00Z")));
    assert_eq!(store.runs_awaiting_review().await.unwrap().len(), 2);

    let now = utc("2026-06-01T09:01:00Z");
    let first = ReviewRequest {
        approve: vec![run.ads[0].image.clone()],
        ..Default::default()
    };
    let (after, send) = review::decide(&store, &run.id, &first, "ops", now)
        .await
        .unwrap();
    assert!(!send, "one ad is undecided");
    assert_eq!(after.ads[0].review.as_ref().unwrap().by, "ops");
    let last = ReviewRequest {
        reject: vec![run.ads[1].image.clone()],
        ..Default::default()
    };
    let (_, send) = review::decide(&store, &run.id, &last, "ops", now)
        .await
        .unwrap();
    assert!(send, "the last decision claims the send");
    assert!(
        matches!(
            review::decide(&store, &run.id, &last, "ops", now).await,
            Err(service::QueryError::Conflict(_))
        ),
        "claimed once"
    );

    // b is never reviewed: when its window passes, its export expires.
    h.set(utc("2026-06-01T09:11:00Z"));
    h.d().ctx.wake_scheduler.notify_one();
    let expired = loop {
        let r = store.run(&b_runs[0].id).await.unwrap().unwrap();
        if r.exports[0].status != "awaiting_review" {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(expired.exports[0].status, "expired", "{expired:#?}");
    assert!(expired.review_due.is_none());
    let waiting: Vec<String> = store
        .runs_awaiting_review()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    // a's export was claimed (its send is the caller's), b's expired.
    assert_eq!(waiting, vec![run.id.clone()], "only a, mid-send");
}

/// Runs each body on both stores.
/// A sled store written before the index of wake times and the list of
/// applied documents existed gets them built when opened: its schedules
/// still fire, and one whose file went meanwhile is still found and
/// removed. (PostgreSQL's upgrade is in tests/postgres.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_from_before_the_wake_index_still_fires() {
    let p = Project::new();
    let daily = "  daily: { at: \"09:00\" }\n  timezone: UTC";
    p.write("schedules/s.yaml", &schedule("w", daily, 1));
    p.write("schedules/x.yaml", &schedule("x", daily, 1));
    let mut h = H::start(Backend::Sled, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.stop().await;
    {
        let db = sled::open(h.project.path("state")).unwrap();
        assert!(db.drop_tree("wake").unwrap(), "the index exists");
        assert!(db.drop_tree("applied").unwrap(), "the list exists");
        db.flush().unwrap();
    }
    std::fs::remove_file(h.project.path("schedules/x.yaml")).unwrap();
    h.boot("gen-ok.sh").await;
    assert_eq!(h.state("x").await.status, ScheduleStatus::Removed);
    h.set(utc("2026-06-01T09:00:01Z"));
    let runs = h.settle("w", 1).await;
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-01T09:00:00Z")));
    assert!(h.runs("x").await.is_empty());
}

/// A first start on sled that stopped while applying the folder (its mark
/// that it was staging is still there) is undone at the next start: a
/// schedule it applied that the whole folder does not want is not kept in
/// force, and the rest is applied afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_first_start_stopped_while_applying_is_undone_at_the_next() {
    let p = Project::new();
    let daily = "  daily: { at: \"09:00\" }\n  timezone: UTC";
    p.write("schedules/s.yaml", &schedule("kept", daily, 1));
    p.write("schedules/t.yaml", &schedule("twice", daily, 1));
    let mut h = H::start(Backend::Sled, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.stop().await;
    // As if it had stopped before the last file was read...
    assert_eq!(mark_staging(&h), 3, "the fill mark and two schedules");
    // ...and the last file defines `twice` again.
    h.project
        .write("schedules/u.yaml", &schedule("twice", daily, 1));
    h.boot("gen-ok.sh").await;
    let twice = h.d().ctx.store.schedule("twice").await.unwrap();
    assert!(twice.is_none(), "kept though defined twice: {twice:#?}");
    let kept = h.state("kept").await;
    assert_eq!(kept.status, ScheduleStatus::Active);
    assert_eq!(kept.next_run_at, Some(utc("2026-06-01T09:00:00Z")));
    h.stop().await;
    h.boot("gen-ok.sh").await;
    let compared = h
        .d()
        .ctx
        .stats
        .compared
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(compared, 0, "the mark is gone and the store settled");
    assert_eq!(h.state("kept").await, kept);

    // A mark found in a store that has run since (a removal that failed
    // twice over) is dropped: the schedules and their counts stay.
    h.set(utc("2026-06-01T09:00:01Z"));
    h.settle("kept", 1).await;
    let ran = h.state("kept").await;
    assert_eq!(ran.runs_completed, 1);
    h.stop().await;
    mark_staging(&h);
    h.boot("gen-ok.sh").await;
    assert_eq!(h.state("kept").await, ran);
}

/// Sets, in a stopped daemon's sled store, the mark a first start leaves
/// while it stages; returns how many keys `applied` held before.
fn mark_staging(h: &H) -> usize {
    let db = sled::open(h.project.path("state")).unwrap();
    let applied = db.open_tree("applied").unwrap();
    let before = applied.len();
    applied.insert([0u8, 1], &[] as &[u8]).unwrap();
    db.flush().unwrap();
    before
}

/// A sled store written before its index of running runs existed gets it
/// built when opened: a run a crash left `running` is still found and
/// marked interrupted at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_from_before_the_running_index_still_interrupts_a_run_left_running() {
    let p = Project::new();
    let daily = "  daily: { at: \"09:00\" }\n  timezone: UTC";
    p.write("schedules/s.yaml", &schedule("w", daily, 1));
    let mut h = H::start(Backend::Sled, p, "2026-06-01T00:00:00Z", "gen-ok.sh").await;
    h.set(utc("2026-06-01T09:00:01Z"));
    let runs = h.settle("w", 1).await;
    assert_eq!(runs[0].status, RunStatus::Completed);
    h.stop().await;
    {
        // As a crash mid-run leaves it, in a store without the index.
        let db = sled::open(h.project.path("state")).unwrap();
        let tree = db.open_tree("runs").unwrap();
        let mut run: serde_json::Value =
            serde_json::from_slice(&tree.get(runs[0].id.as_bytes()).unwrap().unwrap()).unwrap();
        run["status"] = "running".into();
        run["completed_at"] = serde_json::Value::Null;
        tree.insert(runs[0].id.as_bytes(), serde_json::to_vec(&run).unwrap())
            .unwrap();
        assert!(db.drop_tree("pending").unwrap(), "the queue exists");
        db.flush().unwrap();
    }
    h.boot("gen-ok.sh").await;
    let after = h.runs("w").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].status, RunStatus::Interrupted, "{:?}", after[0]);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sled() {
                    super::$name(super::Backend::Sled).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::Backend::Postgres).await
                }
            }
        )*
    };
}

on_both_stores!(
    a_year_of_mondays_fires_at_nine_local_across_dst,
    max_runs_completes_the_schedule_and_raising_it_reactivates,
    missed_times_catch_up_once_inside_the_window_else_a_missed_record,
    outside_the_window_one_missed_record_then_the_next_future_time,
    a_time_passed_while_stopped_is_a_catchup_even_seconds_late,
    a_one_second_window_is_honoured_exactly,
    once_fires_once_then_completed,
    failed_runs_are_retried_with_backoff_and_count_once,
    paused_time_is_never_caught_up,
    one_run_at_a_time_and_at_most_one_pending_per_schedule,
    manual_trigger_queues_once_and_does_not_count,
    a_due_run_costs_two_flushes_and_its_tick_two,
    a_restart_keeps_counters_and_never_refires_a_time,
    a_restart_compares_only_the_schedules_whose_files_changed,
    a_first_start_stores_only_what_the_whole_folder_wants,
    unused_templates_never_repeat_per_product_until_the_pool_is_exhausted,
    specific_and_uploaded_templates,
    a_broken_product_file_keeps_its_schedules_in_force,
    an_operators_pause_holds_across_edits_and_restarts_until_resumed,
    a_once_paused_over_its_time_gets_a_missed_record_when_resumed,
    cancel_a_pending_and_a_running_run,
    review_waits_claims_once_and_expires,
);
