//! Validation findings: what is wrong, where, and what is allowed.

use serde::Serialize;

use super::spans::Pos;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the file invalid.
    Error,
    /// Worth a look; the file stays valid.
    Warning,
}

/// The stable codes of SPEC 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Code {
    YamlSyntax,
    Schema,
    UnknownField,
    Cron,
    Timezone,
    Time,
    DuplicateId,
    UnknownProduct,
    TemplateMissing,
    PathEscape,
    Email,
    Export,
    FileTooLarge,
    NeverFires,
    OnceInPast,
    PoolTooSmall,
    Modeline,
}

impl Code {
    /// The code as printed, e.g. `yaml-syntax`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::Schema => "schema",
            Code::UnknownField => "unknown-field",
            Code::Cron => "cron",
            Code::Timezone => "timezone",
            Code::Time => "time",
            Code::DuplicateId => "duplicate-id",
            Code::UnknownProduct => "unknown-product",
            Code::TemplateMissing => "template-missing",
            Code::PathEscape => "path-escape",
            Code::Email => "email",
            Code::Export => "export",
            Code::FileTooLarge => "file-too-large",
            Code::NeverFires => "never-fires",
            Code::OnceInPast => "once-in-past",
            Code::PoolTooSmall => "pool-too-small",
            Code::Modeline => "modeline",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Another place a finding refers to (the first definition of a duplicate id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// Index of the file in the catalog.
    pub file: usize,
    /// Where in it.
    pub pos: Pos,
    /// What is there.
    pub label: String,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code.
    pub code: Code,
    /// Index of the file in the catalog.
    pub file: usize,
    /// Where the offending node is.
    pub pos: Pos,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Another place involved, if any.
    pub related: Option<Related>,
}

impl Finding {
    /// An error at `pos`.
    pub fn error(code: Code, file: usize, pos: Pos, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            code,
            file,
            pos,
            message: message.into(),
            related: None,
        }
    }

    /// A warning at `pos`.
    pub fn warning(code: Code, file: usize, pos: Pos, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(code, file, pos, message)
        }
    }
}
