//! Ad generators (SPEC 5): one JSON request per template in, one JSON
//! response out. `cmd:PROGRAM` runs a program; `local` renders in-process.

use std::future::Future;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::http::HttpError;
use super::local::LocalError;
use super::protocol::{GenerateRequest, GenerateResponse, ProtocolError};

/// The outer bound of one generator call; each schedule's `timeout`
/// (1s..24h, default 30m) cuts it shorter.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Kills a `cmd:` generator's whole process group when dropped before
/// [`GroupGuard::disarm`]: a shell script's children (curl, python) would
/// otherwise outlive an abandoned call, and `kill_on_drop` reaches only the
/// direct child.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.0 {
            // The group id is the child's pid (process_group(0)); a negative
            // pid makes kill(1) signal the whole group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A generator's stdout larger than this is refused (base64 images included).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// Why a template got no ads from its generator: the run's log and the
/// run's error message show this text. The messages hold the underlying
/// error's text, so it is not also a `source`: a report walking the chain
/// would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// `cmd:` with nothing after it.
    #[error("`cmd:` needs a program, e.g. cmd:./make-ads")]
    NoProgram,
    /// The request does not serialise (a path that is not UTF-8).
    #[error("cannot encode the generator request: {0}")]
    Encode(serde_json::Error),
    /// The program cannot be started.
    #[error("cannot start generator `{program}`: {error}")]
    Start {
        /// The program.
        program: String,
        /// The spawn error.
        error: std::io::Error,
    },
    /// A pipe to the child was not set up (`stdin`, `stdout` or `stderr`).
    #[error("no {0}")]
    NoPipe(&'static str),
    /// The program did not finish within its timeout and was killed.
    #[error("generator `{program}` did not answer within {}s and was stopped", .timeout.as_secs())]
    Timeout {
        /// The program.
        program: String,
        /// The limit.
        timeout: Duration,
    },
    /// Waiting for the child failed.
    #[error("{0}")]
    Wait(std::io::Error),
    /// Its stdout could not be read.
    #[error("reading the generator's output: {0}")]
    ReadOutput(std::io::Error),
    /// The program exited unsuccessfully; the last stderr lines say why.
    #[error("generator `{program}` failed ({status}){}", stderr_tail(.stderr))]
    Failed {
        /// The program.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// Its last (up to 5) stderr lines.
        stderr: Vec<String>,
    },
    /// Its stdout passed [`MAX_RESPONSE_BYTES`].
    #[error("the generator's response is larger than 256 MiB")]
    TooLarge,
    /// The output is not a SPEC 5 response.
    #[error(transparent)]
    Response(#[from] ProtocolError),
    /// The `http(s)://` generator failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The `local` generator failed.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// `: line | line` after a failed program's exit status, or nothing.
fn stderr_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" | "))
    }
}

/// Where a generator's side messages go (stderr lines, retries): the run's log.
pub type LogFn<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// The generator boxed future: the checked response, or why the template failed.
pub type GenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<GenerateResponse, GeneratorError>> + Send + 'a>>;

/// Makes the ads for one template.
pub trait Generator: Send + Sync {
    /// Sends `request` (SPEC 5) and returns the response, shape-checked.
    fn generate<'a>(&'a self, request: &'a GenerateRequest, log: LogFn<'a>) -> GenFuture<'a>;
    /// Whether requests should carry the template bytes (`content_base64`).
    fn wants_content(&self) -> bool {
        false
    }
    /// A short name for logs.
    fn name(&self) -> String;
}

/// `cmd:PROGRAM [ARGS...]`: the request on stdin, the response on stdout,
/// stderr into the run's log.
pub struct CmdGenerator {
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CmdGenerator {
    /// Parses the text after `cmd:` (split on white space).
    pub fn new(spec: &str, timeout: Duration) -> Result<Self, GeneratorError> {
        let mut words = spec.split_whitespace().map(str::to_string);
        let program = words.next().ok_or(GeneratorError::NoProgram)?;
        Ok(CmdGenerator {
            program,
            args: words.collect(),
            timeout,
        })
    }
}

impl Generator for CmdGenerator {
    fn name(&self) -> String {
        format!("cmd:{}", self.program)
    }

    fn generate<'a>(&'a self, request: &'a GenerateRequest, log: LogFn<'a>) -> GenFuture<'a> {
        Box::pin(async move {
            // Serialised before the program starts: a request that cannot be
            // sent (a non-UTF-8 path) must not leave a child waiting on stdin.
            let body = serde_json::to_vec(request).map_err(GeneratorError::Encode)?;
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.args(&self.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            #[cfg(unix)]
            cmd.process_group(0);
            let mut child = cmd.spawn().map_err(|error| GeneratorError::Start {
                program: self.program.clone(),
                error,
            })?;
            let mut group = GroupGuard(child.id());
            let mut stdin = child.stdin.take().ok_or(GeneratorError::NoPipe("stdin"))?;
            let stdout = child
                .stdout
                .take()
                .ok_or(GeneratorError::NoPipe("stdout"))?;
            let stderr = child
                .stderr
                .take()
                .ok_or(GeneratorError::NoPipe("stderr"))?;
            let write = async move {
                // A program that exits without reading is judged by its exit code.
                let _ = stdin.write_all(&body).await;
                let _ = stdin.shutdown().await;
            };
            let read_out = async move {
                let mut buf = Vec::new();
                stdout
                    .take(MAX_RESPONSE_BYTES as u64 + 1)
                    .read_to_end(&mut buf)
                    .await
                    .map(|_| buf)
            };
            let read_err = async move {
                let mut lines = BufReader::new(stderr).lines();
                let mut last = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    log(&format!("generator: {line}"));
                    last.push(line);
                    if last.len() > 5 {
                        last.remove(0);
                    }
                }
                last
            };
            let work = async {
                let ((), out, err_tail) = tokio::join!(write, read_out, read_err);
                let status = child.wait().await;
                (out, err_tail, status)
            };
            let (out, err_tail, status) =
                tokio::time::timeout(self.timeout, work)
                    .await
                    .map_err(|_| GeneratorError::Timeout {
                        program: self.program.clone(),
                        timeout: self.timeout,
                    })?;
            // Exited and reaped: its group id may be reused, never signal it.
            group.disarm();
            let status = status.map_err(GeneratorError::Wait)?;
            let out = out.map_err(GeneratorError::ReadOutput)?;
            if !status.success() {
                return Err(GeneratorError::Failed {
                    program: self.program.clone(),
                    status,
                    stderr: err_tail,
                });
            }
            if out.len() > MAX_RESPONSE_BYTES {
                return Err(GeneratorError::TooLarge);
            }
            Ok(GenerateResponse::from_slice(
                &out,
                "the generator's output is not JSON",
            )?)
        })
    }
}
