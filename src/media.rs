//! Media types by file name, for templates, generated ads and attachments.

use std::path::Path;

/// The media type of a file from its extension (case-insensitive);
/// `application/octet-stream` when unknown.
pub fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension() {
        assert_eq!(content_type(Path::new("a/B.JPG")), "image/jpeg");
        assert_eq!(content_type(Path::new("x.webp")), "image/webp");
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }
}
