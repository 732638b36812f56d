//! A draft file checked as `adsched validate` checks it, against the rest
//! of the schedules tree: the one implementation behind the API's
//! `POST /api/v1/validate` and `preview` (SPEC 9) and the MCP server's
//! `validate_schedule`.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{load, Catalog, Document, Finding, Options, Schedule, Severity};

/// The name a draft goes by when the caller gives no path.
pub const DEFAULT_DRAFT_PATH: &str = "schedule.yaml";

/// Why a draft could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The `path` is not a plain relative YAML path inside the folder.
    #[error("`path` `{0}` must be a relative path inside the schedules folder ending in .yaml or .yml, without `..` or hidden names, e.g. acme/collagen-weekly.yaml")]
    BadPath(String),
}

/// The draft's place relative to the schedules folder `tree`: a plain
/// relative `.yaml` path. The path may also be given as seen from the
/// repository (`schedules/acme/x.yaml` for a folder named `schedules`).
pub fn draft_path(tree: &Path, path: Option<&str>) -> Result<PathBuf, DraftError> {
    let Some(given) = path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(PathBuf::from(DEFAULT_DRAFT_PATH));
    };
    let bad = || DraftError::BadPath(given.to_string());
    let p = Path::new(given);
    let plain = p.components().all(|c| match c {
        Component::Normal(n) => !n.to_string_lossy().starts_with('.'),
        Component::CurDir => true,
        _ => false,
    });
    let yaml = p
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    if !plain || !yaml {
        return Err(bad());
    }
    let mut rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if let (Some(folder), Some(Component::Normal(first))) =
        (tree.file_name(), rel.components().next())
    {
        // Unless the folder really has a subfolder of its own name.
        if first == folder && !tree.join(first).exists() {
            rel = rel.components().skip(1).collect();
        }
    }
    if rel.as_os_str().is_empty() || rel.extension().is_none() {
        return Err(bad());
    }
    Ok(rel)
}

/// A checked draft: its file alone (file 0), checked with the whole tree.
#[derive(Debug)]
pub struct Draft {
    catalog: Catalog,
    rel: PathBuf,
}

/// Checks `yaml` as the file at `path` (see [`draft_path`]) of the tree at
/// `tree`, with the products, ids and template pool the tree and `opts` give;
/// the tree's files are read through `cache` (keep one per tree).
pub fn check(
    tree: &Path,
    yaml: &str,
    path: Option<&str>,
    opts: &Options,
    cache: &mut load::ParseCache,
) -> Result<Draft, DraftError> {
    let rel = draft_path(tree, path)?;
    // Every file by its path inside the folder, the draft included.
    let shown = rel.to_string_lossy().replace('\\', "/");
    let mut catalog = load::load_draft(tree, &rel, &shown, yaml.as_bytes(), opts, cache);
    let file = catalog.files.len() - 1;
    // Paths in the findings as seen from the folder: a draft's checker
    // answers people who need not know where the daemon keeps it.
    let mut prefixes = vec![format!("{}/", tree.display())];
    if let Ok(real) = std::fs::canonicalize(tree) {
        prefixes.push(format!("{}/", real.display()));
    }
    for f in catalog.findings.iter_mut().filter(|f| f.file == file) {
        for p in &prefixes {
            if f.message.contains(p.as_str()) {
                f.message = f.message.replace(p.as_str(), "");
            }
        }
    }
    // The draft alone from here on: the rest of the folder (10,000 files'
    // documents) is not kept for as long as the caller holds the answer.
    let keep: Vec<bool> = (0..catalog.files.len()).map(|i| i == file).collect();
    let mut alone = catalog.only_files(&keep);
    alone.schedules = catalog
        .schedules
        .into_iter()
        .filter(|d| d.file == file)
        .map(|mut d| {
            d.file = 0;
            d
        })
        .collect();
    Ok(Draft {
        catalog: alone,
        rel,
    })
}

impl Draft {
    /// The draft's path inside the schedules folder, as findings name it.
    pub fn shown(&self) -> &str {
        self.catalog.display(0)
    }

    /// The draft's path inside the schedules folder.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The draft's findings, by position.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.catalog.findings.iter()
    }

    /// No error (warnings allowed).
    pub fn valid(&self) -> bool {
        !self.findings().any(|f| f.severity == Severity::Error)
    }

    /// Non-empty documents of the draft.
    pub fn documents(&self) -> usize {
        let f = &self.catalog.files[0];
        f.doc_empty.iter().filter(|e| !**e).count()
    }

    /// The draft's valid schedules.
    pub fn schedules(&self) -> impl Iterator<Item = &Document<Schedule>> {
        self.catalog.schedules.iter()
    }

    /// The draft alone, as a catalog `report::render` prints (SPEC 2 JSON).
    pub fn report(&self) -> Catalog {
        self.catalog.clone()
    }

    /// The draft's schedule `id`, or its only one: what a preview shows.
    pub fn pick(&self, id: Option<&str>) -> Result<&Document<Schedule>, PickError> {
        let all: Vec<&Document<Schedule>> = self.schedules().collect();
        match (id, all.as_slice()) {
            (Some(id), all) => all
                .iter()
                .find(|d| d.doc.id == id)
                .copied()
                .ok_or_else(|| PickError::NoSuch(id.to_string())),
            (None, [one]) => Ok(one),
            (None, []) => Err(PickError::None),
            (None, all) => Err(PickError::Several(
                all.iter().map(|d| d.doc.id.clone()).collect(),
            )),
        }
    }
}

/// Why a draft has no schedule to preview.
#[derive(Debug, thiserror::Error)]
pub enum PickError {
    /// No valid schedule in the draft.
    #[error("the draft holds no valid schedule")]
    None,
    /// No valid schedule with this id.
    #[error("the draft holds no valid schedule with id `{0}`")]
    NoSuch(String),
    /// Several: the caller must say which.
    #[error("the draft holds several schedules ({}); give `id` to pick one", .0.join(", "))]
    Several(Vec<String>),
}

/// The next `count` fire times of `doc` strictly after `after` (SPEC 3.1:
/// the calendar alone, `max_runs` not applied).
pub fn fire_times(
    doc: &Schedule,
    after: DateTime<Utc>,
    count: usize,
) -> Result<crate::views::FireTimesView, String> {
    use chrono::SecondsFormat;
    let cal = super::check::calendar(doc).map_err(|e| {
        format!(
            "schedule `{}` has no usable calendar: {}",
            doc.id, e.message
        )
    })?;
    let tz = cal.timezone();
    Ok(crate::views::FireTimesView {
        id: doc.id.clone(),
        timezone: tz.name().to_string(),
        description: cal.describe(),
        times: cal
            .upcoming(after, count)
            .into_iter()
            .map(|t| {
                t.with_timezone(&tz)
                    .to_rfc3339_opts(SecondsFormat::Secs, false)
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pool;

    #[test]
    fn draft_paths_stay_inside_the_schedules_folder() {
        let tree = Path::new("/nonexistent/schedules");
        assert_eq!(draft_path(tree, None).unwrap(), Path::new("schedule.yaml"));
        assert_eq!(
            draft_path(tree, Some("acme/x.yaml")).unwrap(),
            Path::new("acme/x.yaml")
        );
        assert_eq!(
            draft_path(tree, Some("schedules/acme/x.yml")).unwrap(),
            Path::new("acme/x.yml")
        );
        for bad in [
            "../x.yaml",
            "/etc/x.yaml",
            "acme/.x.yaml",
            "x.txt",
            "schedules",
            "acme/../../x.yaml",
        ] {
            assert!(draft_path(tree, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_edit_in_place_is_not_its_own_duplicate_but_a_copy_is() {
        let dir = std::env::temp_dir().join(format!("adsched-draft-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(dir.join("acme")).unwrap();
        let product = "apiVersion: adsched/v1\nkind: Product\nid: p1\nname: P\nbrand: {id: acme, name: Acme}\n";
        let schedule = "apiVersion: adsched/v1\nkind: Schedule\nid: s1\nname: S\nproduct: p1\nschedule:\n  daily: {at: \"09:00\"}\ntemplates: {mode: unused, count: 1}\n";
        std::fs::write(dir.join("products.yaml"), product).unwrap();
        std::fs::write(dir.join("acme/s1.yaml"), schedule).unwrap();
        let opts = Options::new(Pool::default(), Utc::now());
        // One cache for the three checks, as the daemon keeps one.
        let mut cache = load::ParseCache::default();
        let same = check(&dir, schedule, Some("acme/s1.yaml"), &opts, &mut cache).unwrap();
        assert!(same.valid(), "{:?}", same.findings().collect::<Vec<_>>());
        assert_eq!(same.pick(None).unwrap().doc.product, "p1");
        let copy = check(&dir, schedule, Some("acme/copy.yaml"), &opts, &mut cache).unwrap();
        let codes: Vec<_> = copy
            .findings()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.code.as_str(), f.pos.line))
            .collect();
        assert_eq!(codes, [("duplicate-id", 3)]);
        let unknown = schedule
            .replace("product: p1", "product: nope")
            .replace("id: s1", "id: s2");
        let bad = check(&dir, &unknown, None, &opts, &mut cache).unwrap();
        let f: Vec<_> = bad
            .findings()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.code.as_str(), f.pos.line))
            .collect();
        assert_eq!(f, [("unknown-product", 5)]);
        assert_eq!(bad.shown(), "schedule.yaml");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
