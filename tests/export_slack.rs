//! Slack export against a local HTTP server that speaks the Web API's
//! request and response shapes. One test function: the Slack settings are
//! process-wide environment variables.

mod common;

use std::sync::Arc;
use std::time::Duration;

use adsched::clock::ManualClock;
use adsched::daemon::{self, Config};
use adsched::records::{Run, RunStatus};
use common::slack::FakeSlack;
use common::{schedule, Project};

const TOKEN: &str = "xoxb-secret-test-token";

async fn wait_run(store: &adsched::store::Store, id: &str) -> Run {
    for _ in 0..3000 {
        if let Some(r) = store
            .run(id)
            .await
            .unwrap()
            .filter(|r| r.status == RunStatus::Completed)
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("run {id} did not complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_export_uploads_every_image_with_one_summary() {
    let fake = FakeSlack::start(TOKEN);
    std::env::set_var("ADSCHED_SLACK_TOKEN", TOKEN);
    std::env::set_var("ADSCHED_SLACK_API_URL", fake.api_url());
    std::env::set_var("ACME_WEBHOOK", fake.webhook_url("T000/B000/xyz"));
    std::env::remove_var("ADSCHED_SLACK_ALLOW");

    let p = Project::new();
    let bot = schedule("bot", "  daily: { at: \"09:00\" }", 3)
        .replace("name: bot", "name: \"<!channel> & friends\"")
        + "export:\n  destination: slack\n  slack: { channel: C0123ABCD9 }\n";
    let hook = schedule("hook", "  daily: { at: \"09:00\" }", 1)
        + "export:\n  destination: slack\n  slack: { webhook_env: ACME_WEBHOOK }\n";
    p.write("schedules/bot.yaml", &bot);
    p.write("schedules/hook.yaml", &hook);
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
    let clock = ManualClock::new(chrono::Utc::now());
    let d = daemon::start(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = d.ctx.store.clone();

    // First upload URL request is rate limited (429, Retry-After: 1), then all goes through.
    fake.lock().rate_limit_next = true;
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports.len(), 1);
    let e = &run.exports[0];
    assert_eq!(
        (e.destination.as_str(), e.status.as_str()),
        ("slack", "sent"),
        "{e:?}"
    );
    assert_eq!(e.attempts, 2, "one 429, then success: {e:?}");
    {
        let f = fake.lock();
        assert_eq!(f.files.len(), 3, "every image uploaded");
        for (id, (_, declared, got)) in &f.files {
            assert_eq!(
                Some(*declared),
                *got,
                "file {id}: the declared length matches the bytes"
            );
        }
        assert_eq!(f.completes.len(), 1, "one summary");
        let c = &f.completes[0];
        assert_eq!(c["channel_id"], "C0123ABCD9");
        assert_eq!(c["files"].as_array().unwrap().len(), 3);
        let blocks = c["blocks"].to_string();
        assert!(
            blocks.contains("&lt;!channel&gt; &amp; friends"),
            "escaped: {blocks}"
        );
        assert!(!blocks.contains("<!channel>"));
        assert!(
            blocks.contains("https://ads.acme.example/runs/"),
            "{blocks}"
        );
        assert_eq!(f.bad_auth, 0);
    }

    // channel_not_found is recorded on the run with its code; the ads stay.
    fake.lock().missing_channels = vec!["C0123ABCD9".into()];
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    let e = &run.exports[0];
    assert_eq!(e.status, "failed");
    assert!(e.detail.contains("channel_not_found"), "{e:?}");
    assert_eq!(run.ads.len(), 3);
    fake.lock().missing_channels.clear();

    // The allow-list refuses other channels (read when the daemon starts).
    std::env::set_var("ADSCHED_SLACK_ALLOW", "C999999999");
    d.shutdown().await.unwrap();
    let d = daemon::start(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = d.ctx.store.clone();
    let (id, _) = d.ctx.trigger("bot").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports[0].status, "refused");
    std::env::remove_var("ADSCHED_SLACK_ALLOW");
    d.shutdown().await.unwrap();
    let d = daemon::start(config, Arc::new(clock)).await.unwrap();
    let store = d.ctx.store.clone();

    // Webhook mode posts the summary with links (webhooks cannot upload files).
    let (id, _) = d.ctx.trigger("hook").await.unwrap();
    let run = wait_run(&store, &id).await;
    assert_eq!(run.exports[0].status, "sent", "{:?}", run.exports);
    {
        let f = fake.lock();
        assert_eq!(f.webhook_posts.len(), 1);
        let post = f.webhook_posts[0].to_string();
        assert!(
            post.contains("https://ads.acme.example/ads/"),
            "links to the images: {post}"
        );
    }

    // The token never shows in records or logs.
    for r in store.latest_runs(None, 100).await.unwrap() {
        let text = serde_json::to_string(&r).unwrap()
            + &serde_json::to_string(&store.logs(&r.id).await.unwrap()).unwrap();
        assert!(!text.contains(TOKEN), "the token leaked into run {}", r.id);
        assert!(
            !text.contains("/hooks/T000"),
            "the webhook URL leaked into run {}",
            r.id
        );
    }
    d.shutdown().await.unwrap();
}
