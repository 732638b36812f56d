//! `adsched validate` on arbitrary bytes: parse, schema, semantic and
//! cross-file checks, then every report format. Must never panic, hang or
//! point outside the text. The corpus it grows lives in
//! `fuzz/corpus/validate/` and is replayed by `tests/fuzz_corpus.rs` on
//! stable Rust in every `cargo test`.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use adsched::spec::{self, report, Options, Pool};
use libfuzzer_sys::fuzz_target;

fn options() -> &'static Options {
    static OPTS: OnceLock<Options> = OnceLock::new();
    OPTS.get_or_init(|| {
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z")
            .unwrap()
            .to_utc();
        Options::new(Pool::scan(&templates), now)
    })
}

fuzz_target!(|data: &[u8]| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = spec::load_text("fuzz.yaml", root, data, options());
    for format in [report::Format::Human, report::Format::Json, report::Format::Github] {
        let _ = report::render(&catalog, format, false);
    }
    // YAML breaks lines at LF, CRLF and a lone CR alike (as editors do).
    let lines = data.split(|b| *b == b'\n').count() + bare_crs(data);
    for f in &catalog.findings {
        assert!(f.pos.line >= 1 && f.pos.column >= 1, "{f:?}");
        assert!(f.pos.line <= lines + 1, "line past the end: {f:?}");
    }
});

/// Carriage returns not followed by a line feed.
fn bare_crs(data: &[u8]) -> usize {
    data.iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\r' && data.get(i + 1) != Some(&b'\n'))
        .count()
}
