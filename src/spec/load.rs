//! Finding, reading and parsing schedule files.
//!
//! Long because discovery, the parse cache and the document splitter share
//! one notion of a file's state (mtime, hash, documents); the positions and
//! schema checks live in `spans` and `schema`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::finding::{Code, Finding};
use super::schema::{self, Anchor};
use super::spans::Pos;
use super::{check, display_path, Catalog, Document, SourceFile};

/// Files larger than this are refused unread (SPEC 1).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Folder depth at which discovery stops: deeper trees are a mistake or a loop.
const MAX_DEPTH: usize = 32;

/// Image types the template pool holds.
pub const TEMPLATE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// What validation needs besides the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// The template pool.
    pub pool: Pool,
    /// "Now", for `once-in-past` and `never-fires`.
    pub now: DateTime<Utc>,
    /// `ADSCHED_EMAIL_ALLOW`: allowed recipient domains, if set.
    pub email_allow: Option<Vec<String>>,
    /// `ADSCHED_SLACK_ALLOW`: allowed channel ids, if set.
    pub slack_allow: Option<Vec<String>>,
}

impl Options {
    /// Options with the pool in `templates` and no allow-lists.
    pub fn new(pool: Pool, now: DateTime<Utc>) -> Self {
        Options {
            pool,
            now,
            email_allow: None,
            slack_allow: None,
        }
    }

    /// The same, checking exports against the allow-lists of `settings`.
    pub fn allowing(self, settings: &crate::settings::Settings) -> Self {
        Options {
            email_allow: settings.email_allow.clone(),
            slack_allow: settings.slack_allow.clone(),
            ..self
        }
    }
}

/// The template pool: image names relative to the templates folder.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// The folder.
    pub dir: PathBuf,
    /// Image names ("summer-01.png", "sub/x.png"), sorted.
    pub names: BTreeSet<String>,
}

impl Pool {
    /// Lists the images below `dir` (hidden names skipped). A missing folder is an empty pool.
    pub fn scan(dir: &Path) -> Pool {
        let mut names = BTreeSet::new();
        let mut seen = HashSet::new();
        walk(dir, dir, 0, &mut seen, &mut |rel, _| {
            let is_image = rel.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                TEMPLATE_EXTENSIONS
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(e))
            });
            if is_image {
                names.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        });
        Pool {
            dir: dir.to_path_buf(),
            names,
        }
    }
}

/// Why loading could not even start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path on the command line does not exist.
    #[error("{0}: no such file or folder")]
    Missing(String),
    /// A path could not be read.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Every `*.yaml`/`*.yml` below `dir`, sorted; names starting with `.` skipped,
/// symlinks followed (ConfigMap and git-sync mounts are symlinks), loops cut.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    walk(dir, dir, 0, &mut seen, &mut |_, full| {
        let yaml = full
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if yaml {
            files.push(full.to_path_buf());
        }
    });
    // Already in path order: each folder is walked in name order, depth first,
    // which is how paths compare (component by component).
    files
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    found: &mut dyn FnMut(&Path, &Path),
) {
    if depth > MAX_DEPTH {
        return;
    }
    // A symlink back up the tree would loop forever: visit each real folder once.
    match fs::canonicalize(dir) {
        Ok(real) => {
            if !seen.insert(real) {
                return;
            }
        }
        Err(_) => return,
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| (e.file_name(), e)).collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in entries {
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let full = entry.path();
        // The entry's own type costs no syscall; only a symlink needs a stat
        // to learn what it points at (a dangling link is skipped).
        let Ok(mut kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            match fs::metadata(&full) {
                Ok(meta) => kind = meta.file_type(),
                Err(_) => continue,
            }
        }
        if kind.is_dir() {
            walk(root, &full, depth + 1, seen, found);
        } else if kind.is_file() {
            let rel = full.strip_prefix(root).unwrap_or(&full);
            found(rel, &full);
        }
    }
}

/// Reads every document below `paths` and validates it.
pub fn load(paths: &[PathBuf], opts: &Options) -> Result<Catalog, LoadError> {
    load_inner(paths, opts, None, &mut |_| {}).map(|c| c.expect("always loaded"))
}

/// Reads `paths` for a report, resolving references (products, duplicate
/// ids) against the whole schedules tree at `tree` when every path lies
/// inside it: `validate schedules/acme` then sees `schedules/products.yaml`.
/// Findings, files and documents are those of `paths` alone.
pub fn load_in_tree(paths: &[PathBuf], tree: &Path, opts: &Options) -> Result<Catalog, LoadError> {
    let canon = |p: &Path| {
        fs::canonicalize(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::Missing(display_path(p)),
            _ => LoadError::Io(display_path(p), e),
        })
    };
    let wanted = paths
        .iter()
        .map(|p| canon(p))
        .collect::<Result<Vec<_>, _>>()?;
    let tree_canon = match fs::canonicalize(tree) {
        Ok(t) if t.is_dir() => t,
        _ => return load(paths, opts),
    };
    if !wanted.iter().all(|w| w.starts_with(&tree_canon)) || wanted.contains(&tree_canon) {
        return load(paths, opts);
    }
    let all = load(&[tree.to_path_buf()], opts)?;
    let keep: Vec<bool> = all
        .files
        .iter()
        .map(|f| {
            fs::canonicalize(&f.path)
                .map(|real| wanted.iter().any(|w| real.starts_with(w)))
                .unwrap_or(false)
        })
        .collect();
    Ok(all.only_files(&keep))
}

/// Validates one file's content given in memory, as [`load`] would if it
/// were the only file at `display` (relative paths resolve against `root`).
/// For fuzzing and editors: no file is read but the template pool's.
pub fn load_text(display: &str, root: &Path, bytes: &[u8], opts: &Options) -> Catalog {
    let path = root.join(display);
    let mut catalog = Catalog {
        files: vec![SourceFile::new(
            path,
            display.to_string(),
            root.to_path_buf(),
        )],
        ..Catalog::default()
    };
    parse_file(&mut catalog, 0, bytes.to_vec(), opts);
    cross_check_and_sort(&mut catalog, opts);
    catalog
}

/// Reads the tree at `tree` with one file replaced by `bytes` (or added):
/// the draft sits at `tree/rel`, shown as `display`, and comes last, so a
/// duplicate id is reported on it. The file it replaces on disk is left out,
/// so an edit in place is not its own duplicate. The other files are read
/// through `cache`, as a reload reads them: a form checked at every edit
/// against 10,000 files parses none of them again, only stats them. The
/// cache may be the daemon's own, which names files its way: its parses
/// are used under the draft's names and left as they are.
pub fn load_draft(
    tree: &Path,
    rel: &Path,
    display: &str,
    bytes: &[u8],
    opts: &Options,
    cache: &mut ParseCache,
) -> Catalog {
    cache.prepare(opts);
    let target = tree.join(rel);
    let replaced = fs::canonicalize(&target).ok();
    let mut catalog = Catalog::default();
    let others = if tree.is_dir() {
        discover(tree)
    } else {
        Vec::new()
    };
    // Other files by their path in the folder, like the draft
    // (`acme/x.yaml`), not by the daemon's absolute path.
    if cache.entries.len() > others.len() {
        let present: HashSet<&std::ffi::OsStr> = others.iter().map(|f| f.as_os_str()).collect();
        cache.entries.retain(|p, _| present.contains(p.as_os_str()));
    }
    for file in others {
        if replaced.is_some() && fs::canonicalize(&file).ok() == replaced {
            continue;
        }
        let display = display_path(file.strip_prefix(tree).unwrap_or(&file));
        let key = file_key(&file);
        let single = cache.read_as(
            SourceFile::new(file, display, tree.to_path_buf()),
            key,
            opts,
        );
        merge(&mut catalog, single);
    }
    catalog.files.push(SourceFile::new(
        target,
        display.to_string(),
        tree.to_path_buf(),
    ));
    let i = catalog.files.len() - 1;
    parse_file(&mut catalog, i, bytes.to_vec(), opts);
    cross_check_and_sort(&mut catalog, opts);
    catalog
}

/// Like [`load`], re-reading only files whose size, modification time or
/// inode changed since the last call with the same cache: the daemon's
/// reload of 10,000 files after one edit parses one file, not 10,000.
/// Cross-file checks (duplicate ids, product references) always run.
pub fn load_cached(
    paths: &[PathBuf],
    opts: &Options,
    cache: &mut ParseCache,
) -> Result<Catalog, LoadError> {
    load_with_cache(paths, opts, cache, false, &mut |_| {}).map(|c| c.expect("always loaded"))
}

/// Like [`load_cached`], calling `each` with every file's own catalog as it
/// is read, before the checks that need every file: the daemon's first
/// start applies schedules while the rest is still parsed.
pub fn load_cached_each(
    paths: &[PathBuf],
    opts: &Options,
    cache: &mut ParseCache,
    each: &mut dyn FnMut(&Catalog),
) -> Result<Catalog, LoadError> {
    load_with_cache(paths, opts, cache, false, each).map(|c| c.expect("always loaded"))
}

/// Like [`load_cached`], but `None` when no file was added, removed or
/// changed since the last call: the daemon's rescan after its own reads, or
/// its periodic backstop, then costs a folder listing and a stat per file.
pub fn load_if_changed(
    paths: &[PathBuf],
    opts: &Options,
    cache: &mut ParseCache,
) -> Result<Option<Catalog>, LoadError> {
    load_with_cache(paths, opts, cache, true, &mut |_| {})
}

fn load_with_cache(
    paths: &[PathBuf],
    opts: &Options,
    cache: &mut ParseCache,
    only_if_changed: bool,
    each: &mut dyn FnMut(&Catalog),
) -> Result<Option<Catalog>, LoadError> {
    cache.prepare(opts);
    load_inner(paths, opts, Some((cache, only_if_changed)), each)
}

/// Parsed files kept between reloads, by path.
#[derive(Debug, Default)]
pub struct ParseCache {
    env_key: Option<u64>,
    /// A full load has filled `entries` (an empty cache is not "unchanged").
    primed: bool,
    /// By path as bytes: hashing an `OsString` is one pass, a `PathBuf` one per component.
    entries: std::collections::HashMap<std::ffi::OsString, (FileKey, Catalog)>,
}

/// What identifies a file's content without reading it.
type FileKey = (u64, Option<std::time::SystemTime>, u64);

fn file_key(path: &Path) -> Option<FileKey> {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.len(), m.modified().ok(), ino))
}

impl ParseCache {
    /// Forgets every file if what a file's own checks depend on besides its
    /// bytes (the template pool, the allow-lists) changed since the last use.
    fn prepare(&mut self, opts: &Options) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&opts.pool.names, &mut h);
        std::hash::Hash::hash(&opts.pool.dir, &mut h);
        std::hash::Hash::hash(&opts.email_allow, &mut h);
        std::hash::Hash::hash(&opts.slack_allow, &mut h);
        let env_key = std::hash::Hasher::finish(&h);
        if self.env_key != Some(env_key) {
            self.entries.clear();
            self.primed = false;
            self.env_key = Some(env_key);
        }
    }

    /// The cached parse of `file` if `key` says it has not changed.
    fn hit(&self, file: &SourceFile, key: Option<FileKey>) -> Option<&Catalog> {
        let (cached_key, cached) = self.entries.get(file.path.as_os_str())?;
        let same_place =
            cached.files[0].display == file.display && cached.files[0].root == file.root;
        (key? == *cached_key && same_place).then_some(cached)
    }

    /// Like [`ParseCache::read`] for a reader that may name files
    /// otherwise than the one that filled the cache: an unchanged file's
    /// parse is used under `file`'s names; a changed one another reader
    /// named is parsed and left for that reader to refresh.
    fn read_as(&mut self, file: SourceFile, key: Option<FileKey>, opts: &Options) -> Catalog {
        match self.entries.get(file.path.as_os_str()) {
            Some((cached_key, cached)) if key.is_some_and(|k| k == *cached_key) => {
                let mut single = cached.clone();
                single.files[0].display = file.display;
                single.files[0].root = file.root;
                single
            }
            Some((_, cached))
                if cached.files[0].display != file.display || cached.files[0].root != file.root =>
            {
                read_single(file, opts)
            }
            _ => self.read(file, key, opts),
        }
    }

    fn read(&mut self, file: SourceFile, key: Option<FileKey>, opts: &Options) -> Catalog {
        if let Some(cached) = self.hit(&file, key) {
            return cached.clone();
        }
        let path = file.path.clone();
        let single = read_single(file, opts);
        match key {
            Some(key) => {
                self.entries
                    .insert(path.into_os_string(), (key, single.clone()));
            }
            None => {
                self.entries.remove(path.as_os_str());
            }
        }
        single
    }
}

/// Reads one file into a catalog of its own (file index 0).
fn read_single(file: SourceFile, opts: &Options) -> Catalog {
    let mut c = Catalog {
        files: vec![file],
        ..Catalog::default()
    };
    read_file(&mut c, 0, opts);
    c
}

/// Appends a one-file catalog, shifting its file indices.
fn merge(into: &mut Catalog, single: Catalog) {
    let offset = into.files.len();
    into.files.extend(single.files);
    into.documents += single.documents;
    into.products
        .extend(single.products.into_iter().map(|mut d| {
            d.file += offset;
            d
        }));
    into.schedules
        .extend(single.schedules.into_iter().map(|mut d| {
            d.file += offset;
            d
        }));
    into.ids.extend(single.ids.into_iter().map(|mut r| {
        r.file += offset;
        r
    }));
    into.product_refs.extend(
        single
            .product_refs
            .into_iter()
            .map(|(p, f, i)| (p, f + offset, i)),
    );
    into.findings
        .extend(single.findings.into_iter().map(|mut f| {
            f.file += offset;
            if let Some(r) = f.related.as_mut() {
                r.file += offset;
            }
            f
        }));
}

fn load_inner(
    paths: &[PathBuf],
    opts: &Options,
    mut cache: Option<(&mut ParseCache, bool)>,
    each: &mut dyn FnMut(&Catalog),
) -> Result<Option<Catalog>, LoadError> {
    let mut catalog = Catalog::default();
    let mut seen = HashSet::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::Missing(display_path(path)),
            _ => LoadError::Io(display_path(path), e),
        })?;
        let (files, root) = if meta.is_dir() {
            (discover(path), path.clone())
        } else {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            (vec![path.clone()], parent.to_path_buf())
        };
        for file in files {
            // Only several paths can name one file twice; one folder lists
            // each file once, so skip the syscalls and the set.
            let new = paths.len() == 1
                || seen.insert(fs::canonicalize(&file).unwrap_or_else(|_| file.clone()));
            if new {
                let display = display_path(&file);
                catalog
                    .files
                    .push(SourceFile::new(file, display, root.clone()));
            }
        }
    }
    let files = std::mem::take(&mut catalog.files);
    let keys: Vec<Option<FileKey>> = match &cache {
        Some(_) => files.iter().map(|f| file_key(&f.path)).collect(),
        None => Vec::new(),
    };
    if let Some((cache, true)) = &cache {
        let unchanged = cache.primed
            && files.len() == cache.entries.len()
            && files
                .iter()
                .zip(&keys)
                .all(|(f, k)| cache.hit(f, *k).is_some());
        if unchanged {
            return Ok(None);
        }
    }
    let mut read = |i: usize, file: SourceFile| match cache.as_mut() {
        Some((cache, _)) => cache.read(file, keys[i], opts),
        None => read_single(file, opts),
    };
    // Files nearer the top first, in path order at each depth: a repository
    // keeps the products its brand folders share there, and a caller staging
    // schedules as they come (`each`) needs them early. Merged in path order
    // all the same, each as soon as those before it are: only the files read
    // early wait, and a flat folder is read in path order.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files[i].path.components().count());
    let mut files: Vec<Option<SourceFile>> = files.into_iter().map(Some).collect();
    let mut early = std::collections::BTreeMap::new();
    let mut next = 0;
    for i in order {
        let Some(file) = files[i].take() else {
            continue;
        };
        let single = read(i, file);
        each(&single);
        early.insert(i, single);
        while let Some(single) = early.remove(&next) {
            merge(&mut catalog, single);
            next += 1;
        }
    }
    if let Some((cache, _)) = cache {
        if cache.entries.len() > catalog.files.len() {
            let present: HashSet<&std::ffi::OsStr> =
                catalog.files.iter().map(|f| f.path.as_os_str()).collect();
            cache.entries.retain(|p, _| present.contains(p.as_os_str()));
        }
        cache.primed = true;
    }
    cross_check_and_sort(&mut catalog, opts);
    Ok(Some(catalog))
}

/// The checks that need every file, then findings in file and position order.
fn cross_check_and_sort(catalog: &mut Catalog, opts: &Options) {
    check::cross_check(catalog, opts);
    catalog.findings.sort_by(|a, b| {
        (a.file, a.pos.line, a.pos.column).cmp(&(b.file, b.pos.line, b.pos.column))
    });
}

fn read_file(catalog: &mut Catalog, i: usize, opts: &Options) {
    let start = Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    };
    let path = catalog.files[i].path.clone();
    match read_capped(&path) {
        // Too large or not, parse_file says so.
        Ok(bytes) => parse_file(catalog, i, bytes, opts),
        Err(e) => catalog.findings.push(Finding::error(
            Code::YamlSyntax,
            i,
            start,
            format!("the file cannot be read: {e}"),
        )),
    }
}

/// Validates `bytes` as the content of file `i`.
fn parse_file(catalog: &mut Catalog, i: usize, bytes: Vec<u8>, opts: &Options) {
    let start = Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    };
    if bytes.len() as u64 > MAX_FILE_SIZE {
        catalog.findings.push(Finding::error(
            Code::FileTooLarge,
            i,
            start,
            format!(
                "the file is larger than {} KiB; split it into several files",
                MAX_FILE_SIZE / 1024
            ),
        ));
        return;
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let good = String::from_utf8_lossy(good);
            let line = good.matches('\n').count() + 1;
            let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            catalog.findings.push(Finding::error(
                Code::YamlSyntax,
                i,
                Pos {
                    line,
                    column,
                    offset: 0,
                    len: 0,
                },
                "the file is not UTF-8 text (a YAML file must be UTF-8); the first invalid byte is here",
            ));
            return;
        }
    };
    catalog.files[i].text = Arc::from(text.as_str());
    if let Some(pos) = too_deep(&text) {
        catalog.findings.push(Finding::error(
            Code::YamlSyntax,
            i,
            pos,
            format!("invalid YAML: brackets nested more than {MAX_FLOW_DEPTH} levels deep"),
        ));
        return;
    }
    let mut values = Vec::new();
    for de in serde_yaml::Deserializer::from_str(&text) {
        // Merge keys (`<<: *defaults`) are how teams share blocks: apply them.
        match Yaml::deserialize(de).and_then(|mut v| v.apply_merge().map(|()| v)) {
            Ok(v) => values.push(v),
            Err(e) => {
                let msg = e.to_string();
                // serde_yaml places a repeated key at the document's start; find it ourselves.
                let duplicate = msg
                    .contains("duplicate entry")
                    .then(|| super::spans::first_duplicate_key(&text))
                    .flatten();
                let pos = match (duplicate, e.location()) {
                    (Some(pos), _) => pos,
                    (None, Some(l)) => Pos {
                        line: l.line(),
                        column: l.column(),
                        offset: l.index().min(text.len()),
                        len: 0,
                    },
                    (None, None) => start,
                };
                catalog.findings.push(Finding::error(
                    Code::YamlSyntax,
                    i,
                    clamp(&text, pos),
                    syntax_message(strip_location(&msg), &text, pos),
                ));
                return;
            }
        }
    }
    catalog.files[i].doc_empty = values.iter().map(Yaml::is_null).collect();
    for pos in missing_modelines(&text, &catalog.files[i].doc_empty) {
        catalog.findings.push(Finding::warning(
            Code::Modeline,
            i,
            pos,
            format!("this document has no `{MODELINE}...` line, which the first document has; editors check each document by its own modeline, so add it after the `---`"),
        ));
    }
    for (index, value) in values.into_iter().enumerate() {
        if value.is_null() {
            continue;
        }
        catalog.documents += 1;
        read_document(catalog, i, index, value, opts);
    }
}

/// The comment the YAML language server reads to pick a document's schema.
const MODELINE: &str = "# yaml-language-server: $schema=";

/// The `---` lines of the non-empty documents after the first that lack the
/// schema modeline the first document has.
fn missing_modelines(text: &str, doc_empty: &[bool]) -> Vec<Pos> {
    // (separator line, has modeline) per document, by a line scan.
    let mut docs: Vec<(Option<(usize, usize)>, bool)> = vec![(None, false)];
    let mut offset = 0;
    let mut content_seen = false;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_end();
        let separator =
            t.starts_with("---") && t[3..].chars().next().is_none_or(char::is_whitespace);
        if separator && (content_seen || docs.len() > 1) {
            docs.push((Some((n + 1, offset)), false));
        } else if separator {
            // A leading `---` opens the first document.
        } else if t.trim_start().starts_with(MODELINE) {
            if let Some(d) = docs.last_mut() {
                d.1 = true;
            }
        } else if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            content_seen = true;
        }
        offset += line.len();
    }
    if docs.len() != doc_empty.len() || !docs.first().is_some_and(|d| d.1) {
        return Vec::new();
    }
    docs.iter()
        .zip(doc_empty)
        .skip(1)
        .filter(|((_, has), empty)| !*has && !**empty)
        .filter_map(|((sep, _), _)| {
            sep.map(|(line, offset)| Pos {
                line,
                column: 1,
                offset,
                len: 3,
            })
        })
        .collect()
}

/// Flow collections (`[`/`{`) deeper than this are refused before parsing:
/// libyaml's time grows with the square of the depth (20,000 levels take
/// seconds), and no schedule needs more than a handful.
const MAX_FLOW_DEPTH: usize = 64;

/// Where flow nesting first exceeds [`MAX_FLOW_DEPTH`], by a linear scan that
/// skips quoted strings and comments (plain scalars rarely hold unbalanced brackets).
fn too_deep(text: &str) -> Option<Pos> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for (offset, c) in text.char_indices() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            comment = false;
            prev = c;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if comment => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if matches!(prev, ' ' | '\t' | '[' | '{' | ',' | ':' | '\n') => {
                    quote = Some(c)
                }
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(Pos {
                            line,
                            column: col,
                            offset,
                            len: 1,
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// Reads at most one byte more than the cap; None when the file is larger.
/// The file's bytes, at most one past [`MAX_FILE_SIZE`] (enough to tell it
/// is too large without reading a huge file).
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A position never past the text: a parser's end-of-input mark sits on the
/// line after a final newline, which editors and annotations cannot show.
pub fn clamp(text: &str, mut pos: Pos) -> Pos {
    let lines = yaml_lines(text);
    if lines.is_empty() {
        return Pos {
            line: 1,
            column: 1,
            offset: 0,
            len: 0,
        };
    }
    if pos.line > lines.len() {
        pos.line = lines.len();
        pos.column = lines[pos.line - 1].chars().count() + 1;
        pos.offset = text.trim_end_matches(['\n', '\r']).len();
        pos.len = 0;
    }
    let width = lines[pos.line - 1].chars().count() + 1;
    pos.column = pos.column.clamp(1, width);
    pos.line = pos.line.max(1);
    pos
}

/// The lines of `text` as YAML counts them: LF, CRLF and a lone CR all end one.
fn yaml_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (b, mut start, mut i) = (text.as_bytes(), 0, 0);
    while i < b.len() {
        if b[i] == b'\n' || b[i] == b'\r' {
            out.push(&text[start..i]);
            i += if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// serde_yaml's message, with what it leaves unsaid: a tab in indentation
/// reads as "found character that cannot start any token".
fn syntax_message(msg: &str, text: &str, pos: Pos) -> String {
    let line = yaml_lines(text)
        .get(pos.line.saturating_sub(1))
        .copied()
        .unwrap_or("");
    let indent_tab = line
        .chars()
        .take_while(|c| c.is_whitespace())
        .any(|c| c == '\t');
    let tab_here = line.chars().nth(pos.column.saturating_sub(1)) == Some('\t');
    if indent_tab || tab_here {
        format!(
            "invalid YAML: a tab character in indentation; YAML indents with spaces only ({msg})"
        )
    } else {
        format!("invalid YAML: {msg}")
    }
}

/// serde_yaml appends " at line L column C"; we print the position ourselves.
fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn read_document(catalog: &mut Catalog, file: usize, index: usize, value: Yaml, opts: &Options) {
    let json = match to_json(&value, 0) {
        Ok(j) => j,
        Err(msg) => {
            let pos = catalog.files[file].doc_start(index);
            catalog
                .findings
                .push(Finding::error(Code::Schema, file, pos, msg));
            return;
        }
    };
    if !json.is_object() {
        let pos = catalog.files[file].doc_start(index);
        catalog.findings.push(Finding::error(
            Code::Schema,
            file,
            pos,
            "a document must be a mapping with `apiVersion: adsched/v1` and `kind: Product` or `kind: Schedule`",
        ));
        return;
    }
    let errors = schema::check(&json);
    let kind = json
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let str_at = |p: &str| json.pointer(p).and_then(Json::as_str).map(str::to_string);
    if let Some(id) = str_at("/id") {
        if kind == "Product" || kind == "Schedule" {
            catalog.ids.push(check::IdRef {
                kind: kind.to_string(),
                id,
                file,
                index,
            });
        }
    }
    if kind == "Schedule" {
        if let Some(product) = str_at("/product") {
            catalog.product_refs.push((product, file, index));
        }
        let error_paths: Vec<&str> = errors
            .iter()
            .map(|e| match &e.anchor {
                Anchor::Value(p) | Anchor::Key(p) => p.as_str(),
            })
            .collect();
        check::check_schedule(catalog, file, index, &json, &error_paths, opts);
    }
    if !errors.is_empty() {
        let src = &catalog.files[file];
        let found: Vec<Finding> = errors
            .into_iter()
            .map(|e| {
                let pos = match &e.anchor {
                    Anchor::Value(p) => src.value_pos(index, p),
                    Anchor::Key(p) if p.is_empty() => src.doc_start(index),
                    Anchor::Key(p) => src.key_pos(index, p),
                };
                Finding::error(e.code, file, pos, e.message)
            })
            .collect();
        catalog.findings.extend(found);
        return;
    }
    let text = json.to_string();
    let hash = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&text, &mut h);
        std::hash::Hasher::finish(&h)
    };
    let text: Arc<str> = Arc::from(text);
    let typed = match kind.as_str() {
        "Product" => serde_json::from_value(json).map(|doc| {
            catalog.products.push(Document {
                doc: Arc::new(doc),
                file,
                index,
                json: text,
                hash,
            })
        }),
        _ => serde_json::from_value(json).map(|doc| {
            catalog.schedules.push(Document {
                doc: Arc::new(doc),
                file,
                index,
                json: text,
                hash,
            })
        }),
    };
    if let Err(e) = typed {
        // The schema and the types are kept in step by a test; say so if they drift.
        let pos = catalog.files[file].doc_start(index);
        catalog.findings.push(Finding::error(
            Code::Schema,
            file,
            pos,
            format!("the document does not fit adsched's types: {e}"),
        ));
    }
}

/// YAML → JSON for the schema check. Keys become strings; tags are refused
/// (a tag would silently change a value's meaning).
fn to_json(v: &Yaml, depth: usize) -> Result<Json, String> {
    // serde_yaml stops at 128 levels already; this keeps our own recursion bounded.
    if depth > 200 {
        return Err("the document is nested too deeply".into());
    }
    Ok(match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
                    .ok_or_else(|| format!("the number `{n}` cannot be used here"))?
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(
            items
                .iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_string(),
                    _ => return Err("a mapping key must be a plain string".into()),
                };
                out.insert(key, to_json(v, depth + 1)?);
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => {
            return Err(format!(
                "YAML tags such as `{}` are not allowed in adsched documents",
                t.tag
            ))
        }
    })
}
