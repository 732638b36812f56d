//! Replays the validate fuzz corpus (`fuzz/corpus/validate/`, grown by
//! `cargo fuzz run validate`, see fuzz/README.md) on stable Rust: every input
//! gives findings that point inside the text, never a panic; and the real
//! binary validates the whole corpus as a folder with exit 0 or 1 only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use adsched::spec::{self, report, Options, Pool};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = repo().join("fuzz/corpus/validate");
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_input_gives_findings_inside_the_text() {
    let inputs = corpus();
    assert!(
        inputs.len() >= 100,
        "the corpus looks truncated: {} inputs",
        inputs.len()
    );
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z")
        .unwrap()
        .to_utc();
    let opts = Options::new(Pool::scan(&repo().join("templates")), now);
    let mut with_errors = 0;
    for (path, bytes) in &inputs {
        let started = Instant::now();
        let catalog = spec::load_text("fuzz.yaml", &repo(), bytes, &opts);
        for format in [
            report::Format::Human,
            report::Format::Json,
            report::Format::Github,
        ] {
            let _ = report::render(&catalog, format, false);
        }
        // YAML breaks lines at LF, CRLF and a lone CR alike (as editors do).
        let lines = bytes.split(|b| *b == b'\n').count() + bare_crs(bytes);
        for f in &catalog.findings {
            assert!(
                f.pos.line >= 1 && f.pos.column >= 1 && f.pos.line <= lines + 1,
                "{}: a finding points outside the text: {f:?}",
                path.display()
            );
            assert!(!f.message.is_empty(), "{}: {f:?}", path.display());
        }
        if catalog.has_errors() {
            with_errors += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{}: took {:?}",
            path.display(),
            started.elapsed()
        );
    }
    // A corpus of only valid or only broken inputs would test little.
    assert!(with_errors > 0 && with_errors < inputs.len());
}

#[test]
fn the_binary_validates_the_corpus_as_one_folder() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (_, bytes)) in corpus().iter().enumerate() {
        std::fs::write(dir.path().join(format!("c-{i:05}.yaml")), bytes).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_adsched"))
        .args(["validate", "--format", "json", "--templates"])
        .arg(repo().join("templates"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the corpus holds broken files: exit 1, not a crash; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = corpus().len();
    assert_eq!(report["valid"], false);
    assert_eq!(report["files"].as_u64(), Some(files as u64));
    let errors = report["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    for e in errors {
        let file = e["file"].as_str().unwrap();
        assert!(
            Path::new(file).starts_with(dir.path()),
            "an error names a file outside the folder: {e}"
        );
        assert!(e["line"].as_u64().unwrap() >= 1, "{e}");
        assert!(e["column"].as_u64().unwrap() >= 1, "{e}");
    }
}

/// Carriage returns not followed by a line feed.
fn bare_crs(data: &[u8]) -> usize {
    data.iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\r' && data.get(i + 1) != Some(&b'\n'))
        .count()
}
