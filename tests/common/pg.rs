//! A real PostgreSQL for the tests: Debian's server binaries, `initdb` and
//! `postgres` in a temporary folder on a free port, one server per test
//! binary and a database per test. As root, the server runs as the
//! `postgres` user (initdb refuses root). A watchdog stops it when the test
//! process exits.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The password every test URL carries: trust authentication accepts it,
/// and tests check that it never shows.
pub const PASSWORD: &str = "pg-s3cret-Xq7";

/// A running server; stopped (immediately) when dropped or when the test
/// process ends.
pub struct Server {
    port: u16,
    data: PathBuf,
    bin: PathBuf,
    log: PathBuf,
    options: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Stops the server (fast: sessions are cut, as in an outage), keeping its data.
    pub fn stop(&self) {
        let ok = as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pg_ctl stop failed");
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn start_again(&self) {
        let ok = as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .arg("-o")
            .arg(&self.options)
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pg_ctl start failed on port {}", self.port);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => super::missing(
            "PostgreSQL (Debian's postgresql package, /usr/lib/postgresql/<version>/bin)",
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as the `postgres` user when we are root.
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Server {
    start_on(super::free_port())
}

/// A server of its own on `port` (the shared one is [`port`]'s).
pub fn start_on(port: u16) -> Server {
    let bin = bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("adsched-pg-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown of {} to postgres failed", dir.path().display());
    }
    let out = as_owner(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        .output()
        .expect("running initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.path().join("server.log");
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        dir.path().display()
    );
    let out = as_owner(bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(&options)
        .args(["-w", "start"])
        .stdout(Stdio::null())
        .output()
        .expect("running pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Stopped when this process ends, however it ends.
    let pid = std::process::id();
    let stop = format!(
        "while [ -d /proc/{pid} ]; do sleep 0.5; done; {} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
        bin.join("pg_ctl").display(),
        data.display(),
        dir.path().display()
    );
    let mut watchdog = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &stop]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &stop]);
        c
    };
    // Never waited for: it outlives this process on purpose.
    #[allow(clippy::zombie_processes)]
    let _watchdog = watchdog
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the watchdog");
    Server {
        port,
        data,
        log,
        options,
        bin,
        _dir: dir,
    }
}

/// The server's port (started on first use).
pub fn port() -> u16 {
    SERVER.get_or_init(start).port
}

/// Runs blocking client code on its own thread: the `postgres` client
/// starts a runtime of its own, which tokio refuses inside an async test.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

/// A new, empty database on the shared server, as a URL with a password.
pub fn database() -> String {
    let port = port();
    off_runtime(move || create_database(port))
}

fn create_database(port: u16) -> String {
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let admin = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match postgres::Client::connect(&admin, postgres::NoTls) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot reach the test PostgreSQL: {e}"),
        }
    };
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/{name}?sslmode=disable")
}

/// Runs `sql` on the database of `url`; the server's message if it fails.
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || {
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
        client.batch_execute(&sql).map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        })
    })
}

/// Runs `sql` on the database of `url`, returning the rows' first column as text.
pub fn query(url: &str, sql: &str) -> Vec<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || query_now(&url, &sql))
}

fn query_now(url: &str, sql: &str) -> Vec<String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .simple_query(sql)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .collect()
}
