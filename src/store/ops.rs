//! The logic of every state change, written once over record-level reads
//! and writes. A backend runs each function inside one of its transactions
//! (and may run it again on a conflict: these functions have no side
//! effects besides the [`Txn`] calls).
//!
//! Long because every state change is here, written once for both
//! backends; each is a short function of its own.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::staged::{Feed, Progress, Stage, Staged};
use super::{Action, Audit, Cancelled, Outcome, Queued, Reviewed, RunEnd, TemplateResult};
use crate::calendar::Calendar;
use crate::reconcile::{self, Change, DesiredSet};
use crate::records::{
    ActorNote, AdReview, AuditAction, AuditEntry, Decision, PauseOverride, Run, RunStatus,
    ScheduleState, ScheduleStatus, Trigger, Usage, AWAITING_REVIEW,
};
use crate::scheduler::{self, Fire};

/// Reads and writes of records inside one transaction of a backend.
pub(crate) trait Txn {
    /// The backend's transaction error (a conflict retries the transaction).
    type Error;

    /// An error that ends the transaction with nothing written.
    fn abort(message: &str) -> Self::Error;

    /// A schedule's state.
    fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, Self::Error>;
    /// Writes a schedule's state.
    fn put_schedule(&self, s: &ScheduleState) -> Result<(), Self::Error>;
    /// A run.
    fn run(&self, id: &str) -> Result<Option<Run>, Self::Error>;
    /// Writes a run (and whatever indexes it: per schedule, the queue).
    fn put_run(&self, r: &Run) -> Result<(), Self::Error>;
    /// Records that a template was used for a product; the first use wins.
    fn record_usage(&self, u: &Usage) -> Result<(), Self::Error>;
    /// Appends an entry to the audit log.
    fn put_audit(&self, e: &AuditEntry) -> Result<(), Self::Error>;
    /// Reads (and locks) these schedules ahead of their one-by-one reads:
    /// a database answers a batch in one round trip. Does nothing where
    /// reads cost nothing.
    fn prefetch_schedules(&self, _ids: &[String]) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Reads (and locks) a run and then its schedule ahead of their reads,
    /// in one round trip where each read costs one. The run goes first, as
    /// in every change that locks both. Does nothing where reads cost nothing.
    fn prefetch_run(&self, _run_id: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Records, per stored schedule, the hash of the documents its state now
    /// settles on ([`crate::reconcile::Desired::hash`]), or None (compare it
    /// next time): what a reload reads to skip the schedules whose files did
    /// not change. Every id given is a stored schedule.
    fn set_applied(&self, hashes: &[(&str, Option<u64>)]) -> Result<(), Self::Error>;
    /// Removes schedules a staged reconcile wrote into a store that had
    /// none, with whatever indexes them, when the whole read refutes them
    /// (see [`super::staged`]).
    fn unstage(&self, ids: &[&str]) -> Result<(), Self::Error>;
}

/// Carries out `action` over `tx`; `new_id` makes run ids (it may be
/// called more than once if the backend retries the transaction).
pub(crate) fn apply<T: Txn>(
    tx: &T,
    action: &Action,
    new_id: &dyn Fn(DateTime<Utc>) -> String,
) -> Result<Outcome, T::Error> {
    Ok(match action {
        Action::Reconcile { ids, desired, now } => {
            Outcome::Reconciled(reconcile_ids(tx, ids, desired, *now)?)
        }
        Action::Fire { due, started, now } => {
            let ids: Vec<String> = due.iter().map(|d| d.id.clone()).collect();
            tx.prefetch_schedules(&ids)?;
            let mut run_ids = || new_id(*now);
            let mut fired = Vec::with_capacity(due.len());
            for d in due {
                fired.push(fire(
                    tx,
                    &d.id,
                    &d.calendar,
                    d.window,
                    *started,
                    *now,
                    &mut run_ids,
                )?);
            }
            Outcome::Fired(fired)
        }
        Action::QueueManual {
            id,
            run_id,
            now,
            audit,
        } => {
            let queued = queue_manual(tx, id, run_id, *now)?;
            if let Queued::New(run_id) = &queued {
                put_audit(tx, audit, AuditAction::Trigger, Some(id), Some(run_id))?;
            }
            Outcome::Queued(queued)
        }
        Action::Pause {
            id,
            note,
            until,
            audit_id,
        } => Outcome::Schedule(pause(tx, id, note, *until, audit_id)?),
        Action::Resume { id, note, audit_id } => Outcome::Schedule(resume(tx, id, note, audit_id)?),
        Action::Cancel {
            run_id,
            note,
            audit_id,
        } => Outcome::Cancel(cancel(tx, run_id, note, audit_id)?),
        Action::AddExports {
            run_id,
            exports,
            audit,
        } => {
            if let Some(mut r) = tx.run(run_id)? {
                r.exports.extend(exports.iter().cloned());
                tx.put_run(&r)?;
                put_audit(
                    tx,
                    audit,
                    AuditAction::Export,
                    Some(&r.schedule_id),
                    Some(run_id),
                )?;
            }
            Outcome::Done
        }
        Action::BeginRun { run_id, now } => Outcome::Began(begin_run(tx, run_id, *now)?),
        Action::AddTemplate { run_id, result } => Outcome::Added(add_template(tx, run_id, result)?),
        Action::SetExports {
            run_id,
            exports,
            review_due,
        } => {
            if let Some(mut r) = tx.run(run_id)? {
                r.exports = exports.to_vec();
                r.review_due = *review_due;
                tx.put_run(&r)?;
            }
            Outcome::Done
        }
        Action::Review {
            run_id,
            approve,
            reject,
            note,
            send,
            audit,
        } => Outcome::Reviewed(review(
            tx,
            run_id,
            approve,
            reject,
            note.as_deref(),
            *send,
            audit,
        )?),
        Action::ExpireReview { run_id, now } => Outcome::Expired(expire_review(tx, run_id, *now)?),
        Action::FinishRun { run_id, end } => {
            let (run, schedule) = finish_run(tx, run_id, end)?;
            Outcome::Finished(run, schedule)
        }
        Action::ImportRuns(runs) => {
            for r in runs {
                tx.put_run(r)?;
            }
            Outcome::Done
        }
        Action::Interrupt { run_id, now } => {
            interrupt(tx, run_id, *now)?;
            Outcome::Done
        }
        Action::ClearStale {
            schedule_id,
            running,
            pending,
        } => {
            clear_stale(tx, schedule_id, *running, *pending)?;
            Outcome::Done
        }
    })
}

/// See [`Action::Reconcile`].
fn reconcile_ids<T: Txn>(
    tx: &T,
    ids: &[String],
    desired: &DesiredSet,
    now: DateTime<Utc>,
) -> Result<Vec<(Option<Change>, bool)>, T::Error> {
    tx.prefetch_schedules(ids)?;
    let mut results = Vec::with_capacity(ids.len());
    let mut hashes: Vec<(&str, Option<u64>)> = Vec::with_capacity(ids.len());
    for id in ids {
        let (change, settled, stored) = reconcile(tx, id, desired, now)?;
        if stored {
            let hash = desired.schedules.get(id).map(|d| d.hash);
            hashes.push((id.as_str(), hash.filter(|_| settled)));
        }
        results.push((change, settled));
    }
    tx.set_applied(&hashes)?;
    Ok(results)
}

/// One batch of a staged reconcile, as [`Action::Reconcile`] does it: per
/// schedule of `set`, in its order, the change noted and whether it settled.
pub(crate) fn stage_batch<T: Txn>(
    tx: &T,
    set: &DesiredSet,
    now: DateTime<Utc>,
) -> Result<Vec<(Option<reconcile::Noted>, bool)>, T::Error> {
    let ids: Vec<String> = set.schedules.keys().cloned().collect();
    let done = reconcile_ids(tx, &ids, set, now)?;
    Ok(done
        .into_iter()
        .map(|(change, settled)| (change.as_ref().map(Change::noted), settled))
        .collect())
}

/// See [`super::RecordStore::reconcile_staged`], in one transaction: each
/// batch, then the check against the whole read, which removes what it
/// refutes. Aborts (nothing is written) when the read ends without it.
pub(crate) fn reconcile_staged<T: Txn>(
    tx: &T,
    feed: &Feed,
    now: DateTime<Utc>,
) -> Result<Staged, T::Error> {
    let mut progress = Progress::default();
    for i in 0.. {
        match feed.get(i) {
            None => break,
            Some(Stage::Batch(set)) => progress.add(&set, stage_batch(tx, &set, now)?),
            Some(Stage::Final(whole)) => {
                let (refuted, staged) = progress.settle(Some(&whole));
                if !refuted.is_empty() {
                    tx.unstage(&refuted.iter().map(String::as_str).collect::<Vec<_>>())?;
                }
                return Ok(staged);
            }
        }
    }
    Err(T::abort(
        "the read of the folder ended without its final set",
    ))
}

/// See [`Action::Reconcile`]; also says whether the schedule is stored now.
fn reconcile<T: Txn>(
    tx: &T,
    id: &str,
    desired: &DesiredSet,
    now: DateTime<Utc>,
) -> Result<(Option<Change>, bool, bool), T::Error> {
    let current = tx.schedule(id)?;
    let change =
        reconcile::reconcile_one(desired.schedules.get(id), current.as_ref(), desired, now);
    if let Some(c) = &change {
        tx.put_schedule(c.state())?;
    }
    let after = change.as_ref().map(|c| c.state()).or(current.as_ref());
    let settled = after.is_some_and(|s| s.error.is_none() && s.status != ScheduleStatus::Removed);
    let stored = after.is_some();
    Ok((change, settled, stored))
}

/// See [`super::Store::fire`].
fn fire<T: Txn>(
    tx: &T,
    id: &str,
    calendar: &Calendar,
    window: chrono::Duration,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Option<Fire>, T::Error> {
    let Some(current) = tx.schedule(id)? else {
        return Ok(None);
    };
    let Some(fire) = scheduler::on_due(&current, calendar, window, started, now, new_id) else {
        return Ok(None);
    };
    tx.put_schedule(&fire.state)?;
    if let Some(run) = &fire.run {
        tx.put_run(run)?;
    }
    Ok(Some(fire))
}

/// See [`super::Store::queue_manual`].
fn queue_manual<T: Txn>(
    tx: &T,
    id: &str,
    new_id: &str,
    now: DateTime<Utc>,
) -> Result<Queued, T::Error> {
    let Some(mut s) = tx.schedule(id)? else {
        return Ok(Queued::NoSchedule);
    };
    if s.status == ScheduleStatus::Removed {
        return Ok(Queued::Removed);
    }
    if let Some(p) = &s.pending_run {
        return Ok(Queued::AlreadyPending(p.clone()));
    }
    let run = Run::new(new_id.to_string(), &s, Trigger::Manual, 1, None, now);
    s.pending_run = Some(run.id.clone());
    tx.put_run(&run)?;
    tx.put_schedule(&s)?;
    Ok(Queued::New(run.id))
}

/// Writes the audit entry of an action.
fn put_audit<T: Txn>(
    tx: &T,
    audit: &Audit,
    action: AuditAction,
    schedule_id: Option<&str>,
    run_id: Option<&str>,
) -> Result<(), T::Error> {
    tx.put_audit(&AuditEntry {
        id: audit.id.clone(),
        time: audit.time,
        actor: audit.actor.clone(),
        action,
        schedule_id: schedule_id.map(str::to_string),
        run_id: run_id.map(str::to_string),
        reason: audit.reason.clone(),
    })
}

/// The audit of an action taken with an [`ActorNote`].
fn noted(audit_id: &str, note: &ActorNote) -> Audit {
    Audit {
        id: audit_id.to_string(),
        actor: note.by.clone(),
        reason: Some(note.reason.clone()).filter(|r| !r.is_empty()),
        time: note.at,
    }
}

/// See [`super::Store::pause`]. A paused schedule fires nothing and
/// retries nothing; its queued or running run is left alone (cancel it).
fn pause<T: Txn>(
    tx: &T,
    id: &str,
    note: &ActorNote,
    until: Option<DateTime<Utc>>,
    audit_id: &str,
) -> Result<Option<ScheduleState>, T::Error> {
    let Some(mut s) = tx.schedule(id)? else {
        return Ok(None);
    };
    s.pause = Some(PauseOverride {
        note: note.clone(),
        until,
    });
    if s.status == ScheduleStatus::Active {
        s.status = ScheduleStatus::Paused;
        s.next_run_at = None;
    }
    tx.put_schedule(&s)?;
    put_audit(
        tx,
        &noted(audit_id, note),
        AuditAction::Pause,
        Some(id),
        None,
    )?;
    Ok(Some(s))
}

/// See [`super::Store::resume`].
fn resume<T: Txn>(
    tx: &T,
    id: &str,
    note: &ActorNote,
    audit_id: &str,
) -> Result<Option<ScheduleState>, T::Error> {
    let Some(s) = tx.schedule(id)? else {
        return Ok(None);
    };
    let after = reconcile::resumed(&s, note.at);
    tx.put_schedule(&after)?;
    put_audit(
        tx,
        &noted(audit_id, note),
        AuditAction::Resume,
        Some(id),
        None,
    )?;
    Ok(Some(after))
}

/// See [`super::Store::cancel`]. A cancelled calendar run counts toward
/// `max_runs` (a pending one had not been counted yet) and is not retried.
fn cancel<T: Txn>(
    tx: &T,
    run_id: &str,
    note: &ActorNote,
    audit_id: &str,
) -> Result<Cancelled, T::Error> {
    let Some(mut r) = tx.run(run_id)? else {
        return Ok(Cancelled::NoRun);
    };
    let out = match r.status {
        RunStatus::Pending => {
            r.status = RunStatus::Cancelled;
            r.completed_at = Some(note.at);
            r.error_message = Some(cancel_message(note));
            r.cancel = Some(note.clone());
            tx.put_run(&r)?;
            if let Some(mut s) = tx.schedule(&r.schedule_id)? {
                if s.pending_run.as_deref() == Some(run_id) {
                    s.pending_run = None;
                }
                s.last_run_id = Some(r.id.clone());
                if r.trigger.counts() {
                    s.runs_completed += 1;
                    let is_once = s
                        .spec
                        .pointer("/schedule/once")
                        .is_some_and(|v| !v.is_null());
                    let limit = s.max_runs.is_some_and(|m| s.runs_completed >= m);
                    if (limit || is_once) && s.status == ScheduleStatus::Active {
                        s.status = ScheduleStatus::Completed;
                        s.next_run_at = None;
                    }
                }
                tx.put_schedule(&s)?;
            }
            Cancelled::Now(r)
        }
        RunStatus::Running => {
            if r.cancel.is_none() {
                r.cancel = Some(note.clone());
                tx.put_run(&r)?;
            }
            Cancelled::Requested(r)
        }
        other => return Ok(Cancelled::Ended(other)),
    };
    let schedule_id = match &out {
        Cancelled::Now(r) | Cancelled::Requested(r) => r.schedule_id.clone(),
        _ => String::new(),
    };
    put_audit(
        tx,
        &noted(audit_id, note),
        AuditAction::Cancel,
        Some(&schedule_id),
        Some(run_id),
    )?;
    Ok(out)
}

/// The `error_message` of a cancelled run.
pub(crate) fn cancel_message(note: &ActorNote) -> String {
    if note.reason.is_empty() {
        format!("cancelled by {}", note.by)
    } else {
        format!("cancelled by {}: {}", note.by, note.reason)
    }
}

/// See [`super::Store::begin_run`].
fn begin_run<T: Txn>(
    tx: &T,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ScheduleState, Run)>, T::Error> {
    tx.prefetch_run(run_id)?;
    let Some(r) = tx.run(run_id)? else {
        return Ok(None);
    };
    if r.status != RunStatus::Pending {
        return Ok(None);
    }
    let Some(s) = tx.schedule(&r.schedule_id)? else {
        let mut r = r.clone();
        r.status = RunStatus::Failed;
        r.completed_at = Some(now);
        r.error_message = Some("its schedule no longer exists".into());
        tx.put_run(&r)?;
        return Ok(None);
    };
    let is_once = s
        .spec
        .pointer("/schedule/once")
        .is_some_and(|v| !v.is_null());
    let (s, r) = scheduler::on_start(&s, &r, is_once, now);
    tx.put_schedule(&s)?;
    tx.put_run(&r)?;
    Ok(Some((s, r)))
}

/// A run's work is recorded only while it is `running`: once a new leader
/// has marked it `interrupted` (its daemon lost the lead mid-run), what the
/// old one still reports is refused rather than written over the record.
fn still_running<T: Txn>(r: &Run) -> Result<(), T::Error> {
    if r.status == RunStatus::Running {
        Ok(())
    } else {
        Err(T::abort(&format!(
            "run {} is {} now, no longer running (another daemon took it over); not recorded",
            r.id,
            r.status.as_str()
        )))
    }
}

/// See [`super::Store::add_template`].
fn add_template<T: Txn>(
    tx: &T,
    run_id: &str,
    result: &TemplateResult,
) -> Result<Option<String>, T::Error> {
    let Some(mut r) = tx.run(run_id)? else {
        return Err(T::abort("run vanished"));
    };
    still_running::<T>(&r)?;
    let cancel = r.cancel.as_ref().map(|c| c.by.clone());
    if r.ad_run_ids.contains(&result.ad_run_id) {
        // Recorded already: a retry after a commit whose answer was lost.
        return Ok(cancel);
    }
    r.templates_used.push(result.template.clone());
    r.ad_run_ids.push(result.ad_run_id.clone());
    r.ads.extend(result.ads.iter().cloned());
    tx.put_run(&r)?;
    tx.record_usage(&result.usage)?;
    Ok(cancel)
}

/// See [`super::Store::review`]. A run waits for review while its exports
/// are `awaiting_review` and it has a `review_due`; the call that claims the
/// send clears `review_due`, so a second reviewer cannot send twice.
fn review<T: Txn>(
    tx: &T,
    run_id: &str,
    approve: &[String],
    reject: &[String],
    note: Option<&str>,
    send: bool,
    audit: &Audit,
) -> Result<Reviewed, T::Error> {
    let Some(mut r) = tx.run(run_id)? else {
        return Ok(Reviewed::NoRun);
    };
    if !r.awaiting_review() || r.review_due.is_none() {
        return Ok(Reviewed::NotAwaiting(r));
    }
    let mut bad: Vec<String> = approve
        .iter()
        .chain(reject)
        .filter(|img| !r.ads.iter().any(|a| &a.image == *img))
        .cloned()
        .collect();
    bad.extend(approve.iter().filter(|img| reject.contains(img)).cloned());
    if !bad.is_empty() {
        bad.dedup();
        return Ok(Reviewed::BadImages(bad));
    }
    let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    for ad in &mut r.ads {
        let decision = if approve.contains(&ad.image) {
            Decision::Approved
        } else if reject.contains(&ad.image) {
            Decision::Rejected
        } else {
            continue;
        };
        ad.review = Some(AdReview {
            decision,
            by: audit.actor.clone(),
            at: crate::records::fmt_time(audit.time, tz),
            note: note.map(str::to_string),
        });
    }
    // Ads the generator rejected are never sent: there is nothing to decide.
    let all_decided = r
        .ads
        .iter()
        .all(|a| a.status == "rejected" || a.review.is_some());
    let claims = all_decided || send;
    if claims {
        r.review_due = None;
    }
    tx.put_run(&r)?;
    put_audit(
        tx,
        audit,
        AuditAction::Review,
        Some(&r.schedule_id),
        Some(run_id),
    )?;
    Ok(Reviewed::Recorded {
        run: r,
        send: claims,
    })
}

/// See [`super::Store::expire_review`].
fn expire_review<T: Txn>(
    tx: &T,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Run>, T::Error> {
    let Some(mut r) = tx.run(run_id)? else {
        return Ok(None);
    };
    match r.review_due {
        Some(due) if due <= now && r.awaiting_review() => {}
        _ => return Ok(None),
    }
    r.review_due = None;
    for e in &mut r.exports {
        if e.status == AWAITING_REVIEW {
            e.status = "expired".into();
            e.detail = "nobody reviewed the ads within the review window; nothing was sent".into();
        }
    }
    tx.put_run(&r)?;
    Ok(Some(r))
}

/// See [`super::Store::finish_run`].
fn finish_run<T: Txn>(
    tx: &T,
    run_id: &str,
    end: &RunEnd,
) -> Result<(Run, Option<ScheduleState>), T::Error> {
    tx.prefetch_run(run_id)?;
    let Some(mut r) = tx.run(run_id)? else {
        return Err(T::abort("run vanished"));
    };
    if r.status != RunStatus::Running && r.completed_at == Some(end.now) {
        // Recorded already: a retry after a commit whose answer was lost.
        let s = tx.schedule(&r.schedule_id)?;
        return Ok((r, s));
    }
    still_running::<T>(&r)?;
    r.completed_at = Some(end.now);
    if let Some(note) = &r.cancel {
        r.status = RunStatus::Cancelled;
        r.error_message = Some(cancel_message(note));
    } else if end.interrupted {
        r.status = RunStatus::Interrupted;
        r.error_message = Some("the daemon stopped before every template was done".into());
    } else if r.ads.is_empty() {
        r.status = RunStatus::Failed;
        r.error_message = Some(
            end.error
                .clone()
                .unwrap_or_else(|| "no template produced ads".into()),
        );
    } else {
        r.status = RunStatus::Completed;
        r.error_message = end
            .error
            .clone()
            .map(|e| format!("some templates failed; first: {e}"));
    }
    tx.put_run(&r)?;
    let after = match tx.schedule(&r.schedule_id)? {
        Some(s) => {
            let retries = s
                .spec
                .pointer("/schedule/retries")
                .and_then(Value::as_u64)
                .map_or(end.default_retries, |n| n as u32);
            let after = scheduler::on_finish(&s, &r, retries, end.now);
            tx.put_schedule(&after)?;
            Some(after)
        }
        None => None,
    };
    Ok((r, after))
}

/// See [`super::Store::interrupt`].
fn interrupt<T: Txn>(tx: &T, run_id: &str, now: DateTime<Utc>) -> Result<(), T::Error> {
    if let Some(mut r) = tx.run(run_id)? {
        r.completed_at = Some(now);
        if let Some(note) = &r.cancel {
            // Its cancel was asked for: that is how it ended.
            r.status = RunStatus::Cancelled;
            r.error_message = Some(cancel_message(note));
        } else {
            r.status = RunStatus::Interrupted;
            r.error_message = Some("the daemon stopped while this run was in progress".into());
        }
        tx.put_run(&r)?;
        if let Some(mut s) = tx.schedule(&r.schedule_id)? {
            if s.running_run.as_deref() == Some(run_id) {
                s.running_run = None;
                tx.put_schedule(&s)?;
            }
        }
    }
    Ok(())
}

/// See [`super::Store::clear_stale`].
fn clear_stale<T: Txn>(
    tx: &T,
    schedule_id: &str,
    running: bool,
    pending: bool,
) -> Result<(), T::Error> {
    if let Some(mut s) = tx.schedule(schedule_id)? {
        if running {
            s.running_run = None;
        }
        if pending {
            s.pending_run = None;
        }
        tx.put_schedule(&s)?;
    }
    Ok(())
}
