//! Shared test fixtures: a temporary project folder with schedules, a
//! template pool and generator scripts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A 1x1 PNG.
pub const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

pub const PRODUCT: &str = "apiVersion: adsched/v1
kind: Product
id: collagen
name: Collagen
brand: { id: acme, name: Acme }
hooks: [\"Glow\"]
";

/// A schedule document with `timing` as the `schedule:` block body (indented two spaces).
pub fn schedule(id: &str, timing: &str, count: u32) -> String {
    format!(
        "apiVersion: adsched/v1
kind: Schedule
id: {id}
name: {id}
product: collagen
schedule:
{timing}
templates:
  mode: unused
  count: {count}
parameters:
  num_variations: 1
"
    )
}

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        p.write("schedules/products.yaml", PRODUCT);
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(p.path("templates")).unwrap();
        for i in 0..200 {
            std::fs::copy(
                repo.join("templates/summer-01.png"),
                p.path("templates").join(format!("t{i:03}.png")),
            )
            .unwrap();
        }
        p.script("gen-ok.sh", &format!(
            "#!/bin/sh\ncat > /dev/null\necho \"generating\" >&2\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{PNG_1X1}\"}}]}}'\n"
        ));
        p.script("gen-slow.sh", &format!(
            "#!/bin/sh\ncat > /dev/null\nsleep 0.3\necho '{{\"ad_run_id\": \"ar-'$$'\", \"images\": [{{\"png_base64\": \"{PNG_1X1}\"}}]}}'\n"
        ));
        p.script(
            "gen-fail.sh",
            "#!/bin/sh\ncat > /dev/null\necho 'the ad API is down' >&2\nexit 3\n",
        );
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        // Write then rename, as editors do, so a watcher never reads half a file.
        let tmp = p.with_extension("tmp~");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
    }

    pub fn script(&self, name: &str, body: &str) {
        let p = self.path(name);
        std::fs::write(&p, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// Polls `f` until it returns Some, for up to `secs` of real time. This waits
/// for the daemon's tasks to react, never for schedule time (the clock is ours).
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
