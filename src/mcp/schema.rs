//! The tools' JSON Schemas as clients can use them, and the lenient number
//! arguments that go with them.
//!
//! schemars describes an `Option<u32>` as `"type": ["integer", "null"]` with
//! `"format": "uint32"`. The MCP Inspector cannot fill a union type (it sends
//! the number as a string, which then fails), and Ajv-based clients warn on
//! every call about formats JSON Schema does not define. So every tool's
//! schemas are rewritten once, when the server is built: an optional property
//! is one left out of `required`, never one that may be `null`, and only the
//! standard formats stay.

use std::fmt;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};
use schemars::Schema;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde_json::{json, Value};

/// The formats JSON Schema 2020-12 defines.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Rewrites a tool's input and output schemas (see the module's comment).
pub(super) fn for_clients(tool: &mut Tool) {
    tool.input_schema = rewrite(&tool.input_schema);
    if let Some(output) = &tool.output_schema {
        tool.output_schema = Some(rewrite(output));
    }
}

fn rewrite(schema: &JsonObject) -> Arc<JsonObject> {
    let mut schema = Schema::from(schema.clone());
    plain(&mut schema);
    match schema.to_value() {
        Value::Object(object) => Arc::new(object),
        // A schema made from an object stays one.
        _ => unreachable!("a schema object became a boolean"),
    }
}

/// One schema and, recursively, its subschemas.
fn plain(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut() {
        let nonstandard = object
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| !STANDARD_FORMATS.contains(&f));
        if nonstandard {
            object.remove("format");
        }
        let required: Vec<String> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            for (name, property) in properties.iter_mut() {
                if let Value::Object(property) = property {
                    if !required.contains(name) {
                        absent_not_null(property);
                    }
                }
            }
        }
    }
    schemars::transform::transform_subschemas(&mut plain, schema);
}

/// An optional property: the same schema without its `null` alternative.
/// Only properties left out of `required` are changed, since a required one
/// that may be `null` (an output's `next_fire_time`, say) really is written
/// as `null`; an optional one is left out instead.
fn absent_not_null(property: &mut JsonObject) {
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            property.insert("type".into(), only);
        }
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = property.get_mut(key) else {
            continue;
        };
        branches.retain(|b| *b != json!({"type": "null"}));
        if let [Value::Object(only)] = branches.as_slice() {
            let only = only.clone();
            property.remove(key);
            for (k, v) in only {
                property.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(values)) = property.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if property.get("default").is_some_and(Value::is_null) {
        property.remove("default");
    }
}

/// Reads an optional whole number given as a JSON number or as a string of
/// digits: form-based clients send what was typed as text (`"5"`). An empty
/// string is no number, as a form field left blank. A number with a zero
/// fraction (`5.0`) is accepted, as JSON Schema's `integer` accepts it.
pub(super) fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(WholeNumber)
}

struct WholeNumber;

/// Whole numbers an `f64` holds exactly.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

impl<'de> Visitor<'de> for WholeNumber {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number such as 5")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(WholeNumber)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() <= EXACT_F64 {
            Ok(Some(v as i64))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if let Ok(n) = t.parse::<i64>() {
            return Ok(Some(n));
        }
        match t.parse::<f64>() {
            Ok(f) if f.is_finite() => self.visit_f64(f),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Args {
        #[serde(default, deserialize_with = "lenient_int")]
        n: Option<i64>,
    }

    fn n(v: Value) -> Result<Option<i64>, String> {
        serde_json::from_value::<Args>(v)
            .map(|a| a.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_come_as_numbers_or_strings() {
        assert_eq!(n(json!({})), Ok(None));
        assert_eq!(n(json!({"n": null})), Ok(None));
        assert_eq!(n(json!({"n": 5})), Ok(Some(5)));
        assert_eq!(n(json!({"n": -3})), Ok(Some(-3)));
        assert_eq!(n(json!({"n": 5.0})), Ok(Some(5)));
        assert_eq!(n(json!({"n": "5"})), Ok(Some(5)));
        assert_eq!(n(json!({"n": " 12 "})), Ok(Some(12)));
        assert_eq!(n(json!({"n": "1e3"})), Ok(Some(1000)));
        assert_eq!(n(json!({"n": ""})), Ok(None));
        for bad in [
            json!("five"),
            json!(2.5),
            json!("2.5"),
            json!(true),
            json!([1]),
        ] {
            let e = n(json!({ "n": bad })).unwrap_err();
            assert!(e.contains("a whole number such as 5"), "{bad}: {e}");
        }
    }

    #[test]
    fn optional_properties_lose_null_and_odd_formats() {
        let mut schema = Schema::from(
            json!({
                "type": "object",
                "properties": {
                    "count": {"type": ["integer", "null"], "format": "uint32", "minimum": 1, "default": null},
                    "status": {"anyOf": [{"$ref": "#/$defs/S"}, {"type": "null"}], "description": "d"},
                    "when": {"type": ["string", "null"], "format": "date-time"},
                    "next": {"type": ["string", "null"]},
                    "format": {"type": "integer", "format": "int64"},
                },
                "required": ["next"],
                "$defs": {"S": {"type": "string", "enum": ["a", null]}},
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        plain(&mut schema);
        assert_eq!(
            schema.to_value(),
            json!({
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 1},
                    "status": {"$ref": "#/$defs/S", "description": "d"},
                    "when": {"type": "string", "format": "date-time"},
                    "next": {"type": ["string", "null"]},
                    "format": {"type": "integer"},
                },
                "required": ["next"],
                "$defs": {"S": {"type": "string", "enum": ["a", null]}},
            })
        );
    }
}
