//! The commands behind the CLI, returning exit codes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::settings::Settings;
use crate::spec::report::{self, Format};
use crate::spec::{self, check, Catalog, Options, Pool};

/// Exit code: all good.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input has errors.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// `adsched --version`: version, commit and build date on one line.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ADSCHED_COMMIT"),
    ", built ",
    env!("ADSCHED_BUILT"),
    ")"
);

/// What `adsched version --format json` prints.
#[derive(Debug, Serialize)]
pub struct VersionInfo {
    /// The crate version, e.g. `0.1.0`.
    pub version: &'static str,
    /// The git commit built, or `unknown`.
    pub commit: &'static str,
    /// The build date, YYYY-MM-DD (UTC).
    pub built: &'static str,
    /// The `apiVersion`s of schedule documents this build reads.
    pub api_versions: [&'static str; 1],
}

/// This build's [`VersionInfo`].
pub const VERSION: VersionInfo = VersionInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("ADSCHED_COMMIT"),
    built: env!("ADSCHED_BUILT"),
    api_versions: [spec::model::API_VERSION],
};

/// `adsched version`.
pub fn version(format: NextFormat) -> u8 {
    match format {
        NextFormat::Human => println!(
            "adsched {}\ncommit {}\nbuilt {}\napiVersions {}",
            VERSION.version,
            VERSION.commit,
            VERSION.built,
            VERSION.api_versions.join(", ")
        ),
        NextFormat::Json => println!(
            "{}",
            serde_json::to_string(&VERSION).expect("plain data serializes")
        ),
    }
    EXIT_OK
}

/// `adsched validate`: `paths` (default `./schedules`) checked against the
/// whole tree at `schedules` (default `./schedules`) when they lie inside it.
pub fn validate(
    paths: &[PathBuf],
    schedules: Option<&Path>,
    templates: Option<&Path>,
    format: Format,
) -> u8 {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("./schedules")]
    } else {
        paths.to_vec()
    };
    if let Some(dir) = schedules.filter(|d| !d.is_dir()) {
        eprintln!(
            "adsched validate: --schedules {}: no such folder",
            dir.display()
        );
        return EXIT_USAGE;
    }
    // A mistyped folder in CI must not pass as "nothing wrong".
    for p in paths.iter().filter(|p| p.is_dir()) {
        if spec::discover(p).is_empty() {
            eprintln!(
                "adsched validate: no schedule files under {} (looked for *.yaml and *.yml)",
                spec::display_path(p)
            );
            return EXIT_USAGE;
        }
    }
    let tree = schedules.unwrap_or(Path::new("./schedules"));
    let pool = match pool(templates) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("adsched validate: {msg}");
            return EXIT_USAGE;
        }
    };
    let opts = Options::new(pool, Utc::now()).allowing(&Settings::from_env());
    let catalog = match spec::load_in_tree(&paths, tree, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("adsched validate: {e}");
            return EXIT_USAGE;
        }
    };
    print!("{}", report::render(&catalog, format, fancy_output()));
    if catalog.has_errors() {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

/// The template pool: an explicit folder must exist; the default may be absent.
fn pool(templates: Option<&Path>) -> Result<Pool, String> {
    match templates {
        Some(dir) if !dir.is_dir() => Err(format!("--templates {}: no such folder", dir.display())),
        Some(dir) => Ok(Pool::scan(dir)),
        None => Ok(Pool::scan(Path::new("./templates"))),
    }
}

/// Colour and Unicode only for a terminal, and never with NO_COLOR.
fn fancy_output() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Output formats of `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NextFormat {
    /// A readable list.
    Human,
    /// One JSON object.
    Json,
}

/// `adsched next`.
pub fn next(
    file_or_id: &str,
    schedules: &Path,
    count: usize,
    after: Option<&str>,
    format: NextFormat,
) -> u8 {
    let after = match after {
        None => Utc::now(),
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                eprintln!("adsched next: --after `{s}` is not an RFC 3339 time ({e}); e.g. 2026-03-01T00:00:00Z");
                return EXIT_USAGE;
            }
        },
    };
    let as_file = Path::new(file_or_id);
    let by_file = as_file.is_file();
    let source = if by_file { as_file } else { schedules };
    if !source.exists() {
        eprintln!(
            "adsched next: `{file_or_id}` is not a file, and the schedules folder {} does not exist",
            schedules.display()
        );
        return EXIT_USAGE;
    }
    // The calendar alone matters here: no template pool, no clock-dependent warnings.
    let catalog = match spec::load(
        &[source.to_path_buf()],
        &Options::new(Pool::default(), after),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("adsched next: {e}");
            return EXIT_USAGE;
        }
    };
    let doc = if by_file {
        match catalog.schedules.as_slice() {
            [one] => one,
            [] => return no_schedule(&catalog, &format!("{file_or_id} holds no valid Schedule")),
            _ => {
                eprintln!("adsched next: {file_or_id} holds several schedules; pass one of their ids with --schedules {}", as_file.parent().map_or(".".into(), |p| p.display().to_string()));
                return EXIT_USAGE;
            }
        }
    } else {
        match catalog.schedule(file_or_id) {
            Some(d) => d,
            None => return no_such_id(&catalog, file_or_id, schedules),
        }
    };
    if let Err(e) = check::calendar(&doc.doc) {
        let pos = catalog.files[doc.file].value_pos(doc.index, e.path);
        eprintln!(
            "adsched next: {}:{}:{}: {}",
            catalog.display(doc.file),
            pos.line,
            pos.column,
            e.message
        );
        return EXIT_INVALID;
    }
    let report = match spec::draft::fire_times(&doc.doc, after, count) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("adsched next: {message}");
            return EXIT_INVALID;
        }
    };
    match format {
        NextFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("plain data serializes")
        ),
        NextFormat::Human => {
            println!("{}: {}", report.id, report.description);
            if report.times.is_empty() {
                println!("  no fire times after {}", after.to_rfc3339());
            }
            for t in &report.times {
                println!("  {t}");
            }
        }
    }
    EXIT_OK
}

/// `next ID` found no valid schedule: either the id is defined in a file with
/// errors (show that file's errors), or it is nowhere (one line, closest ids).
fn no_such_id(catalog: &Catalog, id: &str, schedules: &Path) -> u8 {
    let defined: Vec<usize> = catalog
        .ids
        .iter()
        .filter(|r| r.kind == "Schedule" && r.id == id)
        .map(|r| r.file)
        .collect();
    if !defined.is_empty() {
        let keep: Vec<bool> = (0..catalog.files.len())
            .map(|i| defined.contains(&i))
            .collect();
        return no_schedule(
            &catalog.only_files(&keep),
            &format!("the schedule `{id}` has errors"),
        );
    }
    let mut ids: Vec<(usize, &str)> = catalog
        .ids
        .iter()
        .filter(|r| r.kind == "Schedule")
        .map(|r| (spec::schema::edit_distance(id, &r.id), r.id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let closest: Vec<&str> = ids.iter().take(3).map(|(_, i)| *i).collect();
    eprintln!(
        "adsched next: `{id}` is no file, and no schedule in {} has that id{}",
        spec::display_path(schedules),
        if closest.is_empty() {
            " (it holds none)".to_string()
        } else {
            format!("; closest ids: {}", closest.join(", "))
        }
    );
    EXIT_USAGE
}

/// Explains why no schedule was found, with the errors that may be the reason.
fn no_schedule(catalog: &Catalog, what: &str) -> u8 {
    eprintln!("adsched next: {what}");
    let errors = catalog
        .findings
        .iter()
        .filter(|f| f.severity == spec::Severity::Error)
        .count();
    if errors > 0 {
        eprint!("{}", report::render(catalog, Format::Human, false));
        return EXIT_INVALID;
    }
    EXIT_USAGE
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for collectors.
    Json,
}

/// Sets up tracing on stderr (`RUST_LOG` filters; default info).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// `adsched daemon`.
pub fn daemon(config: crate::daemon::Config, log_format: LogFormat) -> u8 {
    init_logging(log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adsched daemon: cannot start the runtime: {e}");
            return EXIT_INVALID;
        }
    };
    // A test aid: the real binary on an accelerated clock (see clock::WarpClock).
    let clock: std::sync::Arc<dyn crate::clock::Clock> = match std::env::var("ADSCHED_CLOCK") {
        Ok(spec) if !spec.is_empty() => match crate::clock::WarpClock::parse(&spec) {
            Ok(c) => {
                tracing::warn!("using the test clock {spec}");
                std::sync::Arc::new(c)
            }
            Err(e) => {
                eprintln!("adsched daemon: {e}");
                return EXIT_USAGE;
            }
        },
        _ => std::sync::Arc::new(crate::clock::SystemClock),
    };
    match rt.block_on(async { crate::daemon::run(config, clock, shutdown_signal()).await }) {
        Ok(()) => EXIT_OK,
        // Once: as a log record where logs are machine-read, else as a line.
        Err(e) if log_format == LogFormat::Json => {
            tracing::error!("{e}");
            EXIT_INVALID
        }
        Err(e) => {
            eprintln!("adsched daemon: {e}");
            EXIT_INVALID
        }
    }
}

/// `adsched migrate`: creates or upgrades the PostgreSQL tables.
pub fn migrate(url: &str) -> u8 {
    match crate::store::pg::migrate_only(url) {
        Ok(version) => {
            println!("the tables are at schema version {version}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("adsched migrate: {e}");
            EXIT_INVALID
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are installed when this is called.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // Registered now, not when first polled: a SIGTERM that arrives while the
    // daemon starts (after /readyz said ready) must stop it gracefully, not
    // kill it with the default action.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `adsched send email`: the email service by hand, to check the settings.
pub fn send_email(to: &[String], subject: &str, text: Option<&str>, files: &[PathBuf]) -> u8 {
    use crate::export::email;
    let settings = Settings::from_env();
    let result = (|| -> Result<String, String> {
        email::check_allowed(&settings, to).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        // The SMTP pool spawns its tasks when built: inside the runtime.
        let _guard = rt.enter();
        let mailer = email::Mailer::new(&settings).map_err(|e| e.to_string())?;
        let attachments = read_files(files)?
            .into_iter()
            .map(|(name, bytes, ct)| email::File {
                name,
                bytes,
                content_type: ct,
            })
            .collect::<Vec<_>>();
        let body = text.unwrap_or("Sent with adsched send email.");
        let html = format!("<p>{}</p>", crate::dashboard::esc(body));
        let n = attachments.len();
        let (r, attempts) =
            rt.block_on(mailer.send(to, subject, &html, body, Vec::new(), attachments));
        r.map_err(|e| e.to_string()).map(|()| {
            format!(
                "sent to {} with {n} attachment(s) after {attempts} attempt(s)",
                to.join(", ")
            )
        })
    })();
    report_send(result)
}

/// `adsched send slack`: the Slack service by hand, to check the settings.
pub fn send_slack(channel: &str, text: Option<&str>, files: &[PathBuf]) -> u8 {
    use crate::export::slack;
    let settings = Settings::from_env();
    let result = (|| -> Result<String, String> {
        slack::check_allowed(&settings, channel).map_err(|e| e.to_string())?;
        let client = slack::SlackClient::new(&settings).map_err(|e| e.to_string())?;
        let files: Vec<(String, Vec<u8>)> = read_files(files)?
            .into_iter()
            .map(|(n, b, _)| (n, b))
            .collect();
        let text = slack::escape(text.unwrap_or("Sent with adsched send slack."));
        let blocks =
            serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let n = files.len();
        let (r, attempts) = rt.block_on(client.post(channel, &files, &blocks, &text));
        r.map_err(|e| e.to_string())
            .map(|()| format!("posted to {channel} with {n} file(s) after {attempts} attempt(s)"))
    })();
    report_send(result)
}

fn report_send(result: Result<String, String>) -> u8 {
    match result {
        Ok(msg) => {
            println!("{msg}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("adsched send: {e}");
            EXIT_INVALID
        }
    }
}

fn read_files(files: &[PathBuf]) -> Result<Vec<(String, Vec<u8>, String)>, String> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let name = f
                .file_name()
                .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
            let ct = crate::media::content_type(f);
            Ok((name, bytes, ct.to_string()))
        })
        .collect()
}
