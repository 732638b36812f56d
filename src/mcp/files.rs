//! Files the sending tools may send: only generated ads and templates.

use std::path::{Path, PathBuf};

use super::{Config, MAX_FILES, MAX_FILE_BYTES};

/// Resolves and reads files to send, refusing any outside the allowed folders.
pub(super) fn read_files(
    cfg: &Config,
    given: &[String],
    what: &str,
) -> Result<Vec<FileToSend>, String> {
    if given.len() > MAX_FILES {
        return Err(format!(
            "{} {what} given; at most {MAX_FILES} can be sent in one message",
            given.len()
        ));
    }
    given
        .iter()
        .map(|g| {
            let path = resolve_file(cfg, g)?;
            let len = std::fs::metadata(&path)
                .map_err(|e| format!("`{g}`: {e}"))?
                .len();
            if len > MAX_FILE_BYTES {
                return Err(format!(
                    "`{g}` is {} MiB, over the {} MiB a file may have",
                    len / (1024 * 1024),
                    MAX_FILE_BYTES / (1024 * 1024)
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("`{g}`: {e}"))?;
            let name = path
                .file_name()
                .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
            Ok(FileToSend {
                content_type: crate::media::content_type(&path).to_string(),
                name,
                bytes,
            })
        })
        .collect()
}

pub(super) struct FileToSend {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    pub(super) content_type: String,
}

/// The folders files may be sent from: the state folder's `ads` and the templates.
fn allowed_roots(cfg: &Config) -> Vec<PathBuf> {
    [cfg.state.join("ads"), cfg.templates.clone()]
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
}

/// Finds a file to send: `/ads/...` (an ad image as the API shows it) or a
/// path relative to the state folder, a template name, or an absolute path.
/// Symlinks are resolved; the real file must be inside an allowed folder.
pub fn resolve_file(cfg: &Config, given: &str) -> Result<PathBuf, String> {
    let given = given.trim();
    if given.is_empty() {
        return Err("an empty file path was given".into());
    }
    let p = Path::new(given);
    let rel = given.trim_start_matches('/');
    let mut candidates = Vec::new();
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    }
    if !rel.is_empty() {
        candidates.push(cfg.state.join(rel));
        candidates.push(cfg.templates.join(rel));
    }
    if !p.is_absolute() {
        candidates.push(p.to_path_buf());
    }
    let roots = allowed_roots(cfg);
    let mut outside = false;
    for c in candidates {
        let Ok(real) = std::fs::canonicalize(&c) else {
            continue;
        };
        if !real.is_file() {
            continue;
        }
        if roots.iter().any(|r| real.starts_with(r)) {
            return Ok(real);
        }
        outside = true;
    }
    if outside {
        Err(format!(
            "`{given}` is outside the folders files may be sent from ({} and {}); only generated ads and templates can be sent",
            cfg.state.join("ads").display(),
            cfg.templates.display()
        ))
    } else {
        Err(format!(
            "`{given}` does not exist: give an ad image as get_run shows it (`/ads/...`), a template file name, or an absolute path inside {} or {}",
            cfg.state.join("ads").display(),
            cfg.templates.display()
        ))
    }
}

/// A crude plain-text rendering of an HTML body, for the text alternative.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "table"
                ) {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
    lines.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        assert_eq!(
            html_to_text("<h2>New ads</h2><p>Hello &amp; welcome<br>two</p>"),
            "New ads\n\nHello & welcome\ntwo"
        );
    }
}
