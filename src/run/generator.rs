//! Ad generators (SPEC 5): one JSON request per template in, one JSON
//! response out. `cmd:PROGRAM` runs a program; `local` renders in-process.

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::protocol::{GenerateRequest, GenerateResponse};

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

/// Where a generator's side messages go (stderr lines, retries): the run's log.
pub type LogFn<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// The generator boxed future: the checked response, or why the template failed.
pub type GenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<GenerateResponse, String>> + Send + 'a>>;

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
    pub fn new(spec: &str, timeout: Duration) -> Result<Self, String> {
        let mut words = spec.split_whitespace().map(str::to_string);
        let program = words
            .next()
            .ok_or("`cmd:` needs a program, e.g. cmd:./make-ads")?;
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
            let body = serde_json::to_vec(request)
                .map_err(|e| format!("cannot encode the generator request: {e}"))?;
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.args(&self.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            #[cfg(unix)]
            cmd.process_group(0);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start generator `{}`: {e}", self.program))?;
            let mut group = GroupGuard(child.id());
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let stderr = child.stderr.take().ok_or("no stderr")?;
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
                    .map_err(|_| {
                        format!(
                            "generator `{}` did not answer within {}s and was stopped",
                            self.program,
                            self.timeout.as_secs()
                        )
                    })?;
            // Exited and reaped: its group id may be reused, never signal it.
            group.disarm();
            let status = status.map_err(|e| e.to_string())?;
            let out = out.map_err(|e| format!("reading the generator's output: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "generator `{}` failed ({status}){}",
                    self.program,
                    if err_tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err_tail.join(" | "))
                    }
                ));
            }
            if out.len() > MAX_RESPONSE_BYTES {
                return Err("the generator's response is larger than 256 MiB".into());
            }
            GenerateResponse::from_slice(&out, "the generator's output is not JSON")
        })
    }
}
