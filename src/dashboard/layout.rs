//! The frame every dashboard page shares (head, style, navigation) and the
//! small pieces several pages use. Markup comes from maud's `html!`, which
//! escapes every spliced value: nothing here calls an escaper by hand.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::records::{ScheduleState, Trigger};

/// What an empty cell shows.
pub(super) const NONE: &str = "\u{2014}";

const CSS: &str = "
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#0f766e;color:#fff;padding:.7rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}header a{color:#fff;text-decoration:none;font-weight:600}header nav{display:flex;gap:.8rem}header nav a{font-weight:400}
main{padding:1rem;max-width:1200px;margin:auto}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.45rem .6rem;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;font-size:.85rem}.wrap{overflow-x:auto}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;background:#e5e7eb}
.active,.completed,.sent{background:#d1fae5}.paused,.pending,.running{background:#fef3c7}.failed,.interrupted,.refused{background:#fee2e2}.removed,.missed{background:#e5e7eb}
.error{background:#fef2f2;border:1px solid #fecaca;padding:.6rem .8rem;margin:.5rem 0;border-radius:.4rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;margin-bottom:1rem}form.filters select,form.filters input,form.filters button{padding:.35rem .5rem;font-size:.95rem}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.6rem}.gallery figure{margin:0;background:#fff;padding:.4rem;border:1px solid #e5e7eb;border-radius:.4rem}
.gallery img{width:100%;height:auto;display:block}.gallery figcaption{font-size:.8rem;color:#475569;margin-top:.3rem;overflow-wrap:anywhere}.gallery .hook{color:#1f2937;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;padding:.8rem;margin:0}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
pre.log{background:#0f172a;color:#e2e8f0;padding:.8rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap}
.muted{color:#64748b}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.3rem 0 .8rem}button.action{padding:.4rem .8rem;font-size:.95rem;border:1px solid #0f766e;background:#fff;color:#0f766e;border-radius:.35rem;cursor:pointer}button.action:hover{background:#f0fdfa}button.action:disabled{opacity:.5}
.notice{padding:.6rem .8rem;margin:.5rem 0;border-radius:.4rem}.notice.paused{background:#fffbeb;border:1px solid #fcd34d}.notice.ok{background:#ecfdf5;border:1px solid #a7f3d0}.notice.error{background:#fef2f2;border:1px solid #fecaca}
.cancelled{background:#e5e7eb}.awaiting_review{background:#dbeafe}.expired{background:#fee2e2}.approved{background:#d1fae5}.rejected{background:#fee2e2}
.gallery.large{grid-template-columns:repeat(auto-fill,minmax(260px,1fr))}
.lightbox{display:none}.lightbox:target{display:flex;position:fixed;inset:0;background:rgba(15,23,42,.92);z-index:10;align-items:center;justify-content:center;flex-direction:column;padding:1rem}
.lightbox:target img{max-width:96vw;max-height:82vh;width:auto;height:auto}.lightbox p{color:#fff;margin:.6rem 0 0}.lightbox a{color:#fff}fieldset{border:0;padding:.3rem 0 0;margin:0}legend{font-size:.8rem;color:#475569}
@media (max-width:640px){th.opt,td.opt{display:none}main{padding:.5rem}
table.cards thead{display:none}table.cards,table.cards tbody{display:block}
table.cards tr{display:flex;flex-wrap:wrap;gap:.2rem .8rem;padding:.6rem;background:#fff;border-bottom:1px solid #e5e7eb}
table.cards td{border:0;padding:0}table.cards td.status{order:-1;width:100%}}
";

/// A whole page: `title` goes into `<title>`, `body` into `<main>`.
pub(super) fn page(title: &str, body: Markup) -> Html<String> {
    page_live(title, None, body)
}

/// A page that follows a run in progress: `live` is the run's API URL,
/// which the page polls until the run ends (see `actions::SCRIPT`).
pub(super) fn page_live(title: &str, live: Option<&str>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width,initial-scale=1";
                    title { (title) " · adsched" }
                    // The style sheet is a constant of ours, not user text.
                    style { (PreEscaped(CSS)) }
                }
                body {
                    header {
                        a href="/" { "adsched" }
                        nav aria-label="pages" {
                            a href="/" { "Schedules" }
                            a href="/runs" { "Runs" }
                            a href="/week" { "Week" }
                            a href="/audit" { "Audit" }
                            a href="/new" { "New schedule" }
                        }
                    }
                    main data-live=[live] { (body) }
                    (super::actions::script())
                }
            }
        }
        .into_string(),
    )
}

/// A time as people read it, in `tz`: "Mon 7 Dec, 09:00 PST (in 4 days)",
/// with the exact RFC 3339 time (as the API gives it) on hover and in
/// `datetime`. One format for every page.
pub(super) fn human_time(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> Markup {
    let exact = crate::records::fmt_time(t, tz);
    let local = t.with_timezone(&tz).format("%a %-d %b %Y, %H:%M %Z");
    // The year only when it is not this one.
    let shown = if t.with_timezone(&tz).year() == now.with_timezone(&tz).year() {
        t.with_timezone(&tz)
            .format("%a %-d %b, %H:%M %Z")
            .to_string()
    } else {
        local.to_string()
    };
    html! {
        time datetime=(exact) title=(exact) { (shown) " " span.muted { "(" (relative(t - now)) ")" } }
    }
}

/// "in 4 days", "3 hours ago", "now".
pub(super) fn relative(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let abs = secs.unsigned_abs();
    let (n, unit) = match abs {
        0..=59 => return "now".into(),
        60..=3599 => (abs / 60, "minute"),
        3600..=172_799 => (abs / 3600, "hour"),
        _ => (abs / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if secs > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// A status as a coloured pill; the status is also its CSS class.
pub(super) fn badge(status: &str) -> Markup {
    html! { span.badge.(status) { (status) } }
}

/// A page with a message and a way back, under an error status.
pub(super) fn message(status: StatusCode, title: &str, text: &str, back: (&str, &str)) -> Response {
    let body = html! {
        h1 { (title) }
        p { (text) }
        p { a href=(back.0) { (back.1) } }
    };
    (status, page(title, body)).into_response()
}

pub(super) fn not_found(what: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        what,
        ("/", "All schedules"),
    )
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    let body = html! {
        h1 { "Error" }
        p { (e) }
    };
    (StatusCode::INTERNAL_SERVER_ERROR, page("Error", body)).into_response()
}

/// Filter choices: (value, label) pairs.
pub(super) type Choices = Vec<(String, String)>;

/// Names as filter choices, each its own label.
pub(super) fn choices(names: &[&str]) -> Choices {
    names
        .iter()
        .map(|n| (n.to_string(), n.to_string()))
        .collect()
}

/// The brands and the products of these schedules, as filter choices
/// (id, name), each once, by id.
pub(super) fn brand_and_product_choices(all: &[ScheduleState]) -> (Choices, Choices) {
    let choices = |f: fn(&ScheduleState) -> &crate::records::NamedRef| {
        let mut v: Choices = all
            .iter()
            .map(|s| (f(s).id.clone(), f(s).name.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    (choices(|s| &s.brand), choices(|s| &s.product))
}

/// A filter `<select>` named `name` whose first, empty choice reads `all`;
/// `selected` keeps the current choice after the form is sent.
pub(super) fn options(
    name: &str,
    all: &str,
    values: &[(String, String)],
    selected: Option<&str>,
) -> Markup {
    html! {
        select name=(name) aria-label=(name) {
            option value="" { (all) }
            @for (v, label) in values {
                option value=(v) selected[selected == Some(v.as_str())] { (label) }
            }
        }
    }
}

/// A trigger as the API names it.
pub(super) fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Schedule => "schedule",
        Trigger::Catchup => "catchup",
        Trigger::Manual => "manual",
        Trigger::Retry => "retry",
    }
}

#[cfg(test)]
mod tests {
    use axum::response::Html;

    use super::{badge, options, page};

    #[test]
    fn times_read_as_people_say_them_with_the_exact_time_on_hover() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
        let shown = super::human_time(t("2026-12-07T17:00:00Z"), la, t("2026-12-03T12:00:00Z"))
            .into_string();
        assert_eq!(
            shown,
            "<time datetime=\"2026-12-07T09:00:00-08:00\" title=\"2026-12-07T09:00:00-08:00\">\
             Mon 7 Dec, 09:00 PST <span class=\"muted\">(in 4 days)</span></time>"
        );
        assert_eq!(
            super::relative(chrono::Duration::minutes(-90)),
            "1 hour ago"
        );
        assert_eq!(super::relative(chrono::Duration::seconds(30)), "now");
        assert_eq!(super::relative(chrono::Duration::hours(30)), "in 30 hours");
        let next_year = super::human_time(t("2027-07-05T16:00:00Z"), la, t("2026-12-03T12:00:00Z"))
            .into_string();
        assert!(
            next_year.contains("Mon 5 Jul 2027, 09:00 PDT"),
            "{next_year}"
        );
    }

    #[test]
    fn spliced_text_is_escaped_in_content_and_attributes() {
        let values = [("a\"b&".to_string(), "<script>x</script>".to_string())];
        assert_eq!(
            options("brand", "all brands", &values, Some("a\"b&")).into_string(),
            "<select name=\"brand\" aria-label=\"brand\"><option value=\"\">all brands</option>\
             <option value=\"a&quot;b&amp;\" selected>&lt;script&gt;x&lt;/script&gt;</option></select>"
        );
        assert_eq!(
            badge("x\" onclick=\"y").into_string(),
            "<span class=\"badge x&quot; onclick=&quot;y\">x&quot; onclick=&quot;y</span>"
        );
        let Html(doc) = page("<T>", maud::html! {});
        assert!(doc.contains("<title>&lt;T&gt; · adsched</title>"), "{doc}");
    }
}
