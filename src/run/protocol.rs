//! The generator protocol (SPEC 5) as types: one [`GenerateRequest`] per
//! template goes to a generator, one [`GenerateResponse`] comes back.
//!
//! External programs (`cmd:`) and servers (`http(s)://`) read and write this
//! JSON, so field names and presence are a contract: the tests below pin
//! them. Responses are read leniently where SPEC 5 allows (`ad_run_id` may
//! be a number, `status` may be missing or null, unknown fields are
//! ignored) and refused with a message naming the expected shape otherwise.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::model::{Colors, Parameters};

/// What a generator is asked to do for one template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// The schedule that fired.
    pub schedule_id: String,
    /// The run.
    pub run_id: String,
    /// `<run_id>/<template name>`: the same on every retry of the call.
    pub idempotency_key: String,
    /// The product to make ads for.
    pub product: RequestProduct,
    /// The template to start from.
    pub template: RequestTemplate,
    /// The schedule's `parameters`, defaults filled in.
    #[serde(default)]
    pub parameters: Parameters,
    /// An absolute folder under the state folder where images may be written.
    pub output_dir: PathBuf,
}

/// The product part of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestProduct {
    /// Product id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The owning brand.
    pub brand: RequestBrand,
    /// Ad copy lines; possibly empty, always sent.
    #[serde(default)]
    pub hooks: Vec<String>,
    /// Brand colors; sent as `null` when the product has none.
    pub colors: Option<Colors>,
}

/// The brand of a request's product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestBrand {
    /// Brand id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The template part of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTemplate {
    /// The pool name, or the path as written for `uploaded`.
    pub name: String,
    /// The template's absolute path.
    pub path: PathBuf,
    /// From the file extension, e.g. `image/png`.
    pub media_type: String,
    /// The template's bytes in base64, only for generators that cannot read
    /// local files (`http(s)`); absent, not `null`, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
}

/// A generator's answer for one template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct GenerateResponse {
    /// The generator's id for this generation.
    pub ad_run_id: String,
    /// The images made; [`GenerateResponse::try_from`] does not require any
    /// (the run refuses an empty list with its own message).
    pub images: Vec<Image>,
}

/// One image of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct Image {
    /// Where the image is.
    #[serde(flatten)]
    pub source: ImageSource,
    /// The reviewers' verdict.
    pub status: ImageStatus,
    /// The ad copy on the image (its hook), when the generator says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Where an image is: exactly one key of the image object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// A file the generator wrote.
    Path(PathBuf),
    /// An `http(s)` URL, recorded as is.
    Url(String),
    /// PNG bytes in base64, saved by adsched.
    PngBase64(String),
}

/// An image's review status (SPEC 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Exported (the default).
    #[default]
    Approved,
    /// Exported with a note: the reviewers disagreed.
    Flagged,
    /// Recorded, never exported.
    Rejected,
}

impl ImageStatus {
    /// The wire name, also stored on ads.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Approved => "approved",
            ImageStatus::Flagged => "flagged",
            ImageStatus::Rejected => "rejected",
        }
    }
}

/// The response shape, quoted in errors so a generator's author sees what
/// to send.
const SHAPE: &str = "expected {\"ad_run_id\": \"...\", \"images\": [{\"path\"|\"url\"|\"png_base64\": ..., \"status\": \"approved\"|\"flagged\"|\"rejected\"}]}";

/// Why one image of a response was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    /// `status` is not one of the three.
    #[error("status {0} is not approved, flagged or rejected")]
    Status(Value),
    /// `url` is not `http://` or `https://`.
    #[error("url `{0}` is not http(s)")]
    NotHttp(String),
    /// None of `path`, `url`, `png_base64` is a string.
    #[error("none of `path`, `url`, `png_base64`; {SHAPE}")]
    NoSource,
}

/// Why a generator's output is not a response.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON at all; `sender` says whose output it was.
    #[error("{sender} ({error}): {head:?}")]
    NotJson {
        /// e.g. `the generator's output is not JSON`.
        sender: &'static str,
        /// serde_json's error (its text is in the message, so not a `source`).
        error: serde_json::Error,
        /// The first 200 characters of the output.
        head: String,
    },
    /// `ad_run_id` missing, empty, or neither string nor number.
    #[error("the generator's response has no `ad_run_id`; {SHAPE}")]
    NoAdRunId,
    /// `images` missing or not a list.
    #[error("the generator's response has no `images` list; {SHAPE}")]
    NoImages,
    /// Image `index` of the list is refused.
    #[error("{}", .error.at(*.index))]
    Image {
        /// Its place in `images`, from 0.
        index: usize,
        /// What is wrong with it.
        error: ImageError,
    },
}

impl ImageError {
    /// The message for image `i` of a response.
    fn at(&self, i: usize) -> String {
        match self {
            ImageError::Status(v) => {
                format!("image {i}: status {v} is not approved, flagged or rejected")
            }
            ImageError::NotHttp(u) => format!("image {i}: url `{u}` is not http(s)"),
            ImageError::NoSource => {
                format!("image {i} has none of `path`, `url`, `png_base64`; {SHAPE}")
            }
        }
    }
}

/// Most characters of an image's `text` kept: a hook is at most 500 (SPEC 1).
const MAX_AD_TEXT: usize = 500;

impl TryFrom<Value> for Image {
    type Error = ImageError;

    /// The status is checked first, then the first of `path`, `url`,
    /// `png_base64` that is a string is taken; an optional `text` (the ad
    /// copy, up to 500 characters kept) is read; other keys are ignored.
    fn try_from(v: Value) -> Result<Image, ImageError> {
        let status = match v.get("status") {
            None | Some(Value::Null) => ImageStatus::Approved,
            Some(Value::String(s)) if s == "approved" => ImageStatus::Approved,
            Some(Value::String(s)) if s == "flagged" => ImageStatus::Flagged,
            Some(Value::String(s)) if s == "rejected" => ImageStatus::Rejected,
            Some(other) => return Err(ImageError::Status(other.clone())),
        };
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        let source = if let Some(p) = text("path") {
            ImageSource::Path(PathBuf::from(p))
        } else if let Some(u) = text("url") {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ImageError::NotHttp(u));
            }
            ImageSource::Url(u)
        } else if let Some(b) = text("png_base64") {
            ImageSource::PngBase64(b)
        } else {
            return Err(ImageError::NoSource);
        };
        let copy = text("text")
            .map(|t| t.trim().chars().take(MAX_AD_TEXT).collect::<String>())
            .filter(|t| !t.is_empty());
        Ok(Image {
            source,
            status,
            text: copy,
        })
    }
}

impl TryFrom<Value> for GenerateResponse {
    type Error = ProtocolError;

    fn try_from(v: Value) -> Result<GenerateResponse, ProtocolError> {
        let ad_run_id = match v.get("ad_run_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(ProtocolError::NoAdRunId),
        };
        let Some(Value::Array(list)) = v.get("images") else {
            return Err(ProtocolError::NoImages);
        };
        let images = list
            .iter()
            .enumerate()
            .map(|(index, img)| {
                Image::try_from(img.clone()).map_err(|error| ProtocolError::Image { index, error })
            })
            .collect::<Result<_, _>>()?;
        Ok(GenerateResponse { ad_run_id, images })
    }
}

impl GenerateResponse {
    /// Reads a generator's raw output: `not_json` names the sender in the
    /// message for output that is not JSON at all.
    pub fn from_slice(
        bytes: &[u8],
        not_json: &'static str,
    ) -> Result<GenerateResponse, ProtocolError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|error| ProtocolError::NotJson {
            sender: not_json,
            error,
            head: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        })?;
        GenerateResponse::try_from(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{ColorMode, ContentSource, ImageSelectionMode};
    use serde_json::json;

    fn request(content: Option<&str>, colors: Option<Colors>) -> GenerateRequest {
        GenerateRequest {
            schedule_id: "acme-collagen-weekly".into(),
            run_id: "01RUN".into(),
            idempotency_key: "01RUN/summer-01.png".into(),
            product: RequestProduct {
                id: "collagen".into(),
                name: "Collagen".into(),
                brand: RequestBrand {
                    id: "acme".into(),
                    name: "Acme".into(),
                },
                hooks: vec!["Glow".into()],
                colors,
            },
            template: RequestTemplate {
                name: "summer-01.png".into(),
                path: "/abs/summer-01.png".into(),
                media_type: "image/png".into(),
                content_base64: content.map(str::to_string),
            },
            parameters: Parameters {
                num_variations: 5,
                content_source: ContentSource::Hooks,
                color_mode: ColorMode::Original,
                image_selection_mode: ImageSelectionMode::Auto,
            },
            output_dir: "/abs/state/ads/01RUN/0".into(),
        }
    }

    /// Every key of every object, as `a.b.c` paths, sorted.
    fn keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, child) in m {
                let path = format!("{prefix}{k}");
                keys(child, &format!("{path}."), out);
                out.push(path);
            }
        }
        out.sort();
    }

    #[test]
    fn request_field_names_are_those_of_spec_5() {
        let colors = Colors {
            primary: Some("#0F766E".into()),
            accent: None,
            text: None,
        };
        let v = serde_json::to_value(request(Some("aGk="), Some(colors))).unwrap();
        let mut got = Vec::new();
        keys(&v, "", &mut got);
        let mut want: Vec<String> = [
            "schedule_id",
            "run_id",
            "idempotency_key",
            "product",
            "product.id",
            "product.name",
            "product.brand",
            "product.brand.id",
            "product.brand.name",
            "product.hooks",
            "product.colors",
            "product.colors.primary",
            "product.colors.accent",
            "product.colors.text",
            "template",
            "template.name",
            "template.path",
            "template.media_type",
            "template.content_base64",
            "parameters",
            "parameters.num_variations",
            "parameters.content_source",
            "parameters.color_mode",
            "parameters.image_selection_mode",
            "output_dir",
        ]
        .map(String::from)
        .to_vec();
        want.sort();
        assert_eq!(got, want);
        // Unset colors are `null`, not missing.
        assert_eq!(v["product"]["colors"]["accent"], Value::Null);
    }

    #[test]
    fn request_matches_the_json_built_before_the_types() {
        // The request as `json!` built it before this module existed: the
        // typed one must serialise to the same value.
        let old = json!({
            "schedule_id": "acme-collagen-weekly",
            "run_id": "01RUN",
            "idempotency_key": "01RUN/summer-01.png",
            "product": {
                "id": "collagen", "name": "Collagen",
                "brand": {"id": "acme", "name": "Acme"},
                "hooks": ["Glow"], "colors": null,
            },
            "template": {"name": "summer-01.png", "path": "/abs/summer-01.png", "media_type": "image/png"},
            "parameters": {"num_variations": 5, "content_source": "hooks", "color_mode": "original", "image_selection_mode": "auto"},
            "output_dir": "/abs/state/ads/01RUN/0",
        });
        let typed = request(None, None);
        assert_eq!(serde_json::to_value(&typed).unwrap(), old);
        // No content: the key is absent, not null.
        assert!(old["template"].get("content_base64").is_none());
        let back: GenerateRequest = serde_json::from_value(old).unwrap();
        assert_eq!(back, typed);
    }

    #[test]
    fn response_reads_leniently_and_round_trips() {
        let r: GenerateResponse = serde_json::from_value(json!({
            "ad_run_id": 42, "extra": true,
            "images": [{"path": "/a.png"}, {"url": "https://x/1.png", "status": "flagged"},
                       {"png_base64": "aGk=", "status": null}, {"path": 3, "url": "http://y"}],
        }))
        .unwrap();
        assert_eq!(r.ad_run_id, "42");
        assert_eq!(r.images[0].source, ImageSource::Path("/a.png".into()));
        assert_eq!(r.images[1].status, ImageStatus::Flagged);
        assert_eq!(r.images[2].status, ImageStatus::Approved);
        assert_eq!(r.images[3].source, ImageSource::Url("http://y".into()));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["images"][1],
            json!({"url": "https://x/1.png", "status": "flagged"})
        );
        assert_eq!(serde_json::from_value::<GenerateResponse>(v).unwrap(), r);
    }

    #[test]
    fn bad_responses_name_the_shape() {
        let err = |v: Value| GenerateResponse::try_from(v).unwrap_err().to_string();
        assert!(err(json!({"images": []})).contains("no `ad_run_id`; expected {"));
        assert!(err(json!({"ad_run_id": "", "images": []})).contains("no `ad_run_id`"));
        assert!(err(json!({"ad_run_id": "a"})).contains("no `images` list"));
        assert_eq!(
            err(
                json!({"ad_run_id": "a", "images": [{"url": "https://x"}, {"path": "/p", "status": "meh"}]})
            ),
            "image 1: status \"meh\" is not approved, flagged or rejected"
        );
        assert_eq!(
            err(json!({"ad_run_id": "a", "images": [{"url": "ftp://x"}]})),
            "image 0: url `ftp://x` is not http(s)"
        );
        assert!(err(json!({"ad_run_id": "a", "images": ["x"]}))
            .starts_with("image 0 has none of `path`, `url`, `png_base64`; expected"));
        let e = GenerateResponse::from_slice(b"<html>", "the ad API's answer is not JSON")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the ad API's answer is not JSON ("), "{e}");
        assert!(e.ends_with("\"<html>\""), "{e}");
    }
}
