//! History retention (SPEC 10) on the real binary, on both stores: with
//! `--retain 3s`, runs that ended more than 3 s ago go with their log lines
//! and image files; the latest run of the schedule stays; template usage
//! stays (the next run still picks templates never used).

mod common;

use common::{http, pg, schedule, wait_for, Bin, Project};
use serde_json::Value;

fn run_once(bin: &Bin) -> Value {
    let (status, body) = http("POST", bin.port, "/api/v1/schedules/kept/trigger").unwrap();
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(30, "the run to complete", || {
        let r = bin.get(&format!("/api/v1/runs/{id}"))?;
        (r["status"] == "completed").then_some(r)
    })
}

fn old_runs_go_the_latest_and_usage_stay(store: Option<String>) {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("kept", "  daily: { at: \"09:00\" }", 1),
    );
    let gen = format!("cmd:{}", p.path("gen-ok.sh").display());
    let mut env = vec![("ADSCHED_RETAIN", "3s".to_string())];
    if let Some(url) = &store {
        env.push(("ADSCHED_STORE", url.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bin = Bin::start(&p, &gen, &env);
    let runs: Vec<Value> = (0..3).map(|_| run_once(&bin)).collect();
    let dir = |r: &Value| p.path("state/ads").join(r["id"].as_str().unwrap());
    assert!(
        runs.iter().all(|r| dir(r).is_dir()),
        "each run kept its images"
    );
    let templates: Vec<&str> = runs
        .iter()
        .map(|r| r["templates_used"][0].as_str().unwrap())
        .collect();
    assert_eq!(templates, ["t000.png", "t001.png", "t002.png"]);

    let left = wait_for(20, "the sweep to delete the two older runs", || {
        let all = bin.get("/api/v1/runs")?;
        (all.as_array()?.len() == 1).then_some(all)
    });
    assert_eq!(left[0]["id"], runs[2]["id"], "the latest run stays");
    for r in &runs[..2] {
        let id = r["id"].as_str().unwrap();
        assert_eq!(
            http("GET", bin.port, &format!("/api/v1/runs/{id}"))
                .unwrap()
                .0,
            404
        );
        assert_eq!(
            http("GET", bin.port, &format!("/api/v1/runs/{id}/logs"))
                .unwrap()
                .0,
            404
        );
        // The records go first, then their image folders (a page never
        // shows a record whose images are gone).
        wait_for(10, &format!("the images of {id} to go"), || {
            (!dir(r).exists()).then_some(())
        });
    }
    assert!(dir(&runs[2]).is_dir());
    // Usage stays: the next run takes a template never used, not t000 again.
    let next = run_once(&bin);
    assert_eq!(next["templates_used"][0], "t003.png", "{next}");
    let metrics = http("GET", bin.port, "/metrics").unwrap().1;
    let bytes: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("adsched_store_bytes "))
        .unwrap_or_else(|| panic!("no adsched_store_bytes in\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(bytes > 0.0, "{metrics}");
    println!("store size with 2 runs kept: {bytes} bytes");
}

#[test]
fn old_runs_go_the_latest_and_usage_stay_on_sled() {
    old_runs_go_the_latest_and_usage_stay(None);
}

#[test]
fn old_runs_go_the_latest_and_usage_stay_on_postgres() {
    old_runs_go_the_latest_and_usage_stay(Some(pg::database()));
}
