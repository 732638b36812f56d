//! Review before export (SPEC 11) as a marketer meets it: the real binary,
//! a schedule with `review: required`, a local server speaking Slack's Web
//! API. The run ends with its export waiting; two ads approved and one
//! rejected send exactly the two; a second review is refused.

mod common;

use common::slack::FakeSlack;
use common::{request, schedule, wait_for, Bin, Project};
use serde_json::{json, Value};

const SLACK_TOKEN: &str = "xoxb-review-test";

fn post(bin: &Bin, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = request("POST", bin.port, path, &[], &body.to_string()).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn approved_ads_go_out_rejected_ones_never_and_a_run_is_sent_once() {
    let p = Project::new();
    let slack = FakeSlack::start(SLACK_TOKEN);
    p.write(
        "schedules/s.yaml",
        &(schedule("drafts", "  daily: { at: \"09:00\" }", 3)
            + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n  review: required\n  review_window: 24h\n"),
    );
    let api_url = slack.api_url();
    let bin = Bin::start(
        &p,
        &format!("cmd:{}", p.path("gen-ok.sh").display()),
        &[
            ("ADSCHED_SLACK_TOKEN", SLACK_TOKEN),
            ("ADSCHED_SLACK_API_URL", &api_url),
        ],
    );
    let (status, v) = post(&bin, "/api/v1/schedules/drafts/trigger", &Value::Null);
    assert_eq!(status, 202, "{v}");
    let run_id = v["run_id"].as_str().unwrap().to_string();
    let run = wait_for(30, "the run to end", || {
        let r = bin.get(&format!("/api/v1/runs/{run_id}"))?;
        (r["status"] == "completed").then_some(r)
    });
    assert_eq!(run["exports"][0]["status"], "awaiting_review", "{run}");
    assert!(
        slack.lock().completes.is_empty(),
        "nothing is sent before review"
    );
    let images: Vec<String> = run["ads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["image"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(images.len(), 3, "{run}");
    // The first page lists it; its page offers the choices.
    let home = common::http("GET", bin.port, "/").unwrap().1;
    assert!(
        home.contains("To review (1)"),
        "the first page lists the run"
    );
    let page = common::http("GET", bin.port, &format!("/runs/{run_id}"))
        .unwrap()
        .1;
    assert!(page.contains("Review before export") && page.contains("Send approved now"));

    // Two approved: one ad is undecided, nothing goes yet.
    let (status, v) = post(
        &bin,
        &format!("/api/v1/runs/{run_id}/review"),
        &json!({"approve": [images[0], images[1]], "note": "on brand"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ads"][0]["review"]["decision"], "approved", "{v}");
    assert_eq!(v["ads"][0]["review"]["by"], "local");
    assert_eq!(v["ads"][0]["review"]["note"], "on brand");
    assert!(v["ads"][2]["review"].is_null());
    assert_eq!(v["exports"][0]["status"], "awaiting_review");
    // Bad input names what is wrong.
    let (status, e) = post(
        &bin,
        &format!("/api/v1/runs/{run_id}/review"),
        &json!({"approve": ["/ads/elsewhere.png"]}),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("/ads/elsewhere.png"),
        "{e}"
    );
    let (status, _) = post(&bin, &format!("/api/v1/runs/{run_id}/review"), &json!({}));
    assert_eq!(status, 400);

    // The last one rejected, by the CLI: every ad decided, the two go out.
    let (code, out, err) = common::adsched(
        &p,
        &[
            "review",
            &run_id,
            "--reject",
            &images[2],
            "--server",
            &format!("http://127.0.0.1:{}", bin.port),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("3 of 3 ads decided"), "{out}");
    let run = wait_for(30, "the export to be sent", || {
        let r = bin.get(&format!("/api/v1/runs/{run_id}"))?;
        (r["exports"][0]["status"] == "sent").then_some(r)
    });
    {
        let f = slack.lock();
        assert_eq!(f.completes.len(), 1, "one message");
        assert_eq!(
            f.files.len(),
            2,
            "the two approved ads, not the rejected one"
        );
    }
    assert_eq!(run["ads"][2]["review"]["decision"], "rejected");
    // Sent once: a second review is refused.
    let (status, e) = post(
        &bin,
        &format!("/api/v1/runs/{run_id}/review"),
        &json!({"approve": [images[2]]}),
    );
    assert_eq!(status, 409, "{e}");
    let audit = bin.get("/api/v1/audit").unwrap();
    let reviews = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "review")
        .count();
    assert_eq!(reviews, 2, "{audit}");
    // "Download all": one ZIP with each ad, named by order and template.
    let (head, zip) = get_raw(bin.port, &format!("/runs/{run_id}/ads.zip"));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/zip"),
        "{head}"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".png")), "{names:?}");
    let mut first = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_index(0).unwrap(), &mut first).unwrap();
    assert!(first.starts_with(b"\x89PNG"), "the ads themselves");
    // Export again is refused while a run waits; after, it works as usual.
    let (status, _) = post(&bin, &format!("/api/v1/runs/{run_id}/export"), &Value::Null);
    assert_eq!(status, 202);
}

/// A GET whose body is bytes: (status line and headers, body).
fn get_raw(port: u16, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // HTTP/1.0: no chunked body to take apart.
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&buf[..at]).to_string(),
        buf[at + 4..].to_vec(),
    )
}
