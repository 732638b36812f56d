//! Schedule files: discovery, parsing with positions, validation.
//!
//! [`load()`] reads every document below some paths and returns a [`Catalog`]:
//! the valid Products and Schedules, and a [`Finding`] for every problem,
//! each pointing at a file, line and column. It does no other I/O than
//! reading the files and listing the template pool, so `validate`, `plan`
//! and the daemon's reconcile all see the same thing.

pub mod check;
pub mod draft;
pub mod finding;
pub mod load;
pub mod model;
pub mod report;
pub mod schema;
pub mod spans;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use finding::{Code, Finding, Related, Severity};
pub use load::{
    discover, load, load_cached, load_cached_each, load_if_changed, load_in_tree, load_text,
    LoadError, Options, ParseCache, Pool, MAX_FILE_SIZE,
};
pub use model::{Product, Schedule};
use spans::{Pos, SpanIndex};

/// Whether `s` is a Slack channel ID as the schema's pattern says
/// (`^[CGD][A-Z0-9]{8,}$`): for the places that take a channel outside a
/// schedule file (an export again, an alert default).
pub fn is_channel_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('C' | 'G' | 'D'))
        && s.len() >= 9
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// One file that was read (or refused).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as found (for reading).
    pub path: PathBuf,
    /// The path as shown to people: as given on the command line, joined.
    pub display: String,
    /// The folder the file belongs to: uploaded templates must stay inside it.
    pub root: PathBuf,
    /// The text, or empty if the file could not be read as text.
    pub text: Arc<str>,
    spans: OnceLock<Vec<SpanIndex>>,
    /// serde_yaml document index → span document index.
    doc_map: OnceLock<Vec<Option<usize>>>,
    /// Which serde_yaml documents were non-empty, in order (for alignment).
    doc_empty: Vec<bool>,
}

impl SourceFile {
    fn new(path: PathBuf, display: String, root: PathBuf) -> Self {
        SourceFile {
            path,
            display,
            root,
            text: Arc::from(""),
            spans: OnceLock::new(),
            doc_map: OnceLock::new(),
            doc_empty: Vec::new(),
        }
    }

    /// Positions for document `doc` (its index among all documents of the file).
    /// Parsed on first use: a valid file usually never needs them.
    pub fn spans(&self, doc: usize) -> Option<&SpanIndex> {
        let spans = self
            .spans
            .get_or_init(|| spans::index_documents(&self.text));
        let map = self.doc_map.get_or_init(|| align(&self.doc_empty, spans));
        map.get(doc).copied().flatten().and_then(|i| spans.get(i))
    }

    /// Position of the value at `path` in document `doc`, or the start of the file.
    pub fn value_pos(&self, doc: usize, path: &str) -> Pos {
        self.spans(doc).map_or_else(file_start, |s| s.value(path))
    }

    /// Position of the key holding `path` in document `doc`.
    pub fn key_pos(&self, doc: usize, path: &str) -> Pos {
        self.spans(doc).map_or_else(file_start, |s| s.key(path))
    }

    /// Where document `doc` starts.
    pub fn doc_start(&self, doc: usize) -> Pos {
        self.spans(doc).map_or_else(file_start, |s| s.start)
    }
}

fn file_start() -> Pos {
    Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    }
}

/// Matches serde_yaml's documents to saphyr's. They agree on the count for
/// any text both accept; if not, match the non-empty ones in order.
fn align(doc_empty: &[bool], spans: &[SpanIndex]) -> Vec<Option<usize>> {
    if doc_empty.len() == spans.len() {
        return (0..spans.len()).map(Some).collect();
    }
    let mut non_empty = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.has_nodes())
        .map(|(i, _)| i);
    doc_empty
        .iter()
        .map(|empty| if *empty { None } else { non_empty.next() })
        .collect()
}

/// A valid document and where it came from.
#[derive(Debug, Clone)]
pub struct Document<T> {
    /// The typed document (shared: the daemon's cache and desired set hold it too).
    pub doc: Arc<T>,
    /// Index of its file in the catalog.
    pub file: usize,
    /// Index of the document in its file.
    pub index: usize,
    /// The document as compact JSON text (what the API shows as `spec`),
    /// kept as text: the daemon holds every document between reloads.
    pub json: Arc<str>,
    /// A hash of `json`, taken once when the file is read: the daemon compares
    /// it to what it last applied instead of re-serialising 10,000 documents.
    pub hash: u64,
}

impl<T> Document<T> {
    /// The document as a JSON value, parsed from [`Document::json`] (which
    /// serde_json wrote, so it parses).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).unwrap_or(serde_json::Value::Null)
    }
}

/// Everything read from a set of paths.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Every file read, in path order.
    pub files: Vec<SourceFile>,
    /// Valid products.
    pub products: Vec<Document<Product>>,
    /// Valid schedules (their file may still hold errors elsewhere).
    pub schedules: Vec<Document<Schedule>>,
    /// Non-empty documents seen.
    pub documents: usize,
    /// Every problem found, in file then position order.
    pub findings: Vec<Finding>,
    /// Every document id seen, valid document or not (for duplicates and references).
    pub ids: Vec<check::IdRef>,
    /// Every schedule's product reference: (product id, file, document).
    pub product_refs: Vec<(String, usize, usize)>,
}

impl Catalog {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The first line of a document, for `source.line`.
    pub fn doc_line(&self, file: usize, index: usize) -> usize {
        let f = &self.files[file];
        quick_doc_line(&f.text, index).unwrap_or_else(|| f.doc_start(index).line)
    }

    /// The product with `id`.
    pub fn product(&self, id: &str) -> Option<&Document<Product>> {
        self.products.iter().find(|p| p.doc.id == id)
    }

    /// The schedule with `id`.
    pub fn schedule(&self, id: &str) -> Option<&Document<Schedule>> {
        self.schedules.iter().find(|s| s.doc.id == id)
    }

    /// The displayed path of file `i`.
    pub fn display(&self, i: usize) -> &str {
        &self.files[i].display
    }

    /// The files where `keep[i]` holds, with their documents and findings,
    /// file indices renumbered; a related place in a dropped file is dropped
    /// (the message still names it).
    pub fn only_files(&self, keep: &[bool]) -> Catalog {
        let mut index = vec![None; self.files.len()];
        let mut files = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            if keep.get(i).copied().unwrap_or(false) {
                index[i] = Some(files.len());
                files.push(f.clone());
            }
        }
        let documents = files
            .iter()
            .map(|f| f.doc_empty.iter().filter(|e| !**e).count())
            .sum();
        let findings = self
            .findings
            .iter()
            .filter_map(|f| {
                let mut f = f.clone();
                f.file = index[f.file]?;
                f.related = f.related.take().and_then(|mut r| {
                    r.file = index[r.file]?;
                    Some(r)
                });
                Some(f)
            })
            .collect();
        Catalog {
            files,
            documents,
            findings,
            ..Catalog::default()
        }
    }
}

/// The first content line of document `doc` by a line scan, without the
/// second (positional) parse, which costs as much as the first: documents
/// are separated by `---` lines; blank, comment and directive lines are skipped.
fn quick_doc_line(text: &str, doc: usize) -> Option<usize> {
    let mut current = 0usize;
    let mut started = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        let is_separator =
            t.starts_with("---") && t[3..].chars().next().is_none_or(char::is_whitespace);
        if is_separator {
            if started {
                current += 1;
            }
            started = true;
            let rest = t[3..].trim();
            if current == doc && !rest.is_empty() && !rest.starts_with('#') {
                return Some(i + 1);
            }
            continue;
        }
        let trimmed = t.trim_start();
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || t.starts_with('%')
            || t.starts_with("...")
        {
            continue;
        }
        started = true;
        if current == doc {
            return Some(i + 1);
        }
        if current > doc {
            return None;
        }
    }
    None
}

/// Shows a path as people typed it: without a leading `./`.
pub fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

#[cfg(test)]
mod tests {
    use super::quick_doc_line;

    #[test]
    fn document_lines_without_parsing() {
        let text = "# header\n\na: 1\n---\n# c\nb: 2\n--- \n---\n\nc: 3\n";
        assert_eq!(quick_doc_line(text, 0), Some(3));
        assert_eq!(quick_doc_line(text, 1), Some(6));
        assert_eq!(quick_doc_line(text, 3), Some(10));
        assert_eq!(quick_doc_line("---\na: 1\n", 0), Some(2));
        assert_eq!(quick_doc_line("%YAML 1.2\n---\na: 1\n", 0), Some(3));
    }
}
