//! Shared test fixtures: a temporary project folder with schedules, a
//! template pool and generator scripts.
#![allow(dead_code)]

pub mod pg;
pub mod slack;

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
                repo.join("tests/fixtures/template.png"),
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

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 client: (status, body).
pub fn http(method: &str, port: u16, path: &str) -> Option<(u16, String)> {
    request(method, port, path, &[], "")
}

/// An HTTP/1.1 request with extra headers and a (JSON) body; None if the
/// daemon does not answer.
pub fn request(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// GET returning JSON, None if the daemon does not answer.
pub fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    let (status, body) = http("GET", port, path)?;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// The real binary in the project's folder with `args` and only the
/// variables in `env` of adsched's own (the test process's `ADSCHED_STORE`
/// and `ADSCHED_API_TOKEN` are not passed on): (exit code, stdout, stderr).
pub fn adsched(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_adsched"));
    cmd.current_dir(p.dir.path())
        .args(args)
        .env_remove("ADSCHED_STORE")
        .env_remove("ADSCHED_API_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A query command of the real binary, reading the store directly (no
/// daemon answers on port 9), as JSON; asserts exit 0.
pub fn cli_store(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--server", "http://127.0.0.1:9", "--format", "json"]);
    let (code, out, err) = adsched(p, &all, &[]);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The real binary as a daemon on `port`.
pub struct Bin {
    pub child: std::process::Child,
    pub port: u16,
}

impl Bin {
    pub fn start(p: &Project, generator: &str, extra_env: &[(&str, &str)]) -> Bin {
        let port = free_port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_adsched"));
        cmd.current_dir(p.dir.path())
            .args([
                "daemon",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--generator",
                generator,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(p.path("daemon.log")).unwrap());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let bin = Bin { child, port };
        wait_for(20, "the daemon to be ready", || {
            http("GET", port, "/readyz").filter(|(s, _)| *s == 200)
        });
        bin
    }

    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        get_json(self.port, path)
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns the exit code.
    pub fn term(mut self) -> Option<i32> {
        #[cfg(unix)]
        unsafe_kill(self.child.id(), 15);
        let status = self.child.wait().ok()?;
        status.code()
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn unsafe_kill(pid: u32, sig: i32) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// A real SMTP server (Python's aiosmtpd, tests/support/smtp_server.py),
/// stopped when dropped. Accepted messages land in `out` as N.eml.
pub struct Smtp(std::process::Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the SMTP server on `port`; it refuses the first `refuse_first` messages with a 451.
pub fn smtp_server(port: u16, out: &Path, refuse_first: u32) -> Smtp {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
    require_python_module("aiosmtpd");
    let child = std::process::Command::new(python())
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .arg(refuse_first.to_string())
        .spawn()
        .unwrap_or_else(|e| missing(&format!("{} ({e})", python().display())));
    let smtp = Smtp(child);
    wait_for(20, "the SMTP server", || {
        out.join("ready").exists().then_some(())
    });
    smtp
}

/// Every MIME part of a parsed message, depth first.
pub fn mime_parts<'a>(
    m: &'a mailparse::ParsedMail<'a>,
    out: &mut Vec<&'a mailparse::ParsedMail<'a>>,
) {
    out.push(m);
    for p in &m.subparts {
        mime_parts(p, out);
    }
}

/// The command that installs every outside component the tests start.
pub const SETUP: &str = "./scripts/test.sh";

/// Fails the calling test with one line naming what is missing and the
/// command that installs it: no backtrace, whatever RUST_BACKTRACE says,
/// since a missing tool is a set-up step, not a bug to debug.
pub fn missing(what: &str) -> ! {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match info.payload().downcast_ref::<String>() {
                Some(m) if m.starts_with("missing: ") => eprintln!("{m}"),
                _ => default(info),
            }
        }));
    });
    std::panic::panic_any(format!(
        "missing: {what}; run {SETUP}, which installs it and runs every test"
    ))
}

/// The Python the tests use: `ADSCHED_PYTHON` (scripts/test.sh points it at
/// its .venv), else the repository's `.venv` when there is one, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ADSCHED_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Fails the test (see [`missing`]) unless [`python`] can import `module`.
pub fn require_python_module(module: &str) {
    let ok = std::process::Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        missing(&format!(
            "the Python module {module} for {}",
            python().display()
        ));
    }
}
