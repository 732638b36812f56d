//! Reconcile: the documents read from the schedules folder against the
//! stored schedule states, as a pure function. Idempotent: reconciling the
//! same documents twice changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::calendar::Calendar;
use crate::records::{FileError, NamedRef, ScheduleState, ScheduleStatus, SourceRef};
use crate::spec::{self, Catalog, Severity};

/// A schedule as its file wants it.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The schedule document.
    pub doc: std::sync::Arc<spec::Schedule>,
    /// The document as compact JSON text (shared with the catalog; parsed
    /// only when compared or applied: a parsed tree held for each of
    /// 10,000 schedules cost about ten times the text's memory).
    pub spec: std::sync::Arc<str>,
    /// The product document.
    pub product: std::sync::Arc<spec::Product>,
    /// The product document as JSON, parsed once per product and shared by
    /// its schedules (products are few).
    pub product_spec: std::sync::Arc<Value>,
    /// Where it is defined.
    pub source: SourceRef,
    /// What the documents and their place say, as one hash: equal hashes
    /// mean nothing to apply.
    pub hash: u64,
}

impl Desired {
    /// The document, parsed (serde_json wrote the text, so it parses), and
    /// its product's.
    fn values(&self) -> (Value, std::sync::Arc<Value>) {
        let spec = serde_json::from_str(&self.spec).unwrap_or(Value::Null);
        (spec, self.product_spec.clone())
    }
}

/// What the folder says: the schedules to run and the files in error.
#[derive(Debug, Clone, Default)]
pub struct DesiredSet {
    /// Valid schedules from valid files, by id.
    pub schedules: BTreeMap<String, Desired>,
    /// Files with errors, each with its first error.
    pub invalid_files: BTreeMap<String, FileError>,
    /// Schedules whose own file is fine but whose product's file is not:
    /// they keep the version in force, with this error.
    pub held: BTreeMap<String, FileError>,
}

impl DesiredSet {
    /// Builds the desired set from a loaded catalog: only files without
    /// errors contribute; an invalid file keeps its last valid version in force.
    pub fn from_catalog(catalog: &Catalog) -> DesiredSet {
        let mut set = DesiredSet::default();
        for f in &catalog.findings {
            if f.severity == Severity::Error {
                let file = catalog.display(f.file).to_string();
                set.invalid_files.entry(file.clone()).or_insert(FileError {
                    file,
                    line: f.pos.line,
                    column: f.pos.column,
                    message: f.message.clone(),
                });
            }
        }
        let bad_files: std::collections::HashSet<usize> = catalog
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.file)
            .collect();
        let products: std::collections::HashMap<&str, &spec::Document<spec::Product>> = catalog
            .products
            .iter()
            .map(|p| (p.doc.id.as_str(), p))
            .collect();
        let mut product_values = ProductValues::new();
        for d in &catalog.schedules {
            if bad_files.contains(&d.file) {
                continue;
            }
            let Some(product) = products.get(d.doc.product.as_str()) else {
                continue;
            };
            if bad_files.contains(&product.file) {
                // The product's file is broken: keep what is in force.
                let file = catalog.display(product.file);
                if let Some(e) = set.invalid_files.get(file) {
                    set.held.insert(d.doc.id.clone(), e.clone());
                }
                continue;
            }
            set.schedules.insert(
                d.doc.id.clone(),
                desired_at(d, source_of(catalog, d), product, &mut product_values),
            );
        }
        set
    }
}

/// Each product's document as JSON, parsed once and shared by its schedules.
type ProductValues = std::collections::HashMap<String, std::sync::Arc<Value>>;

/// Where schedule `d` of `catalog` is defined.
fn source_of(catalog: &Catalog, d: &spec::Document<spec::Schedule>) -> SourceRef {
    SourceRef {
        file: catalog.display(d.file).to_string(),
        line: catalog.doc_line(d.file, d.index),
    }
}

/// The [`Desired`] of schedule `d`, defined at `source`.
fn desired_at(
    d: &spec::Document<spec::Schedule>,
    source: SourceRef,
    product: &spec::Document<spec::Product>,
    product_values: &mut ProductValues,
) -> Desired {
    let hash = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // Stored with the state it produced (a reload, a restart
        // included, skips what hashes equal), so the version is in
        // it: a newer adsched may map the same documents to a
        // different state.
        (
            env!("CARGO_PKG_VERSION"),
            d.hash,
            product.hash,
            &source.file,
            source.line,
        )
            .hash(&mut h);
        h.finish()
    };
    Desired {
        doc: d.doc.clone(),
        spec: d.json.clone(),
        product: product.doc.clone(),
        product_spec: product_values
            .entry(product.doc.id.clone())
            .or_insert_with(|| std::sync::Arc::new(product.value()))
            .clone(),
        source,
        hash,
    }
}

/// Builds, file by file while a folder is still being read, the schedules
/// its whole read is expected to want, so a store can apply them while the
/// rest is parsed (see `Store::reconcile_staged`).
///
/// Only what one file says can be known before the last file: a schedule
/// is staged when its file has no error of its own and its product has
/// come from such a file (a schedule read first waits for it). What needs
/// every file (an id or a product defined twice, a product never defined)
/// is not, so a staged schedule is a guess that
/// [`DesiredSet::from_catalog`] of the whole read confirms or [`refuted`]
/// finds.
#[derive(Debug, Default)]
pub struct Stager {
    /// Products of files without errors, by id: the first one wins.
    products: std::collections::HashMap<String, spec::Document<spec::Product>>,
    product_values: ProductValues,
    /// Schedules read before their product, by product id.
    waiting: std::collections::HashMap<String, Vec<(spec::Document<spec::Schedule>, SourceRef)>>,
    batch: DesiredSet,
}

impl Stager {
    /// Takes in one file, read on its own (`file` is that file's catalog).
    /// Returns a batch once it holds `batch` schedules.
    pub fn file_read(&mut self, file: &Catalog, batch: usize) -> Option<DesiredSet> {
        if file.has_errors() {
            return None;
        }
        for p in &file.products {
            if self.products.contains_key(&p.doc.id) {
                continue;
            }
            self.products.insert(p.doc.id.clone(), p.clone());
            for (d, source) in self.waiting.remove(&p.doc.id).unwrap_or_default() {
                self.stage(&d, source, p);
            }
        }
        for d in &file.schedules {
            let source = source_of(file, d);
            match self.products.get(&d.doc.product).cloned() {
                Some(p) => self.stage(d, source, &p),
                None => self
                    .waiting
                    .entry(d.doc.product.clone())
                    .or_default()
                    .push((d.clone(), source)),
            }
        }
        (self.batch.schedules.len() >= batch).then(|| std::mem::take(&mut self.batch))
    }

    fn stage(
        &mut self,
        d: &spec::Document<spec::Schedule>,
        source: SourceRef,
        product: &spec::Document<spec::Product>,
    ) {
        let desired = desired_at(d, source, product, &mut self.product_values);
        self.batch.schedules.insert(d.doc.id.clone(), desired);
    }

    /// What is staged and not yet returned, if anything.
    pub fn rest(&mut self) -> Option<DesiredSet> {
        (!self.batch.schedules.is_empty()).then(|| std::mem::take(&mut self.batch))
    }
}

/// The staged schedules (id, hash) that the whole read `whole` does not
/// want exactly as they were staged.
pub fn refuted<'a>(
    staged: impl IntoIterator<Item = (&'a str, u64)>,
    whole: &DesiredSet,
) -> std::collections::HashSet<&'a str> {
    staged
        .into_iter()
        .filter(|(id, hash)| whole.schedules.get(*id).map(|d| d.hash) != Some(*hash))
        .map(|(id, _)| id)
        .collect()
}

/// The part of a schedule that decides its fire times.
pub fn calendar_key(spec: &Value) -> String {
    /// The timing fields in the order serde_json's map sorts them, so the
    /// key is the text a state stored by an earlier version holds.
    #[derive(serde::Serialize)]
    struct Key<'a> {
        cron: &'a Value,
        daily: &'a Value,
        monthly: &'a Value,
        once: &'a Value,
        timezone: &'a Value,
        weekly: &'a Value,
    }
    static NULL: Value = Value::Null;
    let timing = spec.get("schedule");
    let pick = |k: &str| timing.and_then(|t| t.get(k)).unwrap_or(&NULL);
    serde_json::to_string(&Key {
        cron: pick("cron"),
        daily: pick("daily"),
        monthly: pick("monthly"),
        once: pick("once"),
        timezone: pick("timezone"),
        weekly: pick("weekly"),
    })
    .unwrap_or_default()
}

/// What reconcile does to one schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new schedule.
    Added(ScheduleState),
    /// A changed schedule (or its error changed).
    Updated {
        /// The state before.
        before: Box<ScheduleState>,
        /// The state after.
        after: Box<ScheduleState>,
    },
    /// A schedule whose document is gone.
    Removed(ScheduleState),
}

/// What a reload logs of a [`Change`], without its states: 10,000 of them
/// held until a first start's log line cost a fifth of its memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Noted {
    /// Added, with its description.
    Added(String),
    /// Updated: the error its files have now, if any, and its status.
    Updated(Option<FileError>, ScheduleStatus),
    /// Removed.
    Removed,
}

impl Change {
    /// What a reload logs of it.
    pub fn noted(&self) -> Noted {
        match self {
            Change::Added(s) => Noted::Added(s.description.clone()),
            Change::Updated { after, .. } => Noted::Updated(after.error.clone(), after.status),
            Change::Removed(_) => Noted::Removed,
        }
    }

    /// The state to store.
    pub fn state(&self) -> &ScheduleState {
        match self {
            Change::Added(s) | Change::Removed(s) => s,
            Change::Updated { after, .. } => after,
        }
    }
}

/// Reconciles one schedule id: the desired document (if any) against the
/// stored state (if any). None when nothing changes.
pub fn reconcile_one(
    desired: Option<&Desired>,
    stored: Option<&ScheduleState>,
    set: &DesiredSet,
    now: DateTime<Utc>,
) -> Option<Change> {
    match (desired, stored) {
        (None, None) => None,
        (Some(d), None) => Some(Change::Added(fresh(d, now))),
        (None, Some(s)) => {
            let held = set
                .held
                .get(&s.id)
                .or_else(|| set.invalid_files.get(&s.source.file));
            if let Some(err) = held {
                // Its file is broken: the last valid version stays in force.
                if s.error.as_ref() == Some(err) {
                    return None;
                }
                let mut after = s.clone();
                after.error = Some(err.clone());
                return updated(s, after);
            }
            if s.status == ScheduleStatus::Removed {
                return None;
            }
            let mut after = s.clone();
            after.status = ScheduleStatus::Removed;
            after.next_run_at = None;
            after.retry = None;
            after.error = None;
            Some(Change::Removed(after))
        }
        (Some(d), Some(s)) => {
            // Nothing in the documents changed: nothing to do. Checked first
            // because a reload after one edit visits every schedule.
            let settled = match s.status {
                ScheduleStatus::Active => s.next_run_at.is_some(),
                ScheduleStatus::Paused | ScheduleStatus::Completed => true,
                ScheduleStatus::Removed => false,
            };
            let values = d.values();
            if settled
                && s.error.is_none()
                && s.source == d.source
                && s.spec == values.0
                && s.product_spec == values.1
            {
                return None;
            }
            let mut after = s.clone();
            let calendar = apply_document(&mut after, d, values);
            after.error = None;
            let calendar_changed = s.calendar_key != after.calendar_key;
            // The file's `paused: true`, or an operator's pause (SPEC 8),
            // which holds across edits until a resume or its `until`.
            let paused = d.doc.paused || s.pause.as_ref().is_some_and(|p| p.holds(now));
            let can_run = after.max_runs.is_none_or(|m| after.runs_completed < m);
            let was_once_done =
                s.status == ScheduleStatus::Completed && !calendar_changed && is_once(&after.spec);
            // The document decides, whatever the stored status was: a
            // removed schedule whose document is back is live again.
            after.status = if paused {
                ScheduleStatus::Paused
            } else if !can_run || was_once_done {
                ScheduleStatus::Completed
            } else {
                ScheduleStatus::Active
            };
            let resumed =
                after.status == ScheduleStatus::Active && s.status != ScheduleStatus::Active;
            if after.status != ScheduleStatus::Active {
                after.next_run_at = None;
            } else if calendar_changed || resumed || after.next_run_at.is_none() {
                // Time spent paused, removed or completed is never caught up.
                after.next_run_at = next_time(calendar.as_ref(), now);
                if after.next_run_at.is_none() && is_once(&after.spec) {
                    if calendar_changed {
                        // Moved to a time already past: a time never seen
                        // before, as when first read (SPEC 3.3), so a record
                        // says what became of it instead of nothing.
                        after.next_run_at = past_once_time(calendar.as_ref(), now);
                    }
                    if after.next_run_at.is_none() {
                        after.status = ScheduleStatus::Completed;
                    }
                }
            }
            updated(s, after)
        }
    }
}

/// The schedule once an operator's pause ends (a resume, or its `until`
/// passed): active again from its next future time, unless its file says
/// `paused: true` (the file wins) or it has nothing left to run. Time spent
/// paused is never caught up.
pub fn resumed(s: &ScheduleState, now: DateTime<Utc>) -> ScheduleState {
    let mut after = s.clone();
    after.pause = None;
    let file_paused = s.spec.get("paused").and_then(Value::as_bool) == Some(true);
    if s.status != ScheduleStatus::Paused || file_paused {
        return after;
    }
    let can_run = after.max_runs.is_none_or(|m| after.runs_completed < m);
    let calendar = serde_json::from_value::<spec::Schedule>(s.spec.clone())
        .ok()
        .and_then(|doc| spec::check::calendar(&doc).ok());
    let next = calendar.as_ref().and_then(|cal| cal.next_after(now));
    match next {
        Some(t) if can_run => {
            after.status = ScheduleStatus::Active;
            after.next_run_at = Some(t);
        }
        _ => {
            after.status = ScheduleStatus::Completed;
            after.next_run_at = None;
        }
    }
    // A `once` whose time came while this pause held gets its record:
    // kept due, and recorded `missed` by the scheduler (SPEC 3.3: never
    // dropped silently; paused time is never caught up). A time before
    // the pause began was the scheduler's to record while it was active.
    let held_back = s.pause.as_ref().and_then(|p| {
        let cal = calendar.as_ref()?;
        matches!(cal.form(), crate::calendar::Form::Once(_))
            .then(|| cal.next_after(p.note.at))
            .flatten()
            .filter(|t| *t <= now)
    });
    if let Some(t) = held_back {
        if can_run && s.pending_run.is_none() && s.running_run.is_none() {
            after.status = ScheduleStatus::Active;
            after.next_run_at = Some(t);
            after.resumed_at = Some(now);
        }
    }
    after
}

fn updated(before: &ScheduleState, after: ScheduleState) -> Option<Change> {
    (before != &after).then(|| Change::Updated {
        before: Box::new(before.clone()),
        after: Box::new(after),
    })
}

fn is_once(spec: &Value) -> bool {
    spec.pointer("/schedule/once").is_some_and(|v| !v.is_null())
}

fn next_time(calendar: Option<&Calendar>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    calendar?.next_after(now)
}

/// The time of a `once` that is already past. SPEC 3.3 wants a record of
/// it (a catch-up inside the window, else `missed`), which the scheduler
/// writes for an active schedule with a past time; so that time is kept due.
fn past_once_time(calendar: Option<&Calendar>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    calendar?.next_after(now - chrono::Duration::days(3660))
}

fn fresh(d: &Desired, now: DateTime<Utc>) -> ScheduleState {
    let mut s = ScheduleState::empty(&d.doc.id);
    let calendar = apply_document(&mut s, d, d.values());
    if d.doc.paused {
        s.status = ScheduleStatus::Paused;
    } else {
        s.next_run_at = next_time(calendar.as_ref(), now);
        if s.next_run_at.is_none() && is_once(&s.spec) {
            s.next_run_at = past_once_time(calendar.as_ref(), now);
        }
    }
    s
}

/// Copies what the document says into the state (counters untouched);
/// returns its calendar, built once for the fire times that follow.
fn apply_document(
    s: &mut ScheduleState,
    d: &Desired,
    (spec, product_spec): (Value, std::sync::Arc<Value>),
) -> Option<Calendar> {
    let doc = &d.doc;
    s.name = doc.name.clone();
    s.tenant_id = doc.tenant_id.clone();
    s.product = NamedRef {
        id: d.product.id.clone(),
        name: d.product.name.clone(),
    };
    s.brand = NamedRef {
        id: d.product.brand.id.clone(),
        name: d.product.brand.name.clone(),
    };
    let calendar = spec::check::calendar(doc).ok();
    if let Some(cal) = &calendar {
        s.timezone = cal.timezone().name().to_string();
        s.description = cal.describe();
    }
    s.max_runs = doc.schedule.max_runs;
    s.source = d.source.clone();
    s.calendar_key = calendar_key(&spec);
    s.spec = spec;
    s.product_spec = product_spec;
    calendar
}

/// Reconciles everything: the plan of changes, by id.
pub fn plan(
    desired: &DesiredSet,
    stored: &BTreeMap<String, ScheduleState>,
    now: DateTime<Utc>,
) -> Vec<(String, Change)> {
    let ids: BTreeSet<&String> = desired.schedules.keys().chain(stored.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            reconcile_one(desired.schedules.get(id), stored.get(id), desired, now)
                .map(|c| (id.clone(), c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{calendar_key, refuted, DesiredSet, Stager};
    use crate::spec::{self, Options, Pool};

    const PRODUCT: &str =
        "apiVersion: adsched/v1\nkind: Product\nid: p1\nname: P\nbrand: {id: acme, name: Acme}\n";

    fn schedule(id: &str) -> String {
        format!("apiVersion: adsched/v1\nkind: Schedule\nid: {id}\nname: S\nproduct: p1\nschedule:\n  daily: {{at: \"09:00\"}}\ntemplates: {{mode: unused, count: 1}}\n")
    }

    /// A folder read as the daemon's first start reads it, staging as it goes.
    struct Read {
        /// The staged batches (of 2), the rest last.
        batches: Vec<DesiredSet>,
        /// The whole read's set.
        whole: DesiredSet,
        /// The files as they were read, then as the catalog lists them.
        read: Vec<String>,
        listed: Vec<String>,
    }

    /// Reads `files` (path, text).
    fn stage(files: &[(&str, &str)]) -> Read {
        let dir = std::env::temp_dir().join(format!("adsched-stage-{}", ulid::Ulid::new()));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let opts = Options::new(Pool::default(), chrono::Utc::now());
        let mut stager = Stager::default();
        let mut batches = Vec::new();
        let mut cache = spec::ParseCache::default();
        let mut read = Vec::new();
        let name = |f: &spec::SourceFile| f.path.strip_prefix(&dir).unwrap().display().to_string();
        let catalog =
            spec::load_cached_each(std::slice::from_ref(&dir), &opts, &mut cache, &mut |file| {
                read.push(name(&file.files[0]));
                batches.extend(stager.file_read(file, 2));
            })
            .unwrap();
        batches.extend(stager.rest());
        let listed = catalog.files.iter().map(name).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        Read {
            batches,
            whole: DesiredSet::from_catalog(&catalog),
            read,
            listed,
        }
    }

    fn staged(batches: &[DesiredSet]) -> Vec<(&str, u64)> {
        batches
            .iter()
            .flat_map(|b| b.schedules.iter().map(|(id, d)| (id.as_str(), d.hash)))
            .collect()
    }

    #[test]
    fn a_staged_schedule_is_what_the_whole_read_wants() {
        let (a, b, c) = (schedule("a"), schedule("b"), schedule("c"));
        let broken = format!("{}  oops: 1\n", schedule("broken"));
        let Read { batches, whole, .. } = stage(&[
            ("0-before.yaml", &schedule("before")),
            ("1-products.yaml", PRODUCT),
            ("2-a.yaml", &a),
            ("3-b.yaml", &b),
            ("4-c.yaml", &c),
            ("5-broken.yaml", &broken),
        ]);
        let sizes: Vec<usize> = batches.iter().map(|b| b.schedules.len()).collect();
        assert_eq!(sizes, [2, 2], "in batches of two");
        let ids: Vec<&str> = staged(&batches).iter().map(|(id, _)| *id).collect();
        // `before` waited for its product; `broken`'s file has an error.
        assert_eq!(ids, ["a", "before", "b", "c"]);
        assert!(!whole.schedules.contains_key("broken"));
        assert!(refuted(staged(&batches), &whole).is_empty());
        for (id, hash) in staged(&batches) {
            let d = &whole.schedules[id];
            let s = &batches.iter().find_map(|b| b.schedules.get(id)).unwrap();
            assert_eq!((hash, &s.source, &s.spec), (d.hash, &d.source, &d.spec));
        }
    }

    /// A repository keeps its products at the top and its schedules in a
    /// folder per brand: the products are read first, so each schedule is
    /// staged as its file is read, yet the catalog lists files in path order.
    #[test]
    fn files_at_the_top_of_the_folder_are_read_first() {
        let r = stage(&[
            ("acme/a.yaml", &schedule("a")),
            ("acme/b.yaml", &schedule("b")),
            ("products.yaml", PRODUCT),
        ]);
        assert_eq!(r.read, ["products.yaml", "acme/a.yaml", "acme/b.yaml"]);
        assert_eq!(r.listed, ["acme/a.yaml", "acme/b.yaml", "products.yaml"]);
        assert_eq!(r.batches.len(), 1, "both staged by the time b was read");
        assert!(refuted(staged(&r.batches), &r.whole).is_empty());
    }

    #[test]
    fn an_id_a_later_file_defines_again_refutes_what_was_staged() {
        let Read { batches, whole, .. } = stage(&[
            ("1-products.yaml", PRODUCT),
            ("2-a.yaml", &schedule("a")),
            ("3-b.yaml", &schedule("b")),
            ("4-a-again.yaml", &schedule("a")),
        ]);
        assert!(staged(&batches).iter().any(|(id, _)| *id == "a"));
        assert!(!whole.schedules.contains_key("a"));
        let a = refuted(staged(&batches), &whole);
        assert_eq!(a.into_iter().collect::<Vec<_>>(), ["a"], "b stands");
        // A product defined again refutes every schedule staged with it.
        let Read { batches, whole, .. } = stage(&[
            ("1-products.yaml", PRODUCT),
            ("2-a.yaml", &schedule("a")),
            ("3-products-again.yaml", PRODUCT),
        ]);
        assert!(refuted(staged(&batches), &whole).contains("a"));
    }

    #[test]
    fn the_calendar_key_is_the_stored_text() {
        let spec = serde_json::json!({
            "id": "s",
            "schedule": {
                "daily": {"at": "09:00"},
                "timezone": "America/Los_Angeles",
                "max_runs": 3,
            },
        });
        assert_eq!(
            calendar_key(&spec),
            r#"{"cron":null,"daily":{"at":"09:00"},"monthly":null,"once":null,"timezone":"America/Los_Angeles","weekly":null}"#
        );
        assert_eq!(
            calendar_key(&serde_json::json!({"id": "s"})),
            r#"{"cron":null,"daily":null,"monthly":null,"once":null,"timezone":null,"weekly":null}"#
        );
    }
}
