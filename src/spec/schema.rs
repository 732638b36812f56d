//! The JSON Schema (`schemas/schedule.schema.json`) and its errors as findings.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::finding::Code;
use super::spans::escape_segment;

/// The schema text, as shipped in `schemas/` and printed by `adsched schema`.
pub const SCHEMA_JSON: &str = include_str!("../../schemas/schedule.schema.json");

/// The schema as JSON.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(SCHEMA_JSON).expect("embedded schema is JSON"))
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft7::new(schema()).expect("embedded schema compiles (tested)")
    })
}

/// Where a schema error points: the value or the key at an instance path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// The value at this JSON-pointer path.
    Value(String),
    /// The key holding this path (missing or unknown fields).
    Key(String),
}

/// One schema violation, ready to become a finding.
#[derive(Debug, Clone)]
pub struct SchemaError {
    /// `schema` or `unknown-field`.
    pub code: Code,
    /// Where to point.
    pub anchor: Anchor,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// Checks one document against the schema.
pub fn check(instance: &Value) -> Vec<SchemaError> {
    let mut out = Vec::new();
    for err in validator().iter_errors(instance) {
        describe(&err, instance, &mut out);
    }
    // `oneOf` failures say the same as a more precise error often found beside them.
    out.dedup_by(|a, b| a.anchor == b.anchor && a.message == b.message);
    out
}

/// Fields whose `pattern` or `enum` in the schema is there for editors; the
/// calendar checks judge them, with their own codes (`time`, `cron`,
/// `timezone`) and messages that say what is allowed.
const CALENDAR_CHECKED: [&str; 6] = [
    "/schedule/timezone",
    "/schedule/cron",
    "/schedule/daily/at",
    "/schedule/weekly/at",
    "/schedule/monthly/at",
    "/schedule/once/at",
];

fn describe(err: &ValidationError, instance: &Value, out: &mut Vec<SchemaError>) {
    let path = err.instance_path().as_str().to_string();
    if matches!(
        err.kind(),
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::Enum { .. }
    ) && CALENDAR_CHECKED.contains(&path.as_str())
    {
        return;
    }
    let schema_path = err.schema_path().as_str();
    // The subschema that holds the failing keyword, for its description and properties.
    let parent = schema_at(parent_path(schema_path));
    let what = field_name(&path);
    let allowed = parent
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .map(|d| format!("; {d}"))
        .unwrap_or_default();
    let here = instance_at(instance, &path);
    let (code, anchor, message) = match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let names = property_names(parent);
            for name in unexpected {
                let suggestion = closest(name, &names)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                out.push(SchemaError {
                    code: Code::UnknownField,
                    anchor: Anchor::Key(format!("{path}/{}", escape_segment(name))),
                    message: format!(
                        "unknown field `{name}` in {what}; {suggestion}allowed fields: {}",
                        names.join(", ")
                    ),
                });
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let desc = parent
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(name))
                .and_then(|p| resolve(p).get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            (
                Code::Schema,
                Anchor::Key(path.clone()),
                format!("missing required field `{name}` in {what}{desc}"),
            )
        }
        ValidationErrorKind::Enum { options } => (
            Code::Schema,
            Anchor::Value(path.clone()),
            format!(
                "{} is not allowed for {what}; allowed: {}",
                show(here),
                options
                    .as_array()
                    .map(|o| o
                        .iter()
                        .map(|v| show(Some(v)))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
        ),
        ValidationErrorKind::Constant { expected_value } => (
            Code::Schema,
            Anchor::Value(path.clone()),
            format!(
                "{} is not allowed for {what}; it must be {}",
                show(here),
                show(Some(expected_value))
            ),
        ),
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => {
            let many = matches!(err.kind(), ValidationErrorKind::OneOfMultipleValid { .. });
            (
                Code::Schema,
                Anchor::Key(path.clone()),
                format!(
                    "{what} {}{allowed}",
                    if many {
                        "has more than one of the forms it allows"
                    } else {
                        "matches none of the forms it allows"
                    }
                ),
            )
        }
        ValidationErrorKind::Type { .. } => {
            let expected = err.to_string();
            (
                Code::Schema,
                Anchor::Value(path.clone()),
                format!("{what}: {expected}{allowed}"),
            )
        }
        _ => (
            Code::Schema,
            Anchor::Value(path.clone()),
            format!("{what}: {err}{allowed}"),
        ),
    };
    out.push(SchemaError {
        code,
        anchor,
        message,
    });
}

/// `/schedule/weekly/day` → "`schedule.weekly.day`"; the root → "the document".
fn field_name(path: &str) -> String {
    if path.is_empty() {
        return "the document".to_string();
    }
    let dotted: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    format!("`{}`", dotted.join("."))
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
        None => "the value".to_string(),
    }
}

fn instance_at<'a>(instance: &'a Value, path: &str) -> Option<&'a Value> {
    instance.pointer(path)
}

fn parent_path(schema_path: &str) -> &str {
    schema_path.rfind('/').map_or("", |i| &schema_path[..i])
}

/// Follows a local `$ref` ("#/definitions/x").
fn resolve(node: &Value) -> &Value {
    let mut node = node;
    for _ in 0..8 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| schema().pointer(p)) {
                Some(target) => node = target,
                None => break,
            },
            None => break,
        }
    }
    node
}

/// The schema node at a keyword location, following `$ref` segments.
fn schema_at(path: &str) -> Option<&'static Value> {
    let mut node = schema();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg == "$ref" {
            node = resolve(node);
            continue;
        }
        let seg = seg.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(resolve(node))
}

fn property_names(node: Option<&Value>) -> Vec<String> {
    node.and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The allowed name closest to a typo, if it is close.
pub(crate) fn closest<'a>(name: &str, allowed: &'a [String]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(name, a), a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.as_str())
}

/// Levenshtein distance, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_timezone_list_is_the_daemons() {
        let listed: Vec<&str> = schema()["definitions"]["timing"]["properties"]["timezone"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut known: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect();
        known.sort_unstable();
        assert_eq!(listed, known, "regenerate the timezone enum from chrono-tz");
    }

    #[test]
    fn editor_patterns_accept_what_validate_accepts() {
        let re = |p: &str| {
            let s = &schema()["definitions"];
            let v = match p {
                "time" => &s["time"]["pattern"],
                "once" => &s["timing"]["properties"]["once"]["properties"]["at"]["pattern"],
                _ => &s["timing"]["properties"]["cron"]["pattern"],
            };
            jsonschema::validator_for(&json!({"type": "string", "pattern": v})).unwrap()
        };
        for ok in ["00:00", "09:00", "23:59"] {
            assert!(re("time").is_valid(&json!(ok)), "{ok}");
            assert!(crate::calendar::parse_time(ok).is_ok());
        }
        for bad in ["25:99", "9:00", "24:00", "09:60"] {
            assert!(!re("time").is_valid(&json!(bad)), "{bad}");
            assert!(crate::calendar::parse_time(bad).is_err(), "{bad}");
        }
        assert!(re("once").is_valid(&json!("2026-12-24T09:00")));
        assert!(re("once").is_valid(&json!("2026-12-24T09:00:30")));
        assert!(!re("once").is_valid(&json!("2026-13-24T09:00")));
        assert!(!re("once").is_valid(&json!("2026-12-24 09:00")));
        for ok in [
            "0 9 * * 1",
            "*/30 * * * *",
            "0 9 1-7 JAN-MAR MON-FRI",
            "0 9 L * *",
        ] {
            assert!(re("cron").is_valid(&json!(ok)), "{ok}");
        }
        assert!(!re("cron").is_valid(&json!("0 9 * *")));
        // The schema's enum does not double the calendar check's finding.
        let doc = json!({"apiVersion": "adsched/v1", "kind": "Schedule", "id": "a", "name": "a",
            "product": "p", "templates": {"mode": "unused", "count": 1},
            "schedule": {"daily": {"at": "25:99"}, "timezone": "Mars/Base"}});
        assert!(
            check(&doc).is_empty(),
            "{:?}",
            check(&doc).iter().map(|e| &e.message).collect::<Vec<_>>()
        );
    }

    #[test]
    fn unknown_field_names_the_field_and_the_allowed_ones() {
        let doc = json!({"apiVersion": "adsched/v1", "kind": "Product", "id": "p", "name": "P",
                         "brand": {"id": "b", "name": "B"}, "hookz": []});
        let errs = check(&doc);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].code, Code::UnknownField);
        assert_eq!(errs[0].anchor, Anchor::Key("/hookz".into()));
        assert!(
            errs[0].message.contains("did you mean `hooks`"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn enum_errors_list_the_allowed_values() {
        let doc = json!({"apiVersion": "adsched/v1", "kind": "Schedule", "id": "s", "name": "S",
            "product": "p", "schedule": {"weekly": {"day": "mondey", "at": "09:00"}},
            "templates": {"mode": "unused", "count": 3}});
        let errs = check(&doc);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].anchor, Anchor::Value("/schedule/weekly/day".into()));
        assert!(errs[0].message.contains("`monday`"), "{}", errs[0].message);
    }

    #[test]
    fn missing_field_points_at_the_parent_key() {
        let doc = json!({"apiVersion": "adsched/v1", "kind": "Schedule", "id": "s", "name": "S",
            "product": "p", "schedule": {"weekly": {"at": "09:00"}},
            "templates": {"mode": "unused", "count": 3}});
        let errs = check(&doc);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].anchor, Anchor::Key("/schedule/weekly".into()));
        assert!(errs[0].message.contains("`day`"), "{}", errs[0].message);
    }

    #[test]
    fn two_forms_is_an_error() {
        let doc = json!({"apiVersion": "adsched/v1", "kind": "Schedule", "id": "s", "name": "S",
            "product": "p", "schedule": {"daily": {"at": "09:00"}, "cron": "0 9 * * 1"},
            "templates": {"mode": "unused", "count": 3}});
        let errs = check(&doc);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].message.contains("exactly one of"),
            "{}",
            errs[0].message
        );
    }
}
