//! Printing findings: miette diagnostics for people, JSON for scripts, and
//! GitHub workflow commands for pull-request annotations.

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode,
};
use serde::Serialize;

use super::finding::{Finding, Severity};
use super::Catalog;

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// miette diagnostics with the source line.
    Human,
    /// One JSON object.
    Json,
    /// GitHub Actions workflow commands.
    Github,
}

/// Renders the whole result of a validation in `format`.
pub fn render(catalog: &Catalog, format: Format, fancy: bool) -> String {
    match format {
        Format::Human => human(catalog, fancy),
        Format::Json => json(catalog),
        Format::Github => github(catalog),
    }
}

/// One finding of the JSON report.
#[derive(Debug, Serialize)]
pub struct JsonFinding<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    code: &'static str,
    message: &'a str,
}

/// The JSON report of SPEC 2 (`--format json`, `POST /api/v1/validate`).
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    valid: bool,
    files: usize,
    documents: usize,
    errors: Vec<JsonFinding<'a>>,
    warnings: Vec<JsonFinding<'a>>,
}

fn json(catalog: &Catalog) -> String {
    let mut s = serde_json::to_string_pretty(&json_report(catalog)).expect("plain data serializes");
    s.push('\n');
    s
}

/// The catalog's findings as the JSON report.
pub fn json_report(catalog: &Catalog) -> JsonReport<'_> {
    let pick = |sev: Severity| {
        catalog
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .map(|f| JsonFinding {
                file: catalog.display(f.file),
                line: f.pos.line,
                column: f.pos.column,
                code: f.code.as_str(),
                message: &f.message,
            })
            .collect()
    };
    JsonReport {
        valid: !catalog.has_errors(),
        files: catalog.files.len(),
        documents: catalog.documents,
        errors: pick(Severity::Error),
        warnings: pick(Severity::Warning),
    }
}

/// Escapes a workflow-command message (GitHub's `escapeData`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value (GitHub's `escapeProperty`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn github(catalog: &Catalog) -> String {
    let mut out = String::new();
    for f in &catalog.findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "::{level} file={},line={},col={},title={}::{}\n",
            escape_property(catalog.display(f.file)),
            f.pos.line,
            f.pos.column,
            escape_property(f.code.as_str()),
            escape_data(&f.message)
        ));
    }
    out
}

fn human(catalog: &Catalog, fancy: bool) -> String {
    let theme = if fancy {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::none()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_links(false);
    let mut out = String::new();
    for f in &catalog.findings {
        let diag = Diag::new(catalog, f);
        if handler.render_report(&mut out, &diag).is_err() {
            out.push_str(&diag.to_string());
        }
        out.push('\n');
    }
    let errors = catalog
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = catalog.findings.len() - errors;
    out.push_str(&format!(
        "{}: {} file{}, {} document{}, {} error{}, {} warning{}\n",
        if errors == 0 { "valid" } else { "invalid" },
        catalog.files.len(),
        plural(catalog.files.len()),
        catalog.documents,
        plural(catalog.documents),
        errors,
        plural(errors),
        warnings,
        plural(warnings),
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A finding as a miette diagnostic, with its file as the source.
#[derive(Debug)]
struct Diag {
    message: String,
    code: &'static str,
    severity: miette::Severity,
    source: Option<NamedSource<Arc<str>>>,
    label: LabeledSpan,
    related: Vec<Diag>,
}

impl Diag {
    fn new(catalog: &Catalog, f: &Finding) -> Self {
        let file = &catalog.files[f.file];
        let location = format!("{}:{}:{}", file.display, f.pos.line, f.pos.column);
        let related = f
            .related
            .iter()
            .map(|r| {
                let other = &catalog.files[r.file];
                Diag {
                    message: format!(
                        "{}:{}:{}: {}",
                        other.display, r.pos.line, r.pos.column, r.label
                    ),
                    code: f.code.as_str(),
                    severity: miette::Severity::Advice,
                    source: source_of(other),
                    label: LabeledSpan::new(Some(r.label.clone()), r.pos.offset, r.pos.len),
                    related: Vec::new(),
                }
            })
            .collect();
        Diag {
            message: format!("{location}: {}", f.message),
            code: f.code.as_str(),
            severity: match f.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            source: source_of(file),
            label: LabeledSpan::new(Some(f.code.as_str().to_string()), f.pos.offset, f.pos.len),
            related,
        }
    }
}

fn source_of(file: &super::SourceFile) -> Option<NamedSource<Arc<str>>> {
    (!file.text.is_empty()).then(|| NamedSource::new(&file.display, file.text.clone()))
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(std::iter::once(self.label.clone())))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escaping() {
        assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }
}
