//! Email through SMTP (lettre, rustls): `ADSCHED_SMTP_URL`
//! (`smtp://host:port`, `smtp://host?tls=required` for STARTTLS,
//! `smtps://user:pass@host`), `ADSCHED_EMAIL_FROM`, allow-list
//! `ADSCHED_EMAIL_ALLOW`. One message per run: an HTML body with a
//! thumbnail grid (inline `cid:` images), a plain-text alternative, and the
//! images attached while the message stays under its size limit.

use std::io::Cursor;
use std::str::FromStr;

use lettre::address::AddressError;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{refused, with_retries, Failure, Summary};
use crate::dashboard::esc;
use crate::records::ExportResult;
use crate::settings::Settings;

/// Attachments stop before the message (base64 grows bytes by 4/3) passes
/// this: under the 20 MiB the users asked for, with room for the body.
const MAX_ATTACHED_BYTES: usize = 14 * 1024 * 1024;

/// Width of the inline thumbnails.
const THUMB_WIDTH: u32 = 240;

/// Why an email was not built or not sent. The messages hold the
/// underlying error's text, so it is not also a `source`: a report walking
/// the chain would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// No SMTP URL in the settings.
    #[error("ADSCHED_SMTP_URL is not set (e.g. smtps://user:pass@smtp.example.com)")]
    NoSmtpUrl,
    /// The SMTP URL does not parse; lettre's error is left out, as it may
    /// quote the URL, password included.
    #[error("ADSCHED_SMTP_URL is not a valid smtp:// or smtps:// URL")]
    BadSmtpUrl,
    /// No sender in the settings.
    #[error("ADSCHED_EMAIL_FROM is not set (e.g. adsched@acme.example)")]
    NoFrom,
    /// The sender does not parse.
    #[error("ADSCHED_EMAIL_FROM is not an address: {0}")]
    BadFrom(AddressError),
    /// A recipient does not parse.
    #[error("`{address}` is not an address: {error}")]
    BadAddress {
        /// The recipient as given.
        address: String,
        /// lettre's error.
        error: AddressError,
    },
    /// A recipient's domain is not in the allow-list.
    #[error("recipient domain {domain} is not in ADSCHED_EMAIL_ALLOW ({})", .allow.join(", "))]
    NotAllowed {
        /// The domain, lower case.
        domain: String,
        /// `ADSCHED_EMAIL_ALLOW`.
        allow: Vec<String>,
    },
    /// Nobody to send to.
    #[error("no recipients")]
    NoRecipients,
    /// CR or LF in text that goes into a header.
    #[error("{0} contains a line break, which is not allowed")]
    LineBreak(&'static str),
    /// lettre refused to assemble the message.
    #[error("cannot build the message: {0}")]
    Build(lettre::error::Error),
    /// The server answered with a permanent (5xx) error.
    #[error("the mail server refused the message: {0}")]
    Refused(smtp::Error),
    /// No answer, or a transient (4xx) error.
    #[error("sending failed: {0}")]
    Send(smtp::Error),
}

/// Refuses text with CR or LF where it would end up in a header; `field`
/// names it in the error (`the subject`).
pub fn no_newlines(field: &'static str, value: &str) -> Result<(), EmailError> {
    if value.contains(['\r', '\n']) {
        return Err(EmailError::LineBreak(field));
    }
    Ok(())
}

/// A file to attach.
pub struct File {
    /// Its name in the message.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its MIME type.
    pub content_type: String,
}

/// The SMTP settings from the environment.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of `ADSCHED_SMTP_URL` and `ADSCHED_EMAIL_FROM`.
    pub fn new(settings: &Settings) -> Result<Mailer, EmailError> {
        let url = settings
            .smtp_url
            .as_ref()
            .map(|u| u.expose().to_string())
            .ok_or(EmailError::NoSmtpUrl)?;
        let from = settings.email_from.clone().ok_or(EmailError::NoFrom)?;
        let from = Mailbox::from_str(&from).map_err(EmailError::BadFrom)?;
        // The URL holds the password: its parse error must not echo it.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|_| EmailError::BadSmtpUrl)?
            .timeout(Some(std::time::Duration::from_secs(60)))
            .build();
        Ok(Mailer { transport, from })
    }

    /// Sends one message; retries transient SMTP failures. Returns attempts made.
    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        html: &str,
        text: &str,
        inline: Vec<(String, File)>,
        attachments: Vec<File>,
    ) -> (Result<(), EmailError>, u32) {
        let message = match build(&self.from, to, subject, html, text, inline, attachments) {
            Ok(m) => m,
            Err(e) => return (Err(e), 0),
        };
        with_retries(|| {
            let message = message.clone();
            async move {
                match self.transport.send(message).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err(Failure::Permanent(EmailError::Refused(e))),
                    Err(e) => Err(Failure::Transient(EmailError::Send(e), None)),
                }
            }
        })
        .await
    }
}

/// Checks recipients against `ADSCHED_EMAIL_ALLOW` (domains).
pub fn check_allowed(settings: &Settings, to: &[String]) -> Result<(), EmailError> {
    let Some(allow) = &settings.email_allow else {
        return Ok(());
    };
    for addr in to {
        let a = Address::from_str(addr).map_err(|error| bad_address(addr, error))?;
        let domain = a.domain().to_ascii_lowercase();
        if !allow.contains(&domain) {
            return Err(EmailError::NotAllowed {
                domain,
                allow: allow.clone(),
            });
        }
    }
    Ok(())
}

fn bad_address(address: &str, error: AddressError) -> EmailError {
    EmailError::BadAddress {
        address: address.to_string(),
        error,
    }
}

fn build(
    from: &Mailbox,
    to: &[String],
    subject: &str,
    html: &str,
    text: &str,
    inline: Vec<(String, File)>,
    attachments: Vec<File>,
) -> Result<Message, EmailError> {
    no_newlines("the subject", subject)?;
    if to.is_empty() {
        return Err(EmailError::NoRecipients);
    }
    let mut b = Message::builder().from(from.clone()).subject(subject);
    for t in to {
        no_newlines("a recipient", t)?;
        b = b.to(Mailbox::from_str(t).map_err(|error| bad_address(t, error))?);
    }
    let ct = |s: &str| {
        ContentType::parse(s)
            .unwrap_or(ContentType::parse("application/octet-stream").expect("valid type"))
    };
    let mut related = MultiPart::related().singlepart(SinglePart::html(html.to_string()));
    for (cid, f) in inline {
        related =
            related.singlepart(Attachment::new_inline(cid).body(f.bytes, ct(&f.content_type)));
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(text.to_string()))
        .multipart(related);
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for f in attachments {
        no_newlines("an attachment name", &f.name)?;
        mixed = mixed.singlepart(Attachment::new(f.name).body(f.bytes, ct(&f.content_type)));
    }
    b.multipart(mixed).map_err(EmailError::Build)
}

fn thumbnail(bytes: &[u8]) -> Option<Vec<u8>> {
    let img = image::load_from_memory(bytes).ok()?;
    let thumb = if img.width() > THUMB_WIDTH {
        img.thumbnail(THUMB_WIDTH, THUMB_WIDTH * 4)
    } else {
        img
    };
    let mut out = Cursor::new(Vec::new());
    thumb.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// The HTML and text bodies, inline thumbnails and attachments of a run's message.
pub fn compose(summary: &Summary) -> (String, String, Vec<(String, File)>, Vec<File>) {
    let mut inline = Vec::new();
    let mut attachments = Vec::new();
    let mut attached = 0usize;
    let mut cells = String::new();
    let mut text = format!(
        "{} — {}\nBrand: {}\nProduct: {}\nRun: {} at {}\nTemplates: {}\n\n",
        summary.schedule_name,
        summary.schedule_id,
        summary.brand,
        summary.product,
        summary.run_id,
        summary.when,
        summary.templates.join(", ")
    );
    for (i, img) in summary.images.iter().enumerate() {
        let bytes = img.path.as_ref().and_then(|p| std::fs::read(p).ok());
        let name = img
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| format!("{}-{}", i + 1, n.to_string_lossy()))
            .unwrap_or_else(|| format!("{}.png", i + 1));
        let flag = if img.status == "flagged" {
            " (flagged for review)"
        } else {
            ""
        };
        match bytes {
            Some(bytes) => {
                let cid = format!("ad{}", i + 1);
                if let Some(t) = thumbnail(&bytes) {
                    cells.push_str(&format!(
                        "<td style=\"padding:4px;text-align:center\"><img src=\"cid:{cid}\" width=\"{THUMB_WIDTH}\" alt=\"{}\"><br><small>{}{}</small></td>",
                        esc(&img.template),
                        esc(&img.template),
                        flag
                    ));
                    inline.push((
                        cid,
                        File {
                            name: name.clone(),
                            bytes: t,
                            content_type: "image/png".into(),
                        },
                    ));
                }
                if attached + bytes.len() * 4 / 3 <= MAX_ATTACHED_BYTES {
                    attached += bytes.len() * 4 / 3;
                    text.push_str(&format!("- {name} (attached){flag}\n"));
                    let ct = img
                        .path
                        .as_deref()
                        .map_or("image/png", crate::media::content_type);
                    attachments.push(File {
                        name,
                        bytes,
                        content_type: ct.into(),
                    });
                } else {
                    let link = img
                        .url
                        .clone()
                        .unwrap_or_else(|| "(too large to attach; see the dashboard)".into());
                    text.push_str(&format!("- {name}: {link}{flag}\n"));
                }
            }
            None => {
                let link = img.url.clone().unwrap_or_default();
                cells.push_str(&format!(
                    "<td style=\"padding:4px;text-align:center\"><a href=\"{0}\"><img src=\"{0}\" width=\"{THUMB_WIDTH}\"></a><br><small>{1}{2}</small></td>",
                    esc(&link),
                    esc(&img.template),
                    flag
                ));
                text.push_str(&format!("- {}: {link}{flag}\n", img.template));
            }
        }
    }
    let rows: Vec<String> = cells
        .split_inclusive("</td>")
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| format!("<tr>{}</tr>", c.concat()))
        .collect();
    let link = summary
        .run_url
        .as_ref()
        .map(|u| {
            format!(
                "<p><a href=\"{0}\">Open this run on the dashboard</a></p>",
                esc(u)
            )
        })
        .unwrap_or_default();
    if let Some(u) = &summary.run_url {
        text.push_str(&format!("\nDashboard: {u}\n"));
    }
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <h2>{}</h2><p><b>Brand:</b> {}<br><b>Product:</b> {}<br><b>Schedule:</b> {} ({})<br>\
         <b>Run:</b> {} at {}<br><b>Templates:</b> {}</p><table>{}</table>{}</body></html>",
        esc(&summary.subject()),
        esc(&summary.brand),
        esc(&summary.product),
        esc(&summary.schedule_name),
        esc(&summary.schedule_id),
        esc(&summary.run_id),
        esc(&summary.when),
        esc(&summary.templates.join(", ")),
        rows.concat(),
        link
    );
    (html, text, inline, attachments)
}

/// Emails a run's ads to `to`.
pub async fn send_run(settings: &Settings, to: &[String], summary: &Summary) -> ExportResult {
    if let Err(e) = check_allowed(settings, to) {
        return refused("email", e.to_string());
    }
    let mailer = match Mailer::new(settings) {
        Ok(m) => m,
        Err(e) => {
            return ExportResult {
                destination: "email".into(),
                status: "failed".into(),
                attempts: 0,
                detail: e.to_string(),
            }
        }
    };
    let (html, text, inline, attachments) = compose(summary);
    let n = attachments.len();
    let (result, attempts) = mailer
        .send(to, &summary.subject(), &html, &text, inline, attachments)
        .await;
    match result {
        Ok(()) => ExportResult {
            destination: "email".into(),
            status: "sent".into(),
            attempts,
            detail: format!(
                "sent to {} with {n} image{} attached",
                to.join(", "),
                if n == 1 { "" } else { "s" }
            ),
        },
        Err(e) => ExportResult {
            destination: "email".into(),
            status: "failed".into(),
            attempts,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_body_escapes_both_quotes() {
        let summary = Summary {
            schedule_id: "s1".into(),
            schedule_name: "Weekly <b>".into(),
            product: "O'Brien's \"Best\"".into(),
            brand: "A & B".into(),
            run_id: "r1".into(),
            when: "now".into(),
            templates: vec!["t'1.png".into()],
            images: Vec::new(),
            run_url: Some("https://x.example/runs/r1?a=1&b='2'".into()),
        };
        let (html, text, _, _) = compose(&summary);
        assert!(
            html.contains("O&#39;Brien&#39;s &quot;Best&quot;"),
            "{html}"
        );
        assert!(html.contains("A &amp; B"), "{html}");
        assert!(html.contains("Weekly &lt;b&gt;"), "{html}");
        assert!(html.contains("t&#39;1.png"), "{html}");
        assert!(
            html.contains("href=\"https://x.example/runs/r1?a=1&amp;b=&#39;2&#39;\""),
            "{html}"
        );
        // The text alternative stays unescaped.
        assert!(text.contains("O'Brien's \"Best\""), "{text}");
    }
}
