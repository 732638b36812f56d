//! Email export against a real SMTP server (Python's aiosmtpd, started here).
//! One test function: the SMTP settings are process-wide environment variables.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use adsched::clock::ManualClock;
use adsched::daemon::{self, Config};
use adsched::records::{Run, RunStatus};
use common::{free_port, schedule, Project};
use mailparse::MailHeaderMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_export_sends_html_text_inline_thumbnails_and_attachments() {
    let p = Project::new();
    let port = free_port();
    let inbox = p.path("inbox");
    let _smtp = common::smtp_server(port, &inbox, 1);
    std::env::set_var("ADSCHED_SMTP_URL", format!("smtp://127.0.0.1:{port}"));
    std::env::set_var("ADSCHED_EMAIL_FROM", "adsched@acme.example");
    std::env::remove_var("ADSCHED_EMAIL_ALLOW");
    let text = schedule("mail", "  daily: { at: \"09:00\" }", 2)
        + "export:\n  destination: email\n  email: { to: [ops@acme.example, lead@acme.example] }\n";
    p.write("schedules/s.yaml", &text);
    let clock = ManualClock::new(chrono::Utc::now());
    let config = Config {
        schedules: p.path("schedules"),
        templates: p.path("templates"),
        state: p.path("state"),
        store: None,
        listen: "127.0.0.1:0".into(),
        generator: format!("cmd:{}", p.path("gen-ok.sh").display()),
        public_url: Some("https://ads.acme.example".into()),
        grace: Duration::from_secs(5),
        retain: None,
        repo: None,
    };
    let d = daemon::start(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();

    // The server refuses the first message (451), then accepts the retry.
    let (run_id, _) = d.ctx.trigger("mail").await.unwrap();
    let store = d.ctx.store.clone();
    let run = completed(&store, &run_id, "the run").await;
    assert_eq!(run.exports.len(), 1, "{run:#?}");
    let e = &run.exports[0];
    assert_eq!(
        (e.destination.as_str(), e.status.as_str(), e.attempts),
        ("email", "sent", 2),
        "{e:?}"
    );

    let raw = std::fs::read(inbox.join("1.eml")).unwrap();
    let rcpt = std::fs::read_to_string(inbox.join("1.rcpt")).unwrap();
    assert_eq!(
        rcpt.lines().collect::<Vec<_>>(),
        ["ops@acme.example", "lead@acme.example"]
    );
    let mail = mailparse::parse_mail(&raw).unwrap();
    assert_eq!(
        mail.headers.get_first_value("From").unwrap(),
        "adsched@acme.example"
    );
    assert!(mail
        .headers
        .get_first_value("Subject")
        .unwrap()
        .contains("Collagen"));
    assert_eq!(mail.ctype.mimetype, "multipart/mixed");
    let mut all = Vec::new();
    common::mime_parts(&mail, &mut all);
    let text_part = all
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .expect("a text alternative");
    assert!(text_part.get_body().unwrap().contains(&run.id));
    let html = all
        .iter()
        .find(|p| p.ctype.mimetype == "text/html")
        .expect("an HTML body")
        .get_body()
        .unwrap();
    assert!(
        html.contains("https://ads.acme.example/runs/"),
        "link to the run"
    );
    // Every cid: in the HTML resolves to an inline image part.
    let cids: Vec<&str> = html
        .match_indices("cid:")
        .map(|(i, _)| &html[i + 4..i + 4 + html[i + 4..].find('"').unwrap()])
        .collect();
    assert_eq!(cids.len(), 2, "{html}");
    for cid in cids {
        let part = all
            .iter()
            .find(|p| {
                p.headers
                    .get_first_value("Content-ID")
                    .is_some_and(|v| v.trim_matches(['<', '>']) == cid)
            })
            .unwrap_or_else(|| panic!("no part for cid:{cid}"));
        assert_eq!(part.ctype.mimetype, "image/png");
        image_decodes(&part.get_body_raw().unwrap());
    }
    let attachments: Vec<_> = all
        .iter()
        .filter(|p| {
            p.get_content_disposition().disposition == mailparse::DispositionType::Attachment
        })
        .collect();
    assert_eq!(attachments.len(), 2);
    for a in attachments {
        assert_eq!(a.ctype.mimetype, "image/png");
        assert!(a
            .get_content_disposition()
            .params
            .get("filename")
            .unwrap()
            .ends_with(".png"));
        image_decodes(&a.get_body_raw().unwrap());
    }

    // An allow-list that does not name the domain: refused, recorded, ads
    // kept. The daemon reads its settings when it starts.
    std::env::set_var("ADSCHED_EMAIL_ALLOW", "other.example");
    d.shutdown().await.unwrap();
    let d = daemon::start(config, Arc::new(clock)).await.unwrap();
    let store = d.ctx.store.clone();
    let (run_id, _) = d.ctx.trigger("mail").await.unwrap();
    let run = completed(&store, &run_id, "the second run").await;
    assert_eq!(run.exports[0].status, "refused", "{:?}", run.exports);
    assert!(run.exports[0].detail.contains("ADSCHED_EMAIL_ALLOW"));
    assert_eq!(run.ads.len(), 2, "the ads are kept");
    assert!(!inbox.join("2.eml").exists());
    std::env::remove_var("ADSCHED_EMAIL_ALLOW");
    d.shutdown().await.unwrap();

    // `adsched send email` uses the same service by hand.
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .args([
            "send",
            "email",
            "--to",
            "ops@acme.example",
            "--subject",
            "Settings check",
        ])
        .arg(p.path("templates/t000.png"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read(inbox.join("2.eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "Settings check"
    );
    let mut all = Vec::new();
    common::mime_parts(&mail, &mut all);
    assert!(all.iter().any(|p| p
        .get_content_disposition()
        .params
        .get("filename")
        .map(String::as_str)
        == Some("t000.png")));
    // A subject with a line break would inject headers: refused.
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .args([
            "send",
            "email",
            "--to",
            "ops@acme.example",
            "--subject",
            "hi\r\nBcc: victim@evil.example",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line break"));
    assert!(!inbox.join("3.eml").exists());
}

#[test]
fn a_large_run_attaches_what_fits_and_links_the_rest() {
    use adsched::export::{email, Image, Summary};
    let dir = tempfile::tempdir().unwrap();
    // Six 4 MiB files: base64 makes each about 5.3 MiB; three fit under the cap.
    let images: Vec<Image> = (0..6)
        .map(|i| {
            let path = dir.path().join(format!("{i}.png"));
            std::fs::write(&path, vec![i as u8; 4 * 1024 * 1024]).unwrap();
            Image {
                template: format!("t{i}.png"),
                path: Some(path),
                url: Some(format!("https://ads.acme.example/ads/r/{i}.png")),
                status: "approved".into(),
            }
        })
        .collect();
    let summary = Summary {
        schedule_id: "s".into(),
        schedule_name: "S".into(),
        product: "P".into(),
        brand: "B".into(),
        run_id: "r".into(),
        when: "now".into(),
        templates: vec![],
        images,
        run_url: None,
    };
    let (_, text, _, attachments) = email::compose(&summary);
    let attached: usize = attachments.iter().map(|a| a.bytes.len() * 4 / 3).sum();
    assert!(attached < 20 * 1024 * 1024, "{attached}");
    assert!(!attachments.is_empty() && attachments.len() < 6);
    assert!(
        text.contains("https://ads.acme.example/ads/r/5.png"),
        "the rest is linked: {text}"
    );
}

fn image_decodes(bytes: &[u8]) {
    let img = image::load_from_memory(bytes).expect("the image decodes");
    assert!(img.width() >= 1);
}

/// The run once it is completed (30 s at most).
async fn completed(store: &adsched::store::Store, run_id: &str, what: &str) -> Run {
    for _ in 0..6000 {
        let run = store.run(run_id).await.unwrap();
        if let Some(r) = run.filter(|r| r.status == RunStatus::Completed) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}
