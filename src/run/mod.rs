//! One run of a fired schedule (SPEC 5): pick templates, call the generator
//! for each one after another, record ads and usage as each finishes.
//!
//! Long because a run's steps (select, call, record, export, finish) and
//! the crash rules between them are read as one sequence.

pub mod generator;
pub mod http;
pub mod local;
pub mod protocol;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::records::{Ad, LogLine, Run, RunStatus, ScheduleState, Usage};
use crate::spec::model::{Product, Schedule, TemplateMode};
use crate::spec::{self, Pool};
use crate::store::{RunEnd, Store, StoreError, TemplateResult};
pub use generator::Generator;
use protocol::{
    GenerateRequest, GenerateResponse, ImageSource, RequestBrand, RequestProduct, RequestTemplate,
};

/// Retries of a failed calendar run when the schedule does not say (SPEC 5).
pub const DEFAULT_RETRIES: u64 = 2;

/// What a run needs from the daemon.
pub struct Runner {
    /// The store.
    pub store: Store,
    /// The ad generator.
    pub generator: Arc<dyn Generator>,
    /// The template pool folder.
    pub templates: PathBuf,
    /// The state folder: generated images go under its `ads/`.
    pub state: PathBuf,
    /// The schedules folder (uploaded templates must stay inside it).
    pub schedules: PathBuf,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Public base URL of the dashboard, for links in exports.
    pub public_url: Option<String>,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Secrets and allow-lists for the exports.
    pub settings: Arc<crate::settings::Settings>,
    /// Log lines not yet written: see [`Runner::log`].
    pub unwritten: std::sync::Mutex<Vec<(String, LogLine)>>,
    /// This daemon leads; a run stops after its current template when it
    /// no longer does (the new leader marks it interrupted).
    pub leading: Arc<AtomicBool>,
}

/// A template chosen for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Its name (pool name, or the path as written for uploaded ones).
    pub name: String,
    /// The file.
    pub path: PathBuf,
}

/// Picks the templates of a run. `unused` takes pool names in sorted
/// order, skipping those used for the product before.
pub fn select_templates(
    schedule: &Schedule,
    source_file: &Path,
    pool: &Pool,
    schedules_root: &Path,
    used: &[String],
    log: &mut dyn FnMut(&str, &str),
) -> Result<Vec<Chosen>, String> {
    let t = &schedule.templates;
    match t.mode {
        TemplateMode::Unused => {
            let want = t.count.unwrap_or(1) as usize;
            let left: Vec<&String> = pool.names.iter().filter(|n| !used.contains(n)).collect();
            if left.is_empty() {
                return Err(format!(
                    "template pool exhausted: all {} templates in {} were already used for product `{}` (0 remain); add templates to the pool or switch to mode specific",
                    pool.names.len(),
                    pool.dir.display(),
                    schedule.product
                ));
            }
            if left.len() < want {
                log(
                    "warn",
                    &format!(
                        "only {} unused template{} left of the {want} asked for; running with what is left",
                        left.len(),
                        if left.len() == 1 { "" } else { "s" }
                    ),
                );
            }
            let chosen: Vec<Chosen> = left
                .into_iter()
                .take(want)
                .map(|n| Chosen {
                    name: n.clone(),
                    path: pool.dir.join(n),
                })
                .collect();
            log(
                "info",
                &format!(
                    "picked {} template{} never used for product `{}` ({} used before, {} in the pool, in name order): {}",
                    chosen.len(),
                    if chosen.len() == 1 { "" } else { "s" },
                    schedule.product,
                    used.len(),
                    pool.names.len(),
                    chosen.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            Ok(chosen)
        }
        TemplateMode::Specific => {
            let mut out = Vec::new();
            for id in t.ids.iter().flatten() {
                if pool.names.contains(id) {
                    out.push(Chosen {
                        name: id.clone(),
                        path: pool.dir.join(id),
                    });
                } else {
                    log(
                        "error",
                        &format!(
                            "template `{id}` is not in the pool {}; skipped",
                            pool.dir.display()
                        ),
                    );
                }
            }
            if out.is_empty() {
                return Err("none of the listed templates is in the pool".into());
            }
            log(
                "info",
                &format!(
                    "using the listed templates: {}",
                    out.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            Ok(out)
        }
        TemplateMode::Uploaded => {
            let base = source_file.parent().unwrap_or(Path::new("."));
            let mut out = Vec::new();
            for rel in t.files.iter().flatten() {
                match spec::check::check_uploaded(rel, base, schedules_root) {
                    Ok(path) => out.push(Chosen {
                        name: rel.clone(),
                        path,
                    }),
                    Err((_, msg)) => log("error", &format!("{msg}; skipped")),
                }
            }
            if out.is_empty() {
                return Err("none of the uploaded templates can be used".into());
            }
            log(
                "info",
                &format!(
                    "using the uploaded templates: {}",
                    out.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            Ok(out)
        }
    }
}

/// An image in a generator's response, checked.
struct ImageOut {
    image: String,
    path: Option<String>,
    status: String,
    text: Option<String>,
}

/// Keeps a checked response's images under `out_dir`: base64 ones are
/// saved, files outside the state folder's `ads/` are copied in.
fn save_images(
    resp: GenerateResponse,
    out_dir: &Path,
    state_dir: &Path,
) -> Result<(String, Vec<ImageOut>), String> {
    if resp.images.is_empty() {
        return Err("the generator returned no images".into());
    }
    let mut out = Vec::new();
    for (i, img) in resp.images.into_iter().enumerate() {
        let (image, path) = match img.source {
            ImageSource::Path(p) => {
                if !p.is_file() {
                    return Err(format!(
                        "image {i}: the generator wrote `{}` but there is no such file",
                        p.display()
                    ));
                }
                let real = std::fs::canonicalize(&p).map_err(|e| e.to_string())?;
                let state_real = std::fs::canonicalize(state_dir).map_err(|e| e.to_string())?;
                // Keep every image under the state folder, where the dashboard serves from.
                let kept = if real.starts_with(state_real.join("ads")) {
                    real
                } else {
                    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
                    let name = format!(
                        "{}-{}",
                        i + 1,
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or("image.png")
                    );
                    let dest = out_dir.join(name);
                    std::fs::copy(&p, &dest)
                        .map_err(|e| format!("image {i}: copying {}: {e}", p.display()))?;
                    std::fs::canonicalize(dest).map_err(|e| e.to_string())?
                };
                let rel = kept.strip_prefix(&state_real).map_err(|e| e.to_string())?;
                (
                    format!("/{}", rel.to_string_lossy()),
                    Some(kept.to_string_lossy().to_string()),
                )
            }
            ImageSource::Url(u) => (u, None),
            ImageSource::PngBase64(b) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| format!("image {i}: png_base64 is not base64: {e}"))?;
                std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
                let dest = out_dir.join(format!("{}.png", i + 1));
                std::fs::write(&dest, bytes).map_err(|e| format!("image {i}: saving: {e}"))?;
                let rel = dest
                    .strip_prefix(state_dir)
                    .unwrap_or(&dest)
                    .to_string_lossy()
                    .to_string();
                (format!("/{rel}"), Some(dest.to_string_lossy().to_string()))
            }
        };
        out.push(ImageOut {
            image,
            path,
            status: img.status.as_str().to_string(),
            text: img.text,
        });
    }
    Ok((resp.ad_run_id, out))
}

impl Runner {
    /// Appends to the run's log (and to the process log).
    pub fn log(&self, run: &Run, level: &str, message: &str) {
        match level {
            "error" => {
                tracing::error!(schedule_id = %run.schedule_id, run_id = %run.id, "{message}")
            }
            "warn" => tracing::warn!(schedule_id = %run.schedule_id, run_id = %run.id, "{message}"),
            _ => tracing::info!(schedule_id = %run.schedule_id, run_id = %run.id, "{message}"),
        }
        let line = LogLine {
            time: self.clock.now(),
            level: level.to_string(),
            message: message.to_string(),
        };
        self.unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((run.id.clone(), line));
    }

    /// Writes what a run did, waiting for a store that cannot write (a
    /// database gone, a full disk) to come back, however long: the work is
    /// done, and its record must not be lost (SPEC 7). Other errors (the run
    /// was taken over, say) are returned at once. While this waits the run
    /// is still this process's, so a recovery leaves it alone.
    async fn persist<T, F, Fut>(&self, run: &Run, what: &str, write: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut waited = false;
        loop {
            match write().await {
                Ok(v) => {
                    if waited {
                        tracing::info!(run_id = %run.id, "{what} recorded: the store is back");
                    }
                    return Ok(v);
                }
                Err(e @ (StoreError::Io(_) | StoreError::Unavailable(_))) => {
                    self.store.mark_failed(&e);
                    if !waited {
                        tracing::error!(run_id = %run.id, "cannot record {what} ({e}); keeping it until the store is back");
                        waited = true;
                    }
                    // Real time, whatever the run's clock: this paces I/O retries.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the lines [`Runner::log`] gathered, with one flush. Lines are
    /// kept back until the next point where the run waits or leaves a mark
    /// outside (a generator call, an export, the end), so nobody reads a
    /// line that a crash could take back, at a few flushes per run instead
    /// of one per line.
    /// Returns true when it wrote and flushed something.
    pub async fn write_log(&self) -> bool {
        let lines = std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|e| e.into_inner()));
        if lines.is_empty() {
            return false;
        }
        let n = lines.len();
        match self.store.append_logs(lines.clone()).await {
            Ok(()) => true,
            Err(e) => {
                self.store.mark_failed(&e);
                tracing::error!("cannot write {n} log line(s) yet: {e}");
                // Kept, in order, for the next write: nobody has seen them.
                let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
                let later = std::mem::replace(&mut *unwritten, lines);
                unwritten.extend(later);
                false
            }
        }
    }

    /// Puts everything the run recorded so far on disk, its gathered lines
    /// included, with one flush; waits for a store that cannot write, since
    /// acting outside on a record a crash could take back might do the work twice.
    async fn barrier(&self, run: &Run, what: &str) -> Result<(), StoreError> {
        self.persist(run, what, || async {
            if self.write_log().await {
                Ok(())
            } else {
                self.store.flush().await
            }
        })
        .await
    }

    /// Does the work of a started run, given the templates already used for
    /// its product. Returns when the run is finished, or when `stop` is set
    /// between templates (then the run is `interrupted`), with the run as
    /// recorded and its schedule after (None when gone).
    pub async fn execute(
        &self,
        run: &Run,
        state: &ScheduleState,
        used: &[String],
        stop: &AtomicBool,
    ) -> Result<(Run, Option<ScheduleState>), StoreError> {
        let started = Instant::now();
        self.log(
            run,
            "info",
            &format!(
                "run started: trigger {}, attempt {}{}",
                serde_json::to_value(run.trigger)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or(""),
                run.attempt,
                run.scheduled_for
                    .map(|t| format!(", for {}", crate::records::fmt_time(t, state.tz())))
                    .unwrap_or_default()
            ),
        );
        let schedule: Schedule = match serde_json::from_value(state.spec.clone()) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .finish(
                        run,
                        Some(format!("the stored schedule does not parse: {e}")),
                        false,
                    )
                    .await
            }
        };
        let product: Product =
            match <Product as serde::Deserialize>::deserialize(state.product_spec.as_ref()) {
                Ok(p) => p,
                Err(e) => {
                    return self
                        .finish(
                            run,
                            Some(format!("the stored product does not parse: {e}")),
                            false,
                        )
                        .await
                }
            };
        let pool = Pool::scan(&self.templates);
        let mut notes = Vec::new();
        let chosen = select_templates(
            &schedule,
            Path::new(&state.source.file),
            &pool,
            &self.schedules,
            used,
            &mut |level, msg| notes.push((level.to_string(), msg.to_string())),
        );
        for (level, msg) in &notes {
            self.log(run, level, msg);
        }
        let chosen = match chosen {
            Ok(c) => c,
            Err(e) => {
                self.log(run, "error", &e);
                return self.finish(run, Some(e), false).await;
            }
        };
        let mut first_error = None;
        let mut interrupted = false;
        let mut cancelled = false;
        // Who asked to cancel, as last read: at the start, then with each
        // template's ads (the same transaction); asked again only after a
        // template that recorded nothing.
        let mut cancel: Option<Option<String>> = Some(run.cancel.as_ref().map(|c| c.by.clone()));
        for (n, template) in chosen.iter().enumerate() {
            let asked = match cancel.take() {
                Some(known) => known,
                None => self.cancel_asked(run).await,
            };
            if let Some(by) = asked {
                cancelled = true;
                self.log(
                    run,
                    "warn",
                    &format!(
                        "stopping: cancelled by {by}; {} template(s) not done, nothing exported",
                        chosen.len() - n
                    ),
                );
                break;
            }
            if !self.leading.load(Ordering::SeqCst) {
                interrupted = true;
                self.log(
                    run,
                    "warn",
                    &format!(
                        "stopping: this daemon no longer leads; {} template(s) not done",
                        chosen.len() - n
                    ),
                );
                break;
            }
            if stop.load(Ordering::SeqCst) {
                interrupted = true;
                self.log(
                    run,
                    "warn",
                    &format!(
                        "stopping: the daemon is shutting down; {} template(s) not done",
                        chosen.len() - n
                    ),
                );
                break;
            }
            self.log(
                run,
                "info",
                &format!(
                    "template {}: calling {}",
                    template.name,
                    self.generator.name()
                ),
            );
            if n == 0 {
                // No work before the run's start is on disk, with its lines
                // so far, in one flush: if the store cannot take it, the
                // start did not happen, and the run is pending again once
                // the store is reopened.
                let recorded = self.write_log().await || self.store.flush().await.is_ok();
                if !recorded {
                    // Lines of a start that did not happen: a new start logs anew.
                    self.unwritten
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clear();
                    return Err(StoreError::Unavailable(
                        "the run's start cannot be recorded; it is not started".into(),
                    ));
                }
            } else if let Err(e) = self
                .barrier(run, "the run's record before the generator call")
                .await
            {
                // The ads of the templates before could not be recorded:
                // no more work on top of them.
                self.log(run, "error", &format!("template {}: {e}", template.name));
                first_error.get_or_insert(format!("template {}: {e}", template.name));
                break;
            }
            match self
                .one_template(run, state, &schedule, &product, template, n)
                .await
            {
                Ok(known) => cancel = Some(known),
                Err(e) => {
                    self.log(run, "error", &format!("template {}: {e}", template.name));
                    first_error.get_or_insert(format!("template {}: {e}", template.name));
                }
            }
        }
        self.log(
            run,
            "info",
            &format!("templates done in {:.1}s", started.elapsed().as_secs_f64()),
        );
        if !interrupted && !cancelled {
            let asked = match cancel.take() {
                Some(known) => known,
                None => self.cancel_asked(run).await,
            };
            if let Some(by) = asked {
                cancelled = true;
                self.log(
                    run,
                    "warn",
                    &format!("cancelled by {by} after the last template; nothing exported"),
                );
            }
        }
        if !interrupted && !cancelled {
            self.export(run, state, &schedule).await?;
        }
        self.finish(run, first_error, interrupted).await
    }

    /// Who asked to cancel the run, if someone did (SPEC 8): read from the
    /// store, where any daemon on it may have written the request. A store
    /// that cannot answer now is asked again after the next template.
    async fn cancel_asked(&self, run: &Run) -> Option<String> {
        match self.store.run(&run.id).await {
            Ok(Some(r)) => r.cancel.map(|c| c.by),
            _ => None,
        }
    }

    /// Makes one template's ads and records them. Returns who asked to cancel
    /// the run, if someone has, as read when the ads were recorded.
    async fn one_template(
        &self,
        run: &Run,
        state: &ScheduleState,
        schedule: &Schedule,
        product: &Product,
        template: &Chosen,
        n: usize,
    ) -> Result<Option<String>, String> {
        let state_dir = std::fs::canonicalize(&self.state).map_err(|e| e.to_string())?;
        let out_dir = state_dir.join("ads").join(&run.id).join(n.to_string());
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
        let abs_template = std::fs::canonicalize(&template.path)
            .map_err(|e| format!("{}: {e}", template.path.display()))?;
        let content_base64 = if self.generator.wants_content() {
            let bytes = std::fs::read(&abs_template).map_err(|e| e.to_string())?;
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            None
        };
        let request = GenerateRequest {
            schedule_id: run.schedule_id.clone(),
            run_id: run.id.clone(),
            idempotency_key: format!("{}/{}", run.id, template.name),
            product: RequestProduct {
                id: product.id.clone(),
                name: product.name.clone(),
                brand: RequestBrand {
                    id: product.brand.id.clone(),
                    name: product.brand.name.clone(),
                },
                hooks: product.hooks.clone(),
                colors: product.colors.clone(),
            },
            template: RequestTemplate {
                name: template.name.clone(),
                media_type: crate::media::content_type(&template.path).to_string(),
                path: abs_template,
                content_base64,
            },
            parameters: schedule.parameters.clone(),
            output_dir: out_dir.clone(),
        };
        let call = Instant::now();
        // The run's start, the ads of the templates before and the lines so
        // far are on disk (`execute` flushed them). The generator's own
        // lines show while it works.
        // The generator's lines are written while the call goes on, in order.
        let logged = tokio::sync::Notify::new();
        let log = |m: &str| {
            self.log(run, "warn", m);
            logged.notify_one();
        };
        self.metrics.generator_calls.fetch_add(1, Ordering::Relaxed);
        // A hung call must not hold the one worker: past the schedule's
        // timeout the call is dropped (an HTTP request is cut, a `cmd:`
        // program is killed with its process group) and the run goes on.
        let limit = crate::spec::check::generator_timeout(schedule);
        let pending = tokio::time::timeout(limit, self.generator.generate(&request, &log));
        tokio::pin!(pending);
        let answer = loop {
            tokio::select! {
                answer = &mut pending => break answer,
                _ = logged.notified() => {
                    self.write_log().await;
                }
            }
        };
        self.write_log().await;
        let parsed = match answer {
            Ok(Ok(resp)) => save_images(resp, &out_dir, &state_dir),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "timed out after {}; the generator call was abandoned",
                crate::scheduler::human_duration(
                    chrono::Duration::from_std(limit).unwrap_or_default()
                )
            )),
        };
        let (ad_run_id, images) = parsed.inspect_err(|_| {
            self.metrics
                .generator_failures
                .fetch_add(1, Ordering::Relaxed);
        })?;
        let now = self.clock.now();
        let ads: Vec<Ad> = images
            .into_iter()
            .map(|i| Ad {
                template: template.name.clone(),
                ad_run_id: ad_run_id.clone(),
                image: i.image,
                path: i.path,
                status: i.status,
                text: i.text,
                review: None,
            })
            .collect();
        let count = ads.len();
        let rejected = ads.iter().filter(|a| a.status == "rejected").count();
        let usage = Usage {
            product: product.id.clone(),
            template: template.name.clone(),
            used_at: now,
            ad_run_id: ad_run_id.clone(),
            run_id: run.id.clone(),
            tenant_id: state.tenant_id.clone(),
        };
        if self.store.shared() {
            // Every daemon on a shared store serves `/ads/...`, not only
            // the one whose disk holds the file.
            for ad in &ads {
                if let (Some(key), Some(path)) = (ad.image.strip_prefix("/ads/"), &ad.path) {
                    let bytes = tokio::fs::read(path)
                        .await
                        .map_err(|e| format!("reading the image {path}: {e}"))?;
                    self.persist(run, "an image", || self.store.put_image(key, bytes.clone()))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        let result = TemplateResult {
            template: template.name.clone(),
            ad_run_id: ad_run_id.clone(),
            ads,
            usage,
        };
        // The ads exist now: their record waits for a store that is down.
        // It reaches the disk with the next flush, before anything else
        // leaves the process (the next call, an export, the run's end).
        let cancel = self
            .persist(run, "the template's ads", || {
                self.store.add_template(&run.id, result.clone())
            })
            .await
            .map_err(|e| e.to_string())?;
        self.log(
            run,
            "info",
            &format!(
                "template {}: ad run {ad_run_id}, {count} image{}{} in {:.1}s",
                template.name,
                if count == 1 { "" } else { "s" },
                if rejected > 0 {
                    format!(" ({rejected} rejected)")
                } else {
                    String::new()
                },
                call.elapsed().as_secs_f64()
            ),
        );
        Ok(cancel)
    }

    /// Sends the ads where the schedule says and records each result on the
    /// run. A failed export never fails the run: the ads are kept.
    async fn export(
        &self,
        run: &Run,
        state: &ScheduleState,
        schedule: &Schedule,
    ) -> Result<(), StoreError> {
        if schedule.export.destination == crate::spec::model::Destination::None {
            return Ok(());
        }
        let Some(current) = self.store.run(&run.id).await? else {
            return Ok(());
        };
        if current.ads.iter().all(|a| a.status == "rejected") {
            self.log(
                run,
                "warn",
                "no exportable ads (none made, or all rejected); nothing sent",
            );
            return Ok(());
        }
        if schedule.export.needs_review() {
            // The ads wait for a person (SPEC 11); the worker moves on.
            let due = self.clock.now() + crate::spec::check::review_window(&schedule.export);
            let waiting = crate::export::review::awaiting(&schedule.export, due, state.tz());
            self.log(
                run,
                "info",
                &format!(
                    "the ads wait for review until {}; approved ones are sent then",
                    crate::records::fmt_time(due, state.tz())
                ),
            );
            return self
                .persist(run, "the export waiting for review", || {
                    self.store.set_exports(&run.id, waiting.clone(), Some(due))
                })
                .await;
        }
        let summary = crate::export::Summary::of(&current, state, self.public_url.as_deref());
        self.barrier(run, "the run's record before the export")
            .await?;
        let results = crate::export::export_run(&self.settings, &schedule.export, &summary).await;
        for r in &results {
            self.metrics.export(&r.destination, &r.status);
            let level = if r.status == "sent" { "info" } else { "error" };
            self.log(run, level, &r.log_line());
        }
        self.persist(run, "the export results", || {
            self.store.set_exports(&run.id, results.clone(), None)
        })
        .await?;
        Ok(())
    }

    /// Records the end of a run (completed when any template made ads) with
    /// its last lines, the outcome's among them, in one durable write.
    async fn finish(
        &self,
        run: &Run,
        error: Option<String>,
        interrupted: bool,
    ) -> Result<(Run, Option<ScheduleState>), StoreError> {
        let now: DateTime<Utc> = self.clock.now();
        let end = RunEnd {
            error,
            interrupted,
            now,
            default_retries: DEFAULT_RETRIES as u32,
        };
        let lines = std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|e| e.into_inner()));
        let ended = self
            .persist(run, "the run's outcome", || {
                self.store
                    .finish_logged(&run.id, end.clone(), lines.clone(), outcome_line)
            })
            .await;
        let (finished, schedule) = match ended {
            Ok(x) => x,
            Err(e) => {
                // Kept, in order, for the next write: nobody has seen them.
                let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
                let later = std::mem::replace(&mut *unwritten, lines);
                unwritten.extend(later);
                return Err(e);
            }
        };
        let line = outcome_line(&finished);
        match line.level.as_str() {
            "info" => {
                tracing::info!(schedule_id = %run.schedule_id, run_id = %run.id, "{}", line.message)
            }
            _ => {
                tracing::error!(schedule_id = %run.schedule_id, run_id = %run.id, "{}", line.message)
            }
        }
        Ok((finished, schedule))
    }
}

/// The last line of a run's log: how it ended.
fn outcome_line(finished: &Run) -> LogLine {
    let level = if finished.status == RunStatus::Completed {
        "info"
    } else {
        "error"
    };
    let message = format!(
        "run {}: {} ad{} from {} template{}{}",
        finished.status.as_str(),
        finished.ads.len(),
        if finished.ads.len() == 1 { "" } else { "s" },
        finished.templates_used.len(),
        if finished.templates_used.len() == 1 {
            ""
        } else {
            "s"
        },
        finished
            .error_message
            .as_ref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default()
    );
    LogLine {
        time: finished.completed_at.unwrap_or_else(Utc::now),
        level: level.to_string(),
        message,
    }
}

/// Shared stop flag for the worker.
pub type StopFlag = Arc<AtomicBool>;
