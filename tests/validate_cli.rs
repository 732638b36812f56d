//! `adsched validate`, `next` and `schema` through the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_adsched"));
    c.env_remove("ADSCHED_EMAIL_ALLOW")
        .env_remove("ADSCHED_SLACK_ALLOW");
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PRODUCT: &str = "apiVersion: adsched/v1
kind: Product
id: collagen
name: Collagen
brand: { id: acme, name: Acme }
hooks: [\"Glow\"]
";

/// A valid schedule; tests replace one line to break it.
const SCHEDULE: &str = "apiVersion: adsched/v1
kind: Schedule
id: weekly
name: Weekly
product: collagen
schedule:
  weekly: { day: monday, at: \"09:00\" }
templates:
  mode: unused
  count: 2
export:
  destination: none
";

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        t.write("schedules/products.yaml", PRODUCT);
        std::fs::create_dir_all(t.path("templates")).unwrap();
        for name in ["a.png", "b.png", "c.png"] {
            std::fs::copy(
                repo().join("templates/summer-01.png"),
                t.path("templates").join(name),
            )
            .unwrap();
        }
        t
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn validate(&self, args: &[&str]) -> Output {
        bin()
            .current_dir(self.dir.path())
            .arg("validate")
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self) -> (i32, Value) {
        let out = self.validate(&["--format", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code().unwrap(), v)
    }
}

/// (code, file, line, column) of every error, and of every warning.
fn findings(v: &Value, which: &str) -> Vec<(String, String, u64, u64)> {
    v[which]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn message(v: &Value, code: &str) -> String {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["warnings"].as_array().unwrap())
        .find(|f| f["code"] == code)
        .map(|f| f["message"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Writes SCHEDULE with `from` replaced by `to` and expects exactly one
/// finding, `code` at `line:column` of the schedule file.
fn expect_one(from: &str, to: &str, which: &str, code: &str, line: u64, column: u64) -> Value {
    let t = Tree::new();
    assert!(SCHEDULE.contains(from), "{from}");
    t.write("schedules/s.yaml", &SCHEDULE.replace(from, to));
    let (status, v) = t.json();
    let found = findings(&v, which);
    assert_eq!(
        found,
        vec![(
            code.to_string(),
            "schedules/s.yaml".to_string(),
            line,
            column
        )],
        "{v:#}"
    );
    assert_eq!(status, if which == "errors" { 1 } else { 0 }, "{v:#}");
    v
}

#[test]
fn the_bundled_examples_are_valid() {
    let out = bin()
        .current_dir(repo())
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["errors"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0, "{v:#}");
    assert!(v["files"].as_u64().unwrap() >= 5);
    assert!(v["documents"].as_u64().unwrap() >= 8);
}

#[test]
fn yaml_syntax_points_at_the_line() {
    expect_one(
        "  count: 2\n",
        "  count: [2\n",
        "errors",
        "yaml-syntax",
        11,
        7,
    );
}

#[test]
fn schema_errors_point_at_the_value() {
    let v = expect_one("count: 2", "count: 500", "errors", "schema", 10, 10);
    assert!(message(&v, "schema").contains("100"), "{v:#}");
    // A missing required field points at the key of its parent mapping.
    let v = expect_one("day: monday, ", "", "errors", "schema", 7, 3);
    assert!(message(&v, "schema").contains("`day`"), "{v:#}");
}

#[test]
fn unknown_field_points_at_the_key_and_suggests() {
    let v = expect_one(
        "  count: 2\n",
        "  count: 2\n  cuont: 3\n",
        "errors",
        "unknown-field",
        11,
        3,
    );
    assert!(message(&v, "unknown-field").contains("`cuont`"), "{v:#}");
}

#[test]
fn cron_errors() {
    let v = expect_one(
        "weekly: { day: monday, at: \"09:00\" }",
        "cron: \"0 9 * * 8\"",
        "errors",
        "cron",
        7,
        9,
    );
    assert!(message(&v, "cron").contains("day-of-week"), "{v:#}");
    expect_one(
        "weekly: { day: monday, at: \"09:00\" }",
        "cron: \"0 0 31 2 *\"",
        "errors",
        "never-fires",
        7,
        9,
    );
}

#[test]
fn timezone_and_time_errors() {
    let v = expect_one(
        "  weekly: { day: monday, at: \"09:00\" }\n",
        "  weekly: { day: monday, at: \"09:00\" }\n  timezone: America/Los_Angles\n",
        "errors",
        "timezone",
        8,
        13,
    );
    assert!(message(&v, "timezone").contains("IANA"), "{v:#}");
    expect_one("at: \"09:00\"", "at: \"25:00\"", "errors", "time", 7, 30);
    expect_one(
        "weekly: { day: monday, at: \"09:00\" }",
        "once: { at: \"2026-13-01T09:00\" }",
        "errors",
        "time",
        7,
        15,
    );
}

#[test]
fn once_in_the_past_is_a_warning() {
    let v = expect_one(
        "weekly: { day: monday, at: \"09:00\" }",
        "once: { at: \"2020-01-01T09:00\" }",
        "warnings",
        "once-in-past",
        7,
        15,
    );
    assert_eq!(v["valid"], true);
}

#[test]
fn pool_too_small_is_a_warning() {
    expect_one("count: 2", "count: 4", "warnings", "pool-too-small", 10, 10);
}

#[test]
fn unknown_product() {
    let v = expect_one(
        "product: collagen",
        "product: colagen",
        "errors",
        "unknown-product",
        5,
        10,
    );
    assert!(message(&v, "unknown-product").contains("collagen"), "{v:#}");
}

#[test]
fn template_missing_and_path_escape() {
    expect_one(
        "  mode: unused\n  count: 2\n",
        "  mode: specific\n  ids: [a.png, nope.png]\n",
        "errors",
        "template-missing",
        10,
        16,
    );
    expect_one(
        "  mode: unused\n  count: 2\n",
        "  mode: uploaded\n  files: [missing.png]\n",
        "errors",
        "template-missing",
        10,
        11,
    );
    expect_one(
        "  mode: unused\n  count: 2\n",
        "  mode: uploaded\n  files: [../templates/a.png]\n",
        "errors",
        "path-escape",
        10,
        11,
    );
    expect_one(
        "  mode: unused\n  count: 2\n",
        "  mode: uploaded\n  files: [/etc/hostname]\n",
        "errors",
        "path-escape",
        10,
        11,
    );
}

#[cfg(unix)]
#[test]
fn uploaded_symlink_out_of_the_folder_is_an_escape() {
    let t = Tree::new();
    std::os::unix::fs::symlink(t.path("templates/a.png"), t.path("schedules/link.png")).unwrap();
    std::fs::copy(t.path("templates/b.png"), t.path("schedules/inside.png")).unwrap();
    t.write(
        "schedules/s.yaml",
        &SCHEDULE.replace(
            "  mode: unused\n  count: 2\n",
            "  mode: uploaded\n  files: [inside.png, link.png]\n",
        ),
    );
    let (status, v) = t.json();
    assert_eq!(status, 1);
    assert_eq!(
        findings(&v, "errors"),
        vec![("path-escape".into(), "schedules/s.yaml".into(), 10, 23)],
        "{v:#}"
    );
}

#[test]
fn email_and_export_errors() {
    expect_one(
        "  destination: none\n",
        "  destination: email\n  email: { to: [ops@acme.example, \"not an address\"] }\n",
        "errors",
        "email",
        13,
        35,
    );
    let v = expect_one(
        "  destination: none\n",
        "  destination: slack\n",
        "errors",
        "export",
        12,
        16,
    );
    assert!(message(&v, "export").contains("slack"), "{v:#}");
}

#[test]
fn alerts_are_checked_like_exports() {
    // Somewhere to send is required.
    let v = expect_one(
        "  destination: none\n",
        "  destination: none\nalerts:\n  on: [missed]\n",
        "errors",
        "export",
        14,
        3,
    );
    assert!(
        message(&v, "export").contains("ADSCHED_ALERT_SLACK_CHANNEL"),
        "{v:#}"
    );
    // Addresses parse, at their own position.
    expect_one(
        "  destination: none\n",
        "  destination: none\nalerts:\n  email: { to: [ops@acme.example, \"nope\"] }\n",
        "errors",
        "email",
        14,
        35,
    );
    // Events are the four the spec names.
    let v = expect_one(
        "  destination: none\n",
        "  destination: none\nalerts:\n  on: [sometimes]\n  slack: { channel: C0123ABCD9 }\n",
        "errors",
        "schema",
        14,
        8,
    );
    assert!(message(&v, "schema").contains("export_failed"), "{v:#}");
    // The daemon's allow-list is named when the channel is not in it.
    let t = Tree::new();
    t.write(
        "schedules/s.yaml",
        &SCHEDULE.replace(
            "  destination: none\n",
            "  destination: none\nalerts:\n  slack: { channel: C0123ABCD9 }\n",
        ),
    );
    let out = bin()
        .current_dir(t.dir.path())
        .env("ADSCHED_SLACK_ALLOW", "C999999999")
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let w = findings(&v, "warnings");
    assert_eq!(
        w,
        vec![("export".into(), "schedules/s.yaml".into(), 14, 21)],
        "{v:#}"
    );
    assert!(v["warnings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("refuse these alerts"));
}

#[test]
fn allow_lists_warn_when_set() {
    let t = Tree::new();
    t.write(
        "schedules/s.yaml",
        &SCHEDULE.replace(
            "  destination: none\n",
            "  destination: email_and_slack\n  email: { to: [ops@other.example] }\n  slack: { channel: C0123ABCD9 }\n",
        ),
    );
    let out = bin()
        .current_dir(t.dir.path())
        .env("ADSCHED_EMAIL_ALLOW", "acme.example")
        .env("ADSCHED_SLACK_ALLOW", "C999999999")
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let w = findings(&v, "warnings");
    assert_eq!(w.len(), 2, "{v:#}");
    assert!(w.iter().all(|f| f.0 == "export"));
}

#[test]
fn file_too_large() {
    let t = Tree::new();
    let mut big = String::from(SCHEDULE);
    while big.len() <= 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding\n");
    }
    t.write("schedules/s.yaml", &big);
    let (status, v) = t.json();
    assert_eq!(status, 1);
    assert_eq!(
        findings(&v, "errors"),
        vec![("file-too-large".into(), "schedules/s.yaml".into(), 1, 1)]
    );
}

#[test]
fn duplicate_ids_name_both_places_across_files() {
    let t = Tree::new();
    t.write("schedules/a.yaml", SCHEDULE);
    t.write("schedules/b.yaml", &format!("# another\n{SCHEDULE}"));
    let (status, v) = t.json();
    assert_eq!(status, 1);
    // One error per place, so the pull request adding b.yaml is annotated on b.yaml.
    assert_eq!(
        findings(&v, "errors"),
        vec![
            ("duplicate-id".into(), "schedules/a.yaml".into(), 3, 5),
            ("duplicate-id".into(), "schedules/b.yaml".into(), 4, 5)
        ],
        "{v:#}"
    );
    let messages: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("schedules/b.yaml:4:5"), "{v:#}");
    assert!(messages[1].contains("schedules/a.yaml:3:5"), "{v:#}");
}

#[test]
fn positions_are_file_absolute_in_later_documents() {
    let t = Tree::new();
    let second = SCHEDULE.replace("id: weekly", "id: second");
    let third = SCHEDULE
        .replace("id: weekly", "id: third")
        .replace("day: monday", "day: mondai");
    t.write(
        "schedules/s.yaml",
        &format!("{SCHEDULE}---\n{second}---\n{third}"),
    );
    let (_, v) = t.json();
    // The third document starts on line 2 * 12 + 3 = 27; `day` is its line 7.
    assert_eq!(
        findings(&v, "errors"),
        vec![("schema".into(), "schedules/s.yaml".into(), 33, 18)],
        "{v:#}"
    );
    assert!(message(&v, "schema").contains("`monday`"));
}

#[test]
fn hidden_files_are_skipped_and_nested_folders_read() {
    let t = Tree::new();
    t.write("schedules/.s.yaml.swp", "garbage: [");
    t.write("schedules/.hidden/x.yaml", "garbage: [");
    t.write("schedules/deep/er/s.yml", SCHEDULE);
    let (status, v) = t.json();
    assert_eq!(status, 0, "{v:#}");
    assert_eq!(v["files"], 2);
    assert_eq!(v["documents"], 2);
}

#[test]
fn exit_2_for_a_missing_path() {
    let t = Tree::new();
    let out = t.validate(&["nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    let out = t.validate(&["--templates", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let out = t.validate(&["--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn github_format_escapes() {
    let t = Tree::new();
    t.write(
        "schedules/s,1.yaml",
        &SCHEDULE.replace("count: 2", "count: 500"),
    );
    let out = t.validate(&["--format", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with("::error file=schedules/s%2C1.yaml,line=10,col=10,title=schema::"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn human_format_is_plain_when_piped() {
    let t = Tree::new();
    t.write(
        "schedules/s.yaml",
        &SCHEDULE.replace("count: 2", "count: 500"),
    );
    let out = t.validate(&[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("schedules/s.yaml:10:10"), "{text}");
    assert!(
        text.contains("  count: 500"),
        "the source line is shown: {text}"
    );
    assert!(text.is_ascii(), "no Unicode art when piped: {text}");
    assert!(!text.contains('\u{1b}'), "no colour when piped: {text}");
    assert!(text.contains("1 error"), "{text}");
}

#[test]
fn bad_bytes_never_panic_or_hang() {
    let t = Tree::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()),
        (
            "alias-bomb",
            b"a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n".to_vec(),
        ),
        ("deep-flow", format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes()),
        ("deep-block", (0..20_000).map(|i| format!("{}- \n", " ".repeat(i % 200))).collect::<String>().into_bytes()),
        ("deep-map", format!("{}1{}", "{a: ".repeat(20_000), "}".repeat(20_000)).into_bytes()),
        ("duplicate-keys", SCHEDULE.replace("name: Weekly\n", "name: Weekly\nname: Again\n").into_bytes()),
        ("tabs", SCHEDULE.replace("  mode: unused", "\tmode: unused").into_bytes()),
        ("crlf-bad", SCHEDULE.replace('\n', "\r\n").replace("count: 2", "count: x").into_bytes()),
        ("huge", vec![b'a'; 5 * 1024 * 1024]),
        ("nul", b"apiVersion: adsched/v1\0\nkind: Schedule\n".to_vec()),
        ("not-a-mapping", b"- 1\n- 2\n".to_vec()),
        ("tagged", SCHEDULE.replace("count: 2", "count: !!binary aGVsbG8=").into_bytes()),
        ("bom", [b"\xEF\xBB\xBF".as_slice(), b"a: [".as_slice()].concat()),
    ];
    for (name, bytes) in cases {
        let dir = t.path(&format!("cases/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.yaml"), &bytes).unwrap();
        let start = Instant::now();
        let out = bin()
            .current_dir(t.dir.path())
            .args(["validate", dir.to_str().unwrap(), "--format", "json"])
            .output()
            .unwrap();
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{name} took {took:?}");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors = v["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{name}");
        for e in errors {
            assert!(e["line"].as_u64().unwrap() >= 1, "{name}: {e}");
            assert!(!e["message"].as_str().unwrap().is_empty(), "{name}");
        }
    }
    // CRLF line endings alone are fine.
    t.write(
        "schedules/crlf.yaml",
        &SCHEDULE
            .replace("id: weekly", "id: crlf")
            .replace('\n', "\r\n"),
    );
    assert_eq!(t.json().0, 0);
}

#[test]
fn next_lists_times_as_rfc3339_in_the_zone() {
    let out = bin()
        .current_dir(repo())
        .args([
            "next",
            "acme-collagen-weekly",
            "--after",
            "2026-03-01T00:00:00Z",
            "--count",
            "3",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "id": "acme-collagen-weekly",
            "timezone": "America/Los_Angeles",
            "description": "every Monday at 09:00 (America/Los_Angeles)",
            "times": ["2026-03-02T09:00:00-08:00", "2026-03-09T09:00:00-07:00", "2026-03-16T09:00:00-07:00"]
        })
    );
}

#[test]
fn next_reads_a_file_and_uses_crontab_numbering() {
    let t = Tree::new();
    t.write(
        "one.yaml",
        &SCHEDULE.replace(
            "weekly: { day: monday, at: \"09:00\" }",
            "cron: \"30 2 * * 0\"",
        ),
    );
    let out = bin()
        .current_dir(t.dir.path())
        .args([
            "next",
            "one.yaml",
            "--after",
            "2026-03-01T00:00:00Z",
            "--count",
            "2",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Sundays; 02:30 on 2026-03-08 does not exist in Los Angeles: 03:00 PDT.
    assert_eq!(
        v["times"],
        serde_json::json!(["2026-03-01T02:30:00-08:00", "2026-03-08T03:00:00-07:00"])
    );
    assert!(v["description"].as_str().unwrap().contains("Sunday"), "{v}");
}

#[test]
fn next_errors() {
    let t = Tree::new();
    let out = bin()
        .current_dir(t.dir.path())
        .args(["next", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    let out = bin()
        .current_dir(t.dir.path())
        .args(["next", "weekly", "--after", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_command_prints_the_shipped_schema() {
    let out = bin().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/schedule.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, shipped);
    assert_eq!(
        printed["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
}

#[test]
fn a_subfolder_sees_the_products_of_the_whole_tree() {
    let t = Tree::new();
    t.write("schedules/acme/s.yaml", SCHEDULE);
    let out = t.validate(&["schedules/acme", "--format", "github"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Findings are those of the paths given, not of the rest of the tree.
    t.write(
        "schedules/other.yaml",
        &SCHEDULE
            .replace("id: weekly", "id: other")
            .replace("count: 2", "count: 500"),
    );
    let out = t.validate(&["schedules/acme", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), &v["files"], &v["documents"]),
        (Some(0), &Value::from(1), &Value::from(1)),
        "{v:#}"
    );
    // A duplicate across the tree shows on the file the pull request changed.
    t.write("schedules/acme/copy.yaml", SCHEDULE);
    let out = t.validate(&["schedules/acme/copy.yaml", "--format", "github"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("::error file=schedules/acme/copy.yaml,line=3,col=5,title=duplicate-id::"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "only the given file: {text}");
}

#[test]
fn a_folder_without_yaml_is_a_usage_error() {
    let t = Tree::new();
    std::fs::create_dir_all(t.path("schedules/acme")).unwrap();
    let out = t.validate(&["schedules/acme"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no schedule files under schedules/acme"),
        "{err}"
    );
}

#[test]
fn a_repeated_key_points_at_its_second_place() {
    let v = expect_one(
        "name: Weekly\n",
        "name: Weekly\nname: Again\n",
        "errors",
        "yaml-syntax",
        5,
        1,
    );
    assert!(
        message(&v, "yaml-syntax").contains("duplicate entry"),
        "{v:#}"
    );
}

#[test]
fn a_tab_in_indentation_is_called_a_tab() {
    let t = Tree::new();
    t.write(
        "schedules/s.yaml",
        &SCHEDULE.replace("  weekly:", "\tweekly:"),
    );
    let (status, v) = t.json();
    assert_eq!(status, 1);
    assert!(
        message(&v, "yaml-syntax").contains("tab character"),
        "{v:#}"
    );
}

#[test]
fn timezone_typos_get_a_suggestion() {
    for (typo, meant) in [
        ("europe/london", "Europe/London"),
        ("America/Los_Angles", "America/Los_Angeles"),
    ] {
        let v = expect_one(
            "  weekly: { day: monday, at: \"09:00\" }\n",
            &format!("  weekly: {{ day: monday, at: \"09:00\" }}\n  timezone: {typo}\n"),
            "errors",
            "timezone",
            8,
            13,
        );
        assert!(
            message(&v, "timezone").contains(&format!("did you mean `{meant}`")),
            "{v:#}"
        );
    }
}

#[test]
fn merge_keys_are_applied_and_point_into_the_anchor() {
    let doc = SCHEDULE.replace(
        "templates:\n  mode: unused\n  count: 2\n",
        "templates: &t\n  mode: unused\n  count: 2\nparameters:\n  <<: { num_variations: 3 }\n",
    );
    let t = Tree::new();
    t.write("schedules/s.yaml", &doc);
    let (status, v) = t.json();
    assert_eq!(status, 0, "a merge is not an unknown field: {v:#}");
    // A bad value brought in by a merge is reported where the anchor defines it.
    let doc = SCHEDULE.replace(
        "schedule:\n  weekly: { day: monday, at: \"09:00\" }\n",
        "schedule:\n  weekly:\n    <<: &w { day: monday, at: \"25:00\" }\n",
    );
    t.write("schedules/s.yaml", &doc);
    let (status, v) = t.json();
    assert_eq!(status, 1);
    assert_eq!(
        findings(&v, "errors"),
        vec![("time".into(), "schedules/s.yaml".into(), 8, 31)],
        "{v:#}"
    );
}

#[test]
fn a_later_document_without_the_modeline_is_warned() {
    let t = Tree::new();
    let line = "# yaml-language-server: $schema=../schemas/schedule.schema.json\n";
    let second = SCHEDULE.replace("id: weekly", "id: second");
    t.write(
        "schedules/s.yaml",
        &format!("{line}{SCHEDULE}---\n{second}"),
    );
    let (status, v) = t.json();
    assert_eq!(status, 0);
    assert_eq!(
        findings(&v, "warnings"),
        vec![("modeline".into(), "schedules/s.yaml".into(), 14, 1)],
        "{v:#}"
    );
    // With the modeline on every document, or on none, nothing to say.
    t.write(
        "schedules/s.yaml",
        &format!("{line}{SCHEDULE}---\n{line}{second}"),
    );
    assert_eq!(t.json().1["warnings"], Value::Array(vec![]));
    t.write("schedules/s.yaml", &format!("{SCHEDULE}---\n{second}"));
    assert_eq!(t.json().1["warnings"], Value::Array(vec![]));
}

#[test]
fn an_unclosed_document_is_reported_inside_the_text() {
    let t = Tree::new();
    let text = SCHEDULE
        .replace("export:\n  destination: none\n", "")
        .replace("  count: 2\n", "  count: [2, 3\n");
    assert_eq!(text.lines().count(), 10);
    t.write("schedules/s.yaml", &text);
    let (status, v) = t.json();
    assert_eq!(status, 1);
    let line = v["errors"][0]["line"].as_u64().unwrap();
    assert!(
        (1..=10).contains(&line),
        "line {line} is past the 10 lines of the file: {v:#}"
    );
}

#[test]
fn next_with_an_unknown_id_says_so_in_one_line() {
    let t = Tree::new();
    t.write("schedules/s.yaml", SCHEDULE);
    let out = bin()
        .current_dir(t.dir.path())
        .args(["next", "weekyl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`weekyl`") && err.contains("closest ids: weekly"),
        "{err}"
    );
}

#[test]
fn version_names_the_build() {
    let out = bin()
        .args(["version", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["api_versions"], serde_json::json!(["adsched/v1"]));
    assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert!(v["built"].as_str().is_some_and(|b| b.len() == 10), "{v}");
    let out = bin().arg("--version").output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with(&format!("adsched {}", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
}
