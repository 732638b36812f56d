//! Settings that come from the environment (secrets and allow-lists), read
//! once when a command or the daemon starts and passed down, so that no code
//! deep in a run or a request looks at the environment, and a secret's
//! `Debug` never shows it.

use std::fmt;

/// A value that must not be shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from its text.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The environment's settings (README "Environment").
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `ADSCHED_API_TOKEN`: required on `POST …/trigger` when set; sent by
    /// the query commands.
    pub api_token: Option<Secret>,
    /// `ADSCHED_SMTP_URL` (it may hold a password).
    pub smtp_url: Option<Secret>,
    /// `ADSCHED_EMAIL_FROM`.
    pub email_from: Option<String>,
    /// `ADSCHED_EMAIL_ALLOW`: allowed recipient domains.
    pub email_allow: Option<Vec<String>>,
    /// `ADSCHED_SLACK_TOKEN`.
    pub slack_token: Option<Secret>,
    /// `ADSCHED_SLACK_API_URL`, when not Slack's own.
    pub slack_api_url: Option<String>,
    /// `ADSCHED_SLACK_ALLOW`: allowed channel ids.
    pub slack_allow: Option<Vec<String>>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Reads the variables; unset and empty are the same.
    pub fn from_env() -> Settings {
        Settings {
            api_token: var("ADSCHED_API_TOKEN").map(Secret),
            smtp_url: var("ADSCHED_SMTP_URL").map(Secret),
            email_from: var("ADSCHED_EMAIL_FROM"),
            email_allow: var("ADSCHED_EMAIL_ALLOW").and_then(|v| list(&v)),
            slack_token: var("ADSCHED_SLACK_TOKEN").map(Secret),
            slack_api_url: var("ADSCHED_SLACK_API_URL"),
            slack_allow: var("ADSCHED_SLACK_ALLOW").and_then(|v| list(&v)),
        }
    }

    /// The incoming-webhook URL in the variable a schedule names
    /// (`slack: { webhook_env: NAME }`). Read when the export runs: the name
    /// comes from a file that may change while the daemon runs.
    pub fn webhook_url(name: &str) -> Option<Secret> {
        var(name).map(Secret)
    }
}

/// A comma- or space-separated list, lowercased; empty = None.
pub fn list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug() {
        let s = Settings {
            api_token: Some(Secret::new("tok-123")),
            smtp_url: Some(Secret::new("smtps://u:pw-456@h")),
            slack_token: Some(Secret::new("xoxb-789")),
            ..Default::default()
        };
        let shown = format!("{s:?}");
        for secret in ["tok-123", "pw-456", "xoxb-789"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("***"));
    }

    #[test]
    fn lists_split_on_commas_and_spaces() {
        assert_eq!(
            list("Acme.example, b.example  c.example"),
            Some(vec![
                "acme.example".to_string(),
                "b.example".into(),
                "c.example".into()
            ])
        );
        assert_eq!(list(" , "), None);
    }
}
