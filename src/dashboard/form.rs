//! The schedule form (SPEC 9): `GET /new` and `GET /schedules/{id}/edit`.
//! The page writes YAML as the fields change and asks `POST
//! /api/v1/validate` and `/api/v1/preview` about it; the daemon never
//! writes the schedules folder, so the result leaves as a download or a
//! GitHub link. The script is `form.js`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use serde_json::{json, Value};

use super::layout::{internal, not_found, page};
use crate::daemon::Ctx;
use crate::spec::{self, Pool};

const SCRIPT: &str = include_str!("form.js");

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The form's own style: two columns on a laptop, one on a phone.
const CSS: &str = "
.editor [hidden]{display:none!important}
.editor{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1rem;align-items:start}
.editor fieldset{background:#fff;border:1px solid #e5e7eb;border-radius:.4rem;padding:.6rem .8rem;margin:0 0 .8rem}
.editor legend{font-size:1rem;font-weight:600;color:#1f2937;padding:0 .3rem}
.editor label{display:block;margin:.35rem 0;font-size:.9rem}.editor label.inline{display:inline-block;margin-right:.8rem}
.editor input[type=text],.editor input[type=number],.editor input[type=date],.editor input[type=time],.editor select,.editor textarea{display:block;width:100%;padding:.35rem .45rem;font-size:.95rem;border:1px solid #94a3b8;border-radius:.3rem;background:#fff}
.editor .hint{font-size:.8rem;color:#475569;margin:.1rem 0 .3rem}
.editor aside{position:sticky;top:.5rem}
.pool{display:grid;grid-template-columns:repeat(auto-fill,minmax(110px,1fr));gap:.4rem}.pool label{border:1px solid #e5e7eb;border-radius:.3rem;padding:.25rem;margin:0;font-size:.75rem;word-break:break-all}
.pool img{width:100%;height:auto;display:block}
pre.yaml{background:#0f172a;color:#e2e8f0;padding:.6rem 0;overflow-x:auto;font-size:.8rem;margin:0;counter-reset:l}
pre.yaml span{display:block;padding:0 .6rem}pre.yaml span::before{counter-increment:l;content:counter(l);display:inline-block;width:2.2em;color:#94a3b8;text-align:right;margin-right:.8em}
pre.yaml span.bad{background:#7f1d1d}pre.yaml span.warn{background:#713f12}
ul.findings{padding-left:1.1rem}ul.findings li.error{color:#991b1b}ul.findings li.warning{color:#92400e}
a.button{display:inline-block;padding:.4rem .8rem;border:1px solid #0f766e;border-radius:.35rem;color:#0f766e;text-decoration:none;background:#fff}
@media (max-width:800px){.editor{grid-template-columns:minmax(0,1fr)}.editor aside{position:static}}
";

/// `GET /new`: an empty form.
pub async fn new_schedule(State(ctx): State<Arc<Ctx>>) -> Response {
    match form(&ctx, None).await {
        Ok(body) => page("New schedule", body).into_response(),
        Err(r) => r,
    }
}

/// `GET /schedules/{id}/edit`: the form, filled from the document in force.
pub async fn edit_schedule(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    let s = match ctx.store.schedule(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&format!("No schedule with id `{id}`.")),
        Err(e) => return internal(e),
    };
    let title = format!("Edit {}", s.name);
    match form(&ctx, Some(&s)).await {
        Ok(body) => page(&title, body).into_response(),
        Err(r) => r,
    }
}

/// The schedule's file relative to the schedules folder, from the path the
/// daemon shows for it.
fn relative_file(ctx: &Ctx, file: &str) -> String {
    let root = spec::display_path(&ctx.config.schedules);
    file.strip_prefix(&format!("{}/", root.trim_end_matches('/')))
        .unwrap_or(file)
        .to_string()
}

async fn form(
    ctx: &Arc<Ctx>,
    editing: Option<&crate::records::ScheduleState>,
) -> Result<Markup, Response> {
    let pool = {
        let dir = ctx.config.templates.clone();
        tokio::task::spawn_blocking(move || Pool::scan(&dir))
            .await
            .map_err(internal)?
    };
    // Products grouped by brand, each with how many pool templates it has not used.
    let products = ctx.products();
    let mut brands: BTreeMap<(String, String), Vec<&spec::Product>> = BTreeMap::new();
    let mut product_data = serde_json::Map::new();
    for p in products.iter() {
        let used: HashSet<String> = ctx
            .store
            .used_templates(&p.id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|u| u.template)
            .collect();
        let unused = pool.names.iter().filter(|n| !used.contains(*n)).count();
        product_data.insert(
            p.id.clone(),
            json!({"name": p.name, "brand": p.brand.id, "unused": unused}),
        );
        brands
            .entry((p.brand.name.clone(), p.brand.id.clone()))
            .or_default()
            .push(p);
    }
    let folder = ctx
        .config
        .schedules
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (file, file_text) = match editing {
        Some(s) => {
            let rel = relative_file(ctx, &s.source.file);
            let text = tokio::fs::read_to_string(ctx.config.schedules.join(&rel))
                .await
                .ok()
                .filter(|t| t.len() as u64 <= spec::MAX_FILE_SIZE);
            (Some(rel), text)
        }
        None => (None, None),
    };
    let in_repo = |rel: &str| {
        if folder.is_empty() {
            rel.to_string()
        } else {
            format!("{folder}/{rel}")
        }
    };
    let data = json!({
        "folder": folder,
        "repo": ctx.config.repo.as_ref().map(|r| json!({"url": r.url(), "branch": r.branch()})),
        "products": product_data,
        "pool": pool.names.len(),
        "spec": editing.map(|s| s.spec.clone()).unwrap_or(Value::Null),
        "file": file.as_deref().map(in_repo),
        "file_text": file_text,
        "file_line": editing.map(|s| s.source.line),
    });
    // JSON inside <script>: only `</` could end the element early.
    let data = serde_json::to_string(&data)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    let github_file = match (&ctx.config.repo, &file) {
        (Some(repo), Some(rel)) => Some(repo.blob(&in_repo(rel))),
        _ => None,
    };
    Ok(html! {
        style { (PreEscaped(CSS)) }
        @match editing {
            Some(s) => h1 { "Edit " (s.name) },
            None => h1 { "New schedule" },
        }
        p.muted {
            "Schedules change by pull request: this form writes the file and checks it as CI does; "
            "download it or propose it on GitHub, and it takes effect once merged."
        }
        @if let (Some(s), Some(rel)) = (editing, &file) {
            p {
                "Editing " code { (in_repo(rel)) } " (document at line " (s.source.line) "). "
                @if let Some(url) = &github_file {
                    a #github-file href=(url) { "View the file on GitHub" }
                }
            }
        }
        noscript {
            div.error { "This form needs JavaScript. Without it, copy an example from the repository's schedules folder and run `adsched validate`." }
        }
        div.editor {
            form #schedule-form novalidate autocomplete="off" {
                (fields_schedule(&brands))
                (fields_when())
                (fields_templates(&pool))
                (fields_parameters())
                (fields_export())
                (fields_alerts())
                fieldset {
                    legend { "File" }
                    label {
                        "Path in the repository"
                        input type="text" name="path" placeholder={ (folder) "/brand/schedule-id.yaml" };
                    }
                    p.hint { "Inside the schedules folder; the name usually is the schedule's id." }
                }
            }
            aside #result {
                h2 { "Check" }
                div #findings role="status" aria-live="polite" { p.muted { "Fill in the form." } }
                h2 { "When it fires" }
                p #description.muted { "—" }
                ol #times {}
                h2 { "The file" }
                div.actions {
                    a.button #download href="#" download="schedule.yaml" { "Download" }
                    @if ctx.config.repo.is_some() {
                        a.button #propose href="#" target="_blank" rel="noopener" { "Propose on GitHub" }
                    }
                    button.action #copy type="button" { "Copy YAML" }
                }
                p #propose-hint.hint {}
                pre.yaml #yaml tabindex="0" aria-label="the YAML file" {}
            }
        }
        script type="application/json" #form-data { (PreEscaped(data)) }
        script { (PreEscaped(SCRIPT)) }
    })
}

fn fields_schedule(brands: &BTreeMap<(String, String), Vec<&spec::Product>>) -> Markup {
    html! {
        fieldset {
            legend { "Schedule" }
            label { "Product"
                select name="product" {
                    option value="" { "Choose a product" }
                    @for ((brand, _), products) in brands {
                        optgroup label=(brand) {
                            @for p in products {
                                option value=(p.id) { (p.name) " (" (p.id) ")" }
                            }
                        }
                    }
                }
            }
            label { "Id"
                input type="text" name="id" placeholder="acme-collagen-weekly" pattern="[a-z0-9][a-z0-9-]{0,62}";
            }
            p.hint { "Lowercase letters, digits and -; the run history follows it." }
            label { "Name" input type="text" name="name" placeholder="Collagen weekly refresh"; }
            label { "Tenant UUID (optional)" input type="text" name="tenant_id"; }
            label.inline { input type="checkbox" name="paused"; " Paused" }
        }
    }
}

fn fields_when() -> Markup {
    html! {
        fieldset {
            legend { "When" }
            label { "Repeat"
                select name="preset" {
                    option value="daily" { "Every day" }
                    option value="weekly" selected { "Every week on a day" }
                    option value="monthly" { "Every month on a day" }
                    option value="once" { "Once, at a date and time" }
                    option value="cron" { "A cron expression" }
                }
            }
            label data-show="preset=weekly" { "Day"
                select name="weekday" {
                    @for d in WEEKDAYS { option value=(d) { (capitalized(d)) } }
                }
            }
            label data-show="preset=monthly" { "Day of the month (1 to 28)"
                input type="number" name="monthday" min="1" max="28" value="1";
            }
            label data-show="preset=once" { "Date" input type="date" name="once_date"; }
            label data-show="preset=daily,weekly,monthly,once" { "Time (24 h)"
                input type="time" name="at" value="09:00";
            }
            label data-show="preset=cron" { "Cron (minute hour day month weekday)"
                input type="text" name="cron" placeholder="0 9 * * 1";
            }
            label { "Time zone"
                input type="text" name="timezone" value="America/Los_Angeles" list="zones";
            }
            datalist #zones {
                @for tz in chrono_tz::TZ_VARIANTS { option value=(tz.name()) {} }
            }
            label { "Stop after this many runs (empty: never)"
                input type="number" name="max_runs" min="1";
            }
            label { "Catch up a missed time for (default 1h)"
                input type="text" name="catchup_window" placeholder="1h";
            }
            label { "Retries of a failed run, 0 to 5 (default 2)"
                input type="number" name="retries" min="0" max="5" placeholder="2";
            }
            label { "Time limit of one generator call (default 30m)"
                input type="text" name="timeout" placeholder="30m";
            }
        }
    }
}

fn fields_templates(pool: &Pool) -> Markup {
    html! {
        fieldset {
            legend { "Templates" }
            label.inline { input type="radio" name="mode" value="unused" checked; " Not yet used for the product" }
            label.inline { input type="radio" name="mode" value="specific"; " Chosen from the pool" }
            label.inline { input type="radio" name="mode" value="uploaded"; " Files beside the schedule" }
            div data-show="mode=unused" {
                label { "Templates per run (1 to 100)"
                    input type="number" name="count" min="1" max="100" value="10";
                }
                p.hint #unused-note {}
            }
            div data-show="mode=specific" {
                p.hint { "Pick templates of the pool (" (pool.names.len()) ")." }
                div.pool {
                    @for name in &pool.names {
                        label {
                            input type="checkbox" name="ids" value=(name);
                            img src={ "/templates/" (super::repo::segments(name)) } alt="" loading="lazy";
                            (name)
                        }
                    }
                }
            }
            div data-show="mode=uploaded" {
                label { "Image files, one per line, relative to the schedule's file"
                    textarea name="files" rows="3" placeholder="assets/hero.png" {}
                }
                p.hint { "Commit the images in the same pull request." }
            }
        }
    }
}

fn fields_parameters() -> Markup {
    html! {
        fieldset {
            legend { "Ads" }
            label { "Variations per template (1 to 15)"
                input type="number" name="num_variations" min="1" max="15" value="5";
            }
            label { "Copy"
                select name="content_source" {
                    option value="hooks" { "The product's hooks" }
                    option value="recreate_template" { "Recreate the template's text" }
                }
            }
            label { "Colours"
                select name="color_mode" {
                    option value="original" { "The template's" }
                    option value="brand" { "The brand's" }
                }
            }
            label { "Image selection"
                select name="image_selection_mode" {
                    option value="auto" { "Automatic" }
                    option value="manual" { "Manual" }
                }
            }
        }
    }
}

fn fields_export() -> Markup {
    html! {
        fieldset {
            legend { "Send the ads" }
            label { "Destination"
                select name="destination" {
                    option value="none" { "Nowhere (keep them here)" }
                    option value="slack" { "Slack" }
                    option value="email" { "Email" }
                    option value="email_and_slack" { "Email and Slack" }
                }
            }
            div data-show="destination=email,email_and_slack" {
                label { "Email to (commas between addresses)"
                    input type="text" name="email_to" placeholder="marketing@acme.example";
                }
            }
            div data-show="destination=slack,email_and_slack" {
                label { "Slack by"
                    select name="slack_kind" {
                        option value="channel" { "The bot, to a channel ID" }
                        option value="webhook_env" { "An incoming webhook named in the environment" }
                    }
                }
                label data-show="slack_kind=channel" { "Channel ID"
                    input type="text" name="slack_channel" placeholder="C0123ABCD9";
                }
                label data-show="slack_kind=webhook_env" { "Variable holding the webhook URL"
                    input type="text" name="slack_webhook_env" placeholder="ACME_SLACK_WEBHOOK";
                }
            }
            div data-show="destination=email,slack,email_and_slack" {
                label { "Review"
                    select name="review" {
                        option value="none" { "None: send when the run ends" }
                        option value="required" { "Required: a person approves each ad" }
                    }
                }
                label data-show="review=required" { "Review window (default 72h)"
                    input type="text" name="review_window" placeholder="72h";
                }
            }
        }
    }
}

fn fields_alerts() -> Markup {
    html! {
        fieldset {
            legend { "Alerts" }
            label.inline { input type="checkbox" name="alerts"; " Alert on problems (else the daemon's default)" }
            div data-show="alerts=on" {
                p.hint { "On:" }
                @for (v, label) in [("failed", "failed"), ("missed", "missed"), ("export_failed", "export failed"), ("interrupted", "interrupted")] {
                    label.inline { input type="checkbox" name="alerts_on" value=(v) checked; " " (label) }
                }
                label { "Slack channel ID"
                    input type="text" name="alerts_slack_channel" placeholder="C0123ABCD9";
                }
                label { "Email to (commas between addresses)"
                    input type="text" name="alerts_email_to";
                }
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
