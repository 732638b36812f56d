//! The operators' buttons (SPEC 8) and the audit page. The buttons post to
//! the JSON API with a small script, which asks for a token when the
//! daemon answers 401 and keeps it for the browser tab; without
//! JavaScript the pages still read, and the CLI acts.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::layout::{internal, page, NONE};
use crate::daemon::Ctx;
use crate::records::{fmt_time, Run, RunStatus, ScheduleState, ScheduleStatus};

/// The script behind every `button[data-post]`: POST the URL (with a
/// reason when `data-ask` asks for one), retry once with a token on 401,
/// say what happened in `#action-result`, and reload on success.
pub(super) const SCRIPT: &str = r#"
async function act(url, body, done, button) {
  window.adschedActing = true;
  const out = document.getElementById('action-result');
  const say = (text, ok) => { out.textContent = text; out.className = ok ? 'notice ok' : 'notice error'; };
  const send = (token) => fetch(url, {
    method: 'POST',
    headers: Object.assign({'Content-Type': 'application/json'}, token ? {'Authorization': 'Bearer ' + token} : {}),
    body: JSON.stringify(body),
  });
  button.disabled = true;
  try {
    let token = sessionStorage.getItem('adsched-token');
    let resp = await send(token);
    if (resp.status === 401) {
      token = prompt('This action needs one of the daemon\'s API tokens (ADSCHED_API_TOKENS). Token:', '');
      if (token === null) { button.disabled = false; window.adschedActing = false; say('Not done: no token given.', false); return; }
      resp = await send(token);
      if (resp.ok) sessionStorage.setItem('adsched-token', token);
    }
    const data = await resp.json().catch(() => ({}));
    if (resp.ok) {
      say(done || 'Done.', true);
      setTimeout(() => location.reload(), 700);
    } else {
      say(data.error || ('The daemon answered ' + resp.status + '.'), false);
      button.disabled = false;
      window.adschedActing = false;
    }
  } catch (e) {
    say('The daemon did not answer: ' + e, false);
    button.disabled = false;
    window.adschedActing = false;
  }
}
// A page about a run in progress (`data-live` on <main>) follows it: a
// light poll of the API, and a reload only when the run's status, exports
// or ads change; it stops when the run ends.
(function follow() {
  const main = document.querySelector('main[data-live]');
  if (!main) return;
  const url = main.dataset.live;
  const key = (r) => r.status + '|' + r.exports.map((e) => e.status).join(',') + '|' + r.ads.length;
  let last = null;
  const poll = async () => {
    try {
      const r = await (await fetch(url)).json();
      // A button's own reload comes first: never two at once.
      if (last !== null && key(r) !== last && !window.adschedActing) { location.reload(); return; }
      last = key(r);
      if (r.status === 'pending' || r.status === 'running') setTimeout(poll, 2000);
    } catch (e) { setTimeout(poll, 5000); }
  };
  poll();
})();
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-post]');
  if (!b) return;
  ev.preventDefault();
  const body = {};
  if (b.dataset.ask) {
    const reason = prompt(b.dataset.ask, '');
    if (reason === null) return;
    body.reason = reason;
  }
  act(b.dataset.post, body, b.dataset.done, b);
});
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-review]');
  if (!b) return;
  ev.preventDefault();
  const form = b.closest('form');
  const body = {approve: [], reject: [], send: b.dataset.send === 'true'};
  for (const input of form.querySelectorAll('input[type=radio]:checked')) {
    if (input.value === 'approve') body.approve.push(input.name);
    if (input.value === 'reject') body.reject.push(input.name);
  }
  const note = form.querySelector('input[name=note]');
  if (note && note.value.trim()) body.note = note.value.trim();
  act(b.dataset.review, body, b.dataset.done, b);
});
"#;

/// A button that posts to `url`; `ask` prompts for a reason first.
fn button(label: &str, url: &str, done: &str, ask: Option<&str>) -> Markup {
    html! {
        button.action type="button" data-post=(url) data-done=(done) data-ask=[ask] { (label) }
    }
}

/// Where the outcome of a button is said (read by screen readers as it changes).
fn result_area() -> Markup {
    html! { p #action-result role="status" aria-live="polite" {} }
}

/// A schedule's buttons: Run now, Pause or Resume.
pub(super) fn schedule_buttons(s: &ScheduleState) -> Markup {
    let id = &s.id;
    html! {
        div.actions {
            @if s.status != ScheduleStatus::Removed {
                (button("Run now", &format!("/api/v1/schedules/{id}/trigger"), "Queued: the run starts when the worker is free.", None))
            }
            @if s.pause.is_some() {
                (button("Resume", &format!("/api/v1/schedules/{id}/resume"), "Resumed.", None))
            } @else if s.status != ScheduleStatus::Removed {
                (button("Pause", &format!("/api/v1/schedules/{id}/pause"), "Paused.", Some("Why pause this schedule? (shown on the dashboard and kept in the audit log)")))
            }
        }
        (result_area())
    }
}

/// Who paused a schedule, why, since when, until when, and whether its
/// file says otherwise.
pub(super) fn override_notice(s: &ScheduleState) -> Markup {
    let file_paused = s.spec.get("paused").and_then(serde_json::Value::as_bool) == Some(true);
    html! {
        @if let Some(p) = &s.pause {
            div.notice.paused #override {
                b { "Paused by " (p.note.by) } " since " (fmt_time(p.note.at, s.tz()))
                @if !p.note.reason.is_empty() { ": " (p.note.reason) }
                @if let Some(u) = p.until { " — until " (fmt_time(u, s.tz())) }
                @if file_paused {
                    br; "Its file also says " code { "paused: true" } ", which keeps it paused after a resume."
                } @else {
                    br; "Its file says it should run; this pause holds until someone resumes it."
                }
            }
        }
    }
}

/// A run's buttons: Cancel while it is pending or running, Export again
/// once it has ended with ads to send.
pub(super) fn run_buttons(r: &Run) -> Markup {
    let id = &r.id;
    let open = matches!(r.status, RunStatus::Pending | RunStatus::Running);
    // While its ads wait for review, the review sends them.
    let exportable = !open && !r.awaiting_review() && r.ads.iter().any(|a| a.status != "rejected");
    html! {
        @if open || exportable {
            div.actions {
                @if open {
                    (button("Cancel", &format!("/api/v1/runs/{id}/cancel"), "Cancelled (a running run stops after its current template).", Some("Why cancel this run?")))
                }
                @if exportable {
                    (button("Export again", &format!("/api/v1/runs/{id}/export"), "Exporting again: the result shows under Exports.", None))
                }
            }
            (result_area())
        }
    }
}

/// The review form of a run whose ads wait for review (SPEC 11): each ad
/// large, with its template, hook and a choice; a note; save or send.
pub(super) fn review_form(
    r: &Run,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let id = &r.id;
    let url = format!("/api/v1/runs/{id}/review");
    html! {
        @if let (true, Some(due)) = (r.awaiting_review(), r.review_due) {
            section #review aria-labelledby="review-title" {
                h2 #review-title { "Review before export" }
                p {
                    "These ads wait for a person until " (super::layout::human_time(due, tz, now))
                    ". Approve or reject each one: once every ad is decided, the approved ones are sent; "
                    "\u{201c}Send approved now\u{201d} sends them without waiting for the rest."
                }
                form.review {
                    div.gallery.large {
                        @for (i, a) in r.ads.iter().enumerate().filter(|(_, a)| a.status != "rejected") {
                            figure.ad {
                                a href=(a.image) { img src=(a.image) alt={ "ad " (i + 1) " from " (a.template) } loading="lazy"; }
                                figcaption {
                                    @if let Some(t) = &a.text { span.hook { "\u{201c}" (t) "\u{201d}" } br; }
                                    (a.template)
                                    @if let Some(rv) = &a.review {
                                        " " (super::layout::badge(match rv.decision { crate::records::Decision::Approved => "approved", crate::records::Decision::Rejected => "rejected" }))
                                        " by " (rv.by)
                                    }
                                }
                                fieldset {
                                    legend { "Ad " (i + 1) }
                                    label { input type="radio" name=(a.image) value="approve" checked[a.review.as_ref().is_some_and(|v| v.decision == crate::records::Decision::Approved)]; " Approve" }
                                    " "
                                    label { input type="radio" name=(a.image) value="reject" checked[a.review.as_ref().is_some_and(|v| v.decision == crate::records::Decision::Rejected)]; " Reject" }
                                }
                            }
                        }
                    }
                    p {
                        label { "Note " input type="text" name="note" maxlength="500" size="40"; }
                    }
                    div.actions {
                        button.action type="button" data-review=(url) data-send="false" data-done="Decisions saved." { "Save decisions" }
                        button.action type="button" data-review=(url) data-send="true" data-done="Sending the approved ads." { "Send approved now" }
                    }
                }
                (result_area())
            }
        }
    }
}

/// The runs whose ads wait for review, for the first page.
pub(super) fn to_review(
    runs: &[Run],
    names: &std::collections::HashMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
        @if !runs.is_empty() {
            section #to-review aria-labelledby="to-review-title" {
                h2 #to-review-title { "To review (" (runs.len()) ")" }
                ul {
                    @for r in runs {
                        @let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
                        li {
                            a href={ "/runs/" (r.id) "#review" } {
                                (names.get(&r.schedule_id).map_or(r.schedule_id.as_str(), String::as_str))
                                ": " (r.ads.iter().filter(|a| a.status != "rejected").count()) " ads"
                            }
                            @if let Some(due) = r.review_due {
                                " — until " (super::layout::human_time(due, tz, now))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Query of the audit page.
#[derive(Deserialize)]
pub struct AuditFilter {
    schedule: Option<String>,
}

/// `/audit`: who did what, newest first.
pub async fn audit(State(ctx): State<Arc<Ctx>>, Query(f): Query<AuditFilter>) -> Response {
    let entries = match crate::service::audit(&ctx.store, f.schedule.as_deref(), Some("200")).await
    {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    let body = html! {
        h1 { "Audit log" }
        p.muted {
            "Every trigger, pause, resume, cancel and export made without a commit, newest first."
            @if let Some(s) = f.schedule.as_deref().filter(|s| !s.is_empty()) {
                " Schedule " a href={ "/schedules/" (s) } { (s) } " only; " a href="/audit" { "all" } "."
            }
        }
        @if entries.is_empty() {
            p.muted { "Nothing yet." }
        } @else {
            div.wrap { table {
                thead { tr {
                    th { "Time (UTC)" } th { "Who" } th { "Action" } th { "Schedule" } th.opt { "Run" } th { "Reason" }
                } }
                tbody {
                    @for e in &entries {
                        tr.audit {
                            td { (e.time) }
                            td { (e.actor) }
                            td { (e.action.as_str()) }
                            td {
                                @match &e.schedule_id {
                                    Some(s) => a href={ "/schedules/" (s) } { (s) },
                                    None => (NONE),
                                }
                            }
                            td.opt {
                                @match &e.run_id {
                                    Some(r) => a href={ "/runs/" (r) } { (r) },
                                    None => (NONE),
                                }
                            }
                            td { (e.reason.as_deref().unwrap_or(NONE)) }
                        }
                    }
                }
            } }
        }
    };
    page("Audit log", body).into_response()
}

/// The script, spliced once into every page.
pub(super) fn script() -> Markup {
    // A constant of ours, not user text.
    html! { script { (PreEscaped(SCRIPT)) } }
}
