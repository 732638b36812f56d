//! The `adsched` command line: definitions and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use adsched::commands::{self, NextFormat};
use adsched::spec::report::Format;

#[derive(Parser)]
#[command(
    name = "adsched",
    version,
    about = "Scheduled ad-generation jobs, GitOps style"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check schedule files: YAML, schema, calendars, templates, exports, references.
    Validate {
        /// Files or folders to check (default ./schedules).
        paths: Vec<PathBuf>,
        /// The template pool (default ./templates).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Preview the next fire times of a schedule.
    Next {
        /// A file holding one Schedule, or a schedule id in --schedules.
        file_or_id: String,
        /// Where to look up a schedule id.
        #[arg(long, default_value = "./schedules")]
        schedules: PathBuf,
        /// How many times to list.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// List times strictly after this RFC 3339 instant (default now).
        #[arg(long)]
        after: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: NextFormat,
    },
    /// Print the JSON Schema of schedule documents.
    Schema,
    /// Run the scheduler: watch the schedules, fire due jobs, serve the API.
    Daemon {
        /// The schedules folder to watch.
        #[arg(long, env = "ADSCHED_SCHEDULES", default_value = "./schedules")]
        schedules: PathBuf,
        /// The template pool.
        #[arg(long, env = "ADSCHED_TEMPLATES", default_value = "./templates")]
        templates: PathBuf,
        /// Where the store (sled) and generated ads live.
        #[arg(long, env = "ADSCHED_STATE", default_value = "./state")]
        state: PathBuf,
        /// API and dashboard address.
        #[arg(long, env = "ADSCHED_LISTEN", default_value = "127.0.0.1:8787")]
        listen: String,
        /// local, http(s)://URL or cmd:PROGRAM.
        #[arg(long, env = "ADSCHED_GENERATOR", default_value = "local")]
        generator: String,
        /// Public base URL of the dashboard, for links in exports.
        #[arg(long, env = "ADSCHED_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds a shutdown waits for the current template.
        #[arg(long, env = "ADSCHED_GRACE_SECONDS", default_value_t = 30)]
        grace_seconds: u64,
        /// Log format: human or json.
        #[arg(long, env = "ADSCHED_LOG_FORMAT", value_enum, default_value = "human")]
        log_format: commands::LogFormat,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate {
            paths,
            templates,
            format,
        } => commands::validate(&paths, templates.as_deref(), format),
        Command::Next {
            file_or_id,
            schedules,
            count,
            after,
            format,
        } => commands::next(&file_or_id, &schedules, count, after.as_deref(), format),
        Command::Daemon {
            schedules,
            templates,
            state,
            listen,
            generator,
            public_url,
            grace_seconds,
            log_format,
        } => commands::daemon(
            adsched::daemon::Config {
                schedules,
                templates,
                state,
                listen,
                generator,
                public_url,
                grace: std::time::Duration::from_secs(grace_seconds),
            },
            log_format,
        ),
        Command::Schema => {
            print!("{}", adsched::spec::schema::SCHEMA_JSON);
            0
        }
    };
    ExitCode::from(code)
}
