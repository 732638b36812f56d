//! The schema and the Rust types stay in step; the loader survives any bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use adsched::spec::{self, Options, Pool};
use proptest::prelude::*;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn options() -> Options {
    Options::new(Pool::scan(&repo().join("templates")), chrono::Utc::now())
}

/// Every property path the schema allows, e.g. "Schedule.schedule.weekly.day".
fn schema_paths() -> BTreeSet<String> {
    let schema: Value = serde_json::from_str(spec::schema::SCHEMA_JSON).unwrap();
    fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => resolve(root, root.pointer(r.trim_start_matches('#')).unwrap()),
            None => node,
        }
    }
    fn walk(root: &Value, node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        let node = resolve(root, node);
        if let Some(items) = node.get("items") {
            walk(root, items, &format!("{prefix}[]"), out);
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                walk(root, v, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for kind in ["Product", "Schedule"] {
        walk(&schema, &schema["definitions"][kind], kind, &mut out);
    }
    out
}

fn value_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                value_paths(v, &p, out);
            }
        }
        Value::Array(items) => {
            for i in items {
                value_paths(i, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn schema_and_rust_types_have_the_same_fields() {
    let catalog = spec::load(&[repo().join("schedules")], &options()).unwrap();
    assert!(!catalog.has_errors(), "{:?}", catalog.findings);
    let mut from_examples = BTreeSet::new();
    let mut from_rust = BTreeSet::new();
    for p in &catalog.products {
        value_paths(&p.value(), "Product", &mut from_examples);
        // Serializing the typed document writes every Rust field (None as null).
        value_paths(
            &serde_json::to_value(&p.doc).unwrap(),
            "Product",
            &mut from_rust,
        );
    }
    for s in &catalog.schedules {
        value_paths(&s.value(), "Schedule", &mut from_examples);
        value_paths(
            &serde_json::to_value(&s.doc).unwrap(),
            "Schedule",
            &mut from_rust,
        );
    }
    let schema = schema_paths();
    // The examples show every field the schema has (and validate, so nothing else).
    let unused: Vec<_> = schema.difference(&from_examples).collect();
    assert!(
        unused.is_empty(),
        "schema fields no example uses: {unused:?}"
    );
    // Every Rust field is in the schema, and every schema field in Rust.
    let rust_only: Vec<_> = from_rust.difference(&schema).collect();
    assert!(
        rust_only.is_empty(),
        "Rust fields missing from the schema: {rust_only:?}"
    );
    let schema_only: Vec<_> = schema.difference(&from_rust).collect();
    assert!(
        schema_only.is_empty(),
        "schema fields missing from Rust: {schema_only:?}"
    );
}

#[test]
fn every_example_form_and_template_mode_is_shown() {
    let catalog = spec::load(&[repo().join("schedules")], &options()).unwrap();
    let all = serde_json::to_string(
        &catalog
            .schedules
            .iter()
            .map(|s| s.value())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for needle in [
        "\"daily\"",
        "\"weekly\"",
        "\"monthly\"",
        "\"cron\"",
        "\"once\"",
        "\"unused\"",
        "\"specific\"",
        "\"uploaded\"",
    ] {
        assert!(all.contains(needle), "no example uses {needle}");
    }
}

fn examples() -> Vec<String> {
    spec::discover(&repo().join("schedules"))
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn load_bytes(dir: &Path, bytes: &[u8]) -> spec::Catalog {
    std::fs::write(dir.join("s.yaml"), bytes).unwrap();
    spec::load(&[dir.to_path_buf()], &options()).unwrap()
}

fn assert_sane(catalog: &spec::Catalog, text_len: usize) {
    for f in &catalog.findings {
        assert!(f.pos.line >= 1 && f.pos.column >= 1, "{f:?}");
        assert!(
            f.pos.offset + f.pos.len <= text_len.max(catalog.files[f.file].text.len()),
            "{f:?}"
        );
        assert!(!f.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_give_findings_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let c = load_bytes(dir.path(), &bytes);
        assert_sane(&c, bytes.len());
    }

    #[test]
    fn mutated_examples_give_findings_not_panics(
        which in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "[ -~\n\t\\[\\]{}:&*!|>#-]{0,6}"), 1..6),
    ) {
        let ex = examples();
        let mut text = ex[which % ex.len()].clone().into_bytes();
        for (at, op, s) in edits {
            let i = if text.is_empty() { 0 } else { at.index(text.len()) };
            match op {
                0 => { text.splice(i..i, s.bytes()); }
                1 => { let end = (i + s.len().max(1)).min(text.len()); text.drain(i..end); }
                2 => { if i < text.len() { text[i] = s.bytes().next().unwrap_or(b' '); } }
                _ => { let line: Vec<u8> = text.iter().skip(i).take_while(|b| **b != b'\n').copied().collect(); text.splice(i..i, line); }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let c = load_bytes(dir.path(), &text);
        assert_sane(&c, text.len());
        // A document is either accepted or has at least one finding explaining why not.
        prop_assert!(c.documents == c.products.len() + c.schedules.len() || !c.findings.is_empty());
    }
}

#[test]
fn the_parse_cache_rereads_changed_files_and_forgets_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("schedules");
    let tpl = dir.path().join("templates");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::copy(repo().join("templates/summer-01.png"), tpl.join("a.png")).unwrap();
    for d in ["products.yaml", "acme/collagen-weekly.yaml"] {
        let to = root.join(d);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join("schedules").join(d), to).unwrap();
    }
    let spec_file = root.join("acme/specific.yaml");
    let specific = std::fs::read_to_string(repo().join("schedules/acme/sleep-daily.yaml"))
        .unwrap()
        .replace("ids: [minimal-01.png, bold-01.png]", "ids: [a.png]");
    std::fs::write(&spec_file, &specific).unwrap();
    let opts = |pool: &std::path::Path| Options::new(Pool::scan(pool), chrono::Utc::now());
    let mut cache = spec::ParseCache::default();
    let paths = [root.clone()];
    let first = spec::load_cached(&paths, &opts(&tpl), &mut cache).unwrap();
    assert!(!first.has_errors(), "{:?}", first.findings);
    assert_eq!(first.schedules.len(), 2);
    // An edit is seen (a new size and time), untouched files keep their results.
    std::fs::write(
        &spec_file,
        specific.replace("name: Sleep gummies daily", "name: Edited"),
    )
    .unwrap();
    let second = spec::load_cached(&paths, &opts(&tpl), &mut cache).unwrap();
    assert_eq!(
        second.schedule("acme-sleep-daily").unwrap().doc.name,
        "Edited"
    );
    assert_eq!(second.schedules.len(), 2);
    // The pool is part of a file's checks: a template that goes away is noticed.
    std::fs::remove_file(tpl.join("a.png")).unwrap();
    let third = spec::load_cached(&paths, &opts(&tpl), &mut cache).unwrap();
    assert!(
        third
            .findings
            .iter()
            .any(|f| f.code == spec::Code::TemplateMissing),
        "{:?}",
        third.findings
    );
    // A removed file is gone from the catalog.
    std::fs::remove_file(&spec_file).unwrap();
    let fourth = spec::load_cached(&paths, &opts(&tpl), &mut cache).unwrap();
    assert_eq!(fourth.schedules.len(), 1);
    // And the cached result equals a fresh load.
    let fresh = spec::load(&paths, &opts(&tpl)).unwrap();
    assert_eq!(fresh.findings, fourth.findings);
    assert_eq!(fresh.schedules.len(), fourth.schedules.len());

    // The daemon's rescan: nothing changed, nothing loaded ...
    let unchanged = spec::load_if_changed(&paths, &opts(&tpl), &mut cache).unwrap();
    assert!(unchanged.is_none());
    // ... but an added, a changed or a removed file is a change.
    std::fs::write(&spec_file, &specific).unwrap();
    let added = spec::load_if_changed(&paths, &opts(&tpl), &mut cache).unwrap();
    assert_eq!(added.expect("a new file is a change").schedules.len(), 2);
    assert!(spec::load_if_changed(&paths, &opts(&tpl), &mut cache)
        .unwrap()
        .is_none());
    std::fs::write(
        &spec_file,
        specific.replace("name: Sleep gummies daily", "name: Again"),
    )
    .unwrap();
    let changed = spec::load_if_changed(&paths, &opts(&tpl), &mut cache)
        .unwrap()
        .expect("an edited file is a change");
    assert_eq!(
        changed.schedule("acme-sleep-daily").unwrap().doc.name,
        "Again"
    );
    std::fs::remove_file(&spec_file).unwrap();
    let removed = spec::load_if_changed(&paths, &opts(&tpl), &mut cache).unwrap();
    assert_eq!(
        removed.expect("a removed file is a change").schedules.len(),
        1
    );
    // A new cache has seen nothing: its first call always loads.
    let mut empty = spec::ParseCache::default();
    assert!(spec::load_if_changed(&paths, &opts(&tpl), &mut empty)
        .unwrap()
        .is_some());
}
