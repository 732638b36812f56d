//! The real daemon on the bundled examples with the default local generator:
//! a schedule due in a few seconds fires on time and leaves real PNGs.

mod common;

use std::path::Path;

use chrono::Utc;
use common::{wait_for, Bin, Project};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn bundled_examples_and_a_schedule_due_now_make_real_ads() {
    let p = Project::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::remove_dir_all(p.path("schedules")).unwrap();
    std::fs::remove_dir_all(p.path("templates")).unwrap();
    copy_dir(&repo.join("schedules"), &p.path("schedules"));
    copy_dir(&repo.join("templates"), &p.path("templates"));
    let due = Utc::now() + chrono::Duration::seconds(4);
    let at = due.format("%Y-%m-%dT%H:%M:%S").to_string();
    p.write(
        "schedules/due-now.yaml",
        &format!(
            "apiVersion: adsched/v1
kind: Schedule
id: due-now
name: Due now
product: collagen-peptides
schedule:
  once: {{ at: \"{at}\" }}
  timezone: UTC
templates:
  mode: unused
  count: 2
parameters:
  num_variations: 3
  color_mode: brand
"
        ),
    );
    let bin = Bin::start(&p, "local", &[]);
    let list = bin.get("/api/v1/schedules").unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        6,
        "five examples and ours: {list}"
    );
    let run = wait_for(20, "the due run", || {
        let runs = bin.get("/api/v1/schedules/due-now/runs")?;
        runs.as_array()?
            .first()
            .filter(|r| r["status"] == "completed")
            .cloned()
    });
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(
        run["scheduled_for"],
        due.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        "{run}"
    );
    let started =
        chrono::DateTime::parse_from_rfc3339(run["started_at"].as_str().unwrap()).unwrap();
    let late = started.with_timezone(&Utc) - due.with_timezone(&Utc);
    assert!(
        late < chrono::Duration::milliseconds(1500),
        "fired {late} late"
    );
    assert_eq!(run["templates_used"].as_array().unwrap().len(), 2);
    let ads = run["ads"].as_array().unwrap();
    assert_eq!(ads.len(), 6, "3 variations of 2 templates");
    for ad in ads {
        let url = ad["image"].as_str().unwrap();
        assert!(url.starts_with("/ads/"), "{url}");
        let file = p.path("state").join(url.trim_start_matches('/'));
        let img = image::open(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // A real placement size, whatever the template's.
        assert_eq!((img.width(), img.height()), (1080, 1080));
        // The dashboard serves it.
        let (status, _) = common::http("GET", bin.port, url).unwrap();
        assert_eq!(status, 200);
    }
    // The once schedule is done, and its usage recorded: the next unused run skips these templates.
    let s = bin.get("/api/v1/schedules/due-now").unwrap();
    assert_eq!(s["status"], "completed");
    assert_eq!(s["runs_completed"], 1);
    let logs = bin
        .get(&format!(
            "/api/v1/runs/{}/logs",
            run["id"].as_str().unwrap()
        ))
        .unwrap();
    let text: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(
        text.iter().any(|m| m.contains("picked 2 templates")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|m| m.contains("calling local")),
        "{text:#?}"
    );
    let weekly = bin.get("/api/v1/schedules/acme-collagen-weekly").unwrap();
    assert_eq!(
        weekly["description"],
        "every Monday at 09:00 (America/Los_Angeles)"
    );
}
