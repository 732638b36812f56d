//! Firing decisions as pure functions of (schedule state, calendar, now):
//! what to queue when a time comes, what starting and finishing a run do to
//! the schedule. The daemon applies each result in one store transaction.

use chrono::{DateTime, Duration, Utc};

use crate::calendar::{Calendar, Form};
use crate::records::{RetryPlan, Run, RunStatus, ScheduleState, ScheduleStatus, Trigger};

/// A time the running daemon was waiting for and found at most this late is
/// an on-time run: the loop wakes within a second of a due time, and never
/// sleeps longer than this. Any other late time is judged by the schedule's
/// catch-up window alone, however small.
const ON_TIME_SLACK: i64 = 60;

/// Missed times are counted up to this many (an every-minute cron down for years).
const MAX_MISSED_COUNT: u32 = 1_000_000;

/// The first retry waits this long, then twice as long each time...
const RETRY_BASE_MINUTES: i64 = 5;
/// ...up to this.
const RETRY_CAP_MINUTES: i64 = 60;

/// What a due check decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    /// The schedule after the decision.
    pub state: ScheduleState,
    /// A run to write: pending (to run) or missed (a record only).
    pub run: Option<Run>,
    /// A note for the log of the run already queued (a time that came while it waited).
    pub coalesced: Option<DateTime<Utc>>,
}

/// When this schedule next needs attention: its next time, its retry, or
/// the end of an operator's pause.
pub fn wake_at(s: &ScheduleState) -> Option<DateTime<Utc>> {
    let next = match s.status {
        ScheduleStatus::Active => s.next_run_at,
        _ => None,
    };
    // A paused schedule retries nothing until it is resumed.
    let retry = s
        .retry
        .as_ref()
        .filter(|_| s.status != ScheduleStatus::Paused)
        .map(|r| r.at);
    let until = s.pause.as_ref().and_then(|p| p.until);
    [next, retry, until].into_iter().flatten().min()
}

/// Decides what a schedule does at `now`; None when nothing is due.
/// `waiting_since` is when this daemon began watching the clock: a time
/// before it passed while no daemon was waiting, so it can only be a
/// catch-up or missed. `new_id` names a run if one is made.
pub fn on_due(
    s: &ScheduleState,
    cal: &Calendar,
    catchup_window: Duration,
    waiting_since: DateTime<Utc>,
    now: DateTime<Utc>,
    new_id: &mut dyn FnMut() -> String,
) -> Option<Fire> {
    // A retry that is due, when nothing of this schedule is queued and it
    // is not paused.
    let retry_due = s
        .retry
        .as_ref()
        .filter(|r| r.at <= now && s.status != ScheduleStatus::Paused);
    if let Some(retry) = retry_due {
        if s.pending_run.is_none() && s.running_run.is_none() {
            let mut state = s.clone();
            state.retry = None;
            let mut run = Run::new(
                new_id(),
                s,
                Trigger::Retry,
                retry.attempt,
                retry.scheduled_for,
                now,
            );
            run.status = RunStatus::Pending;
            state.pending_run = Some(run.id.clone());
            return Some(Fire {
                state,
                run: Some(run),
                coalesced: None,
            });
        }
    }
    if s.status != ScheduleStatus::Active {
        return None;
    }
    let first = s.next_run_at.filter(|t| *t <= now)?;
    // Every calendar time from `first` up to now.
    let mut latest = first;
    let mut count = 1u32;
    while count < MAX_MISSED_COUNT {
        match cal.next_after(latest) {
            Some(t) if t <= now => {
                latest = t;
                count += 1;
            }
            _ => break,
        }
    }
    let is_once = matches!(cal.form(), Form::Once(_));
    // A time an operator's pause held back (see `ScheduleState::resumed_at`).
    let paused_over = s.resumed_at.is_some_and(|r| latest < r);
    let mut state = s.clone();
    state.resumed_at = None;
    state.next_run_at = if is_once { None } else { cal.next_after(now) };
    if s.pending_run.is_some() {
        // At most one pending run per schedule: the time is folded into it.
        return Some(Fire {
            state,
            run: None,
            coalesced: Some(latest),
        });
    }
    let late = now - latest;
    let mut run = Run::new(new_id(), s, Trigger::Schedule, 1, Some(latest), now);
    let on_time = !paused_over
        && count == 1
        && latest >= waiting_since
        && late <= Duration::seconds(ON_TIME_SLACK);
    if on_time {
        state.pending_run = Some(run.id.clone());
    } else if late <= catchup_window && !paused_over {
        run.trigger = Trigger::Catchup;
        run.missed_count = count - 1;
        state.pending_run = Some(run.id.clone());
    } else {
        run.trigger = Trigger::Schedule;
        run.status = RunStatus::Missed;
        run.missed_count = count;
        run.completed_at = Some(now);
        run.error_message = Some(if paused_over {
            format!(
                "missed {count} scheduled time{}: it passed while the schedule was paused, and paused time is not caught up",
                if count == 1 { "" } else { "s" },
            )
        } else {
            format!(
                "missed {count} scheduled time{} (the latest {} late); outside the catch-up window of {}",
                if count == 1 { "" } else { "s" },
                human_duration(late),
                human_duration(catchup_window)
            )
        });
        state.last_run_id = Some(run.id.clone());
        if is_once {
            state.status = ScheduleStatus::Completed;
        }
    }
    Some(Fire {
        state,
        run: Some(run),
        coalesced: None,
    })
}

/// A run starts: it counts toward `max_runs` if the calendar started it.
pub fn on_start(
    s: &ScheduleState,
    run: &Run,
    is_once: bool,
    now: DateTime<Utc>,
) -> (ScheduleState, Run) {
    let mut state = s.clone();
    let mut run = run.clone();
    run.status = RunStatus::Running;
    run.started_at = Some(now);
    if state.pending_run.as_deref() == Some(run.id.as_str()) {
        state.pending_run = None;
    }
    state.running_run = Some(run.id.clone());
    state.last_run_id = Some(run.id.clone());
    if run.trigger.counts() {
        state.runs_completed += 1;
        let limit_reached = state.max_runs.is_some_and(|m| state.runs_completed >= m);
        if (limit_reached || is_once) && state.status == ScheduleStatus::Active {
            state.status = ScheduleStatus::Completed;
            state.next_run_at = None;
        }
    }
    (state, run)
}

/// A run ends. A failed calendar run (or retry) is retried while attempts remain.
pub fn on_finish(s: &ScheduleState, run: &Run, retries: u32, now: DateTime<Utc>) -> ScheduleState {
    let mut state = s.clone();
    if state.running_run.as_deref() == Some(run.id.as_str()) {
        state.running_run = None;
    }
    let retryable = run.trigger != Trigger::Manual && run.status == RunStatus::Failed;
    if retryable && run.attempt <= retries && state.status != ScheduleStatus::Removed {
        state.retry = Some(RetryPlan {
            attempt: run.attempt + 1,
            at: now + retry_delay(run.attempt),
            scheduled_for: run.scheduled_for,
        });
    }
    state
}

/// 5, 10, 20, 40, 60, 60... minutes after attempt 1, 2, 3...
pub fn retry_delay(attempt: u32) -> Duration {
    let minutes = RETRY_BASE_MINUTES.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    Duration::minutes(minutes.min(RETRY_CAP_MINUTES))
}

/// "1h", "2h 30m", "45s", "1d 2h": the units of the file format. Not
/// `humantime::format_duration`, which writes "1day" and months.
pub fn human_duration(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_then_cap() {
        let m: Vec<i64> = (1..=7).map(|a| retry_delay(a).num_minutes()).collect();
        assert_eq!(m, vec![5, 10, 20, 40, 60, 60, 60]);
    }

    /// A `once` time an operator's pause held back is recorded missed,
    /// even seconds late and inside the catch-up window; without the mark
    /// the same moment is an on-time run.
    #[test]
    fn a_time_held_back_by_a_pause_is_missed_not_run() {
        let at = crate::calendar::parse_local_datetime("2026-06-01T09:00").unwrap();
        let cal = Calendar::new(Form::Once(at), chrono_tz::UTC);
        let t: DateTime<Utc> = "2026-06-01T09:00:00Z".parse().unwrap();
        let now = t + Duration::seconds(5);
        let mut s = ScheduleState::empty("once");
        s.next_run_at = Some(t);
        let ids = &mut || "r1".to_string();
        let on_time = on_due(&s, &cal, Duration::hours(2), t, now, ids).unwrap();
        assert_eq!(on_time.run.unwrap().status, RunStatus::Pending);

        s.resumed_at = Some(now);
        let fire = on_due(&s, &cal, Duration::hours(2), t, now, ids).unwrap();
        let run = fire.run.unwrap();
        assert_eq!(
            (run.status, run.scheduled_for),
            (RunStatus::Missed, Some(t))
        );
        assert_eq!(fire.state.status, ScheduleStatus::Completed);
        assert_eq!(fire.state.resumed_at, None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::hours(1)), "1h");
        assert_eq!(human_duration(Duration::minutes(150)), "2h 30m");
        assert_eq!(human_duration(Duration::zero()), "0s");
        assert_eq!(human_duration(Duration::seconds(90061)), "1d 1h 1m 1s");
        assert_eq!(human_duration(Duration::days(40)), "40d");
        assert_eq!(human_duration(Duration::seconds(-5)), "0s");
    }
}
