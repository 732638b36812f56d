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

/// The API's named tokens (SPEC 8): `ADSCHED_API_TOKENS=name:token,...`
/// and the single `ADSCHED_API_TOKEN`, named `api`.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens(Vec<(String, Secret)>);

impl ApiTokens {
    /// Parses `name:token,...`; each problem is a message naming the entry.
    pub fn parse(named: Option<&str>, single: Option<&str>) -> (ApiTokens, Vec<String>) {
        let mut tokens = Vec::new();
        let mut problems = Vec::new();
        for (i, entry) in named
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            match entry.split_once(':') {
                Some((name, token))
                    if !name.trim().is_empty()
                        && !token.trim().is_empty()
                        && name
                            .trim()
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) =>
                {
                    tokens.push((name.trim().to_string(), Secret::new(token.trim())));
                }
                _ => problems.push(format!(
                    "ADSCHED_API_TOKENS: entry {} is not `name:token` (a name of letters, digits, `-`, `_`, `.` or `@`, a colon, then the token)",
                    i + 1
                )),
            }
        }
        if let Some(t) = single.map(str::trim).filter(|t| !t.is_empty()) {
            tokens.push(("api".to_string(), Secret::new(t)));
        }
        (ApiTokens(tokens), problems)
    }

    /// Whether any token is set: then every mutating request needs one.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// The name of the token `given`, if it is one of them. Compares every
    /// token in full, so the time taken says nothing about which matched.
    pub fn name_of(&self, given: &str) -> Option<&str> {
        let mut found = None;
        for (name, token) in &self.0 {
            if constant_time_eq(token.expose().as_bytes(), given.as_bytes()) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The environment's settings (README "Environment").
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `ADSCHED_API_TOKEN`: the token the query commands and the MCP server
    /// send (on the daemon, also a token named `api`).
    pub api_token: Option<Secret>,
    /// The tokens the daemon accepts on mutating requests.
    pub api_tokens: ApiTokens,
    /// What is wrong with the variables (a malformed token entry): the
    /// daemon refuses to start with any.
    pub problems: Vec<String>,
    /// `ADSCHED_ALERT_SLACK_CHANNEL`: alerts of schedules without `alerts`.
    pub alert_slack_channel: Option<String>,
    /// `ADSCHED_ALERT_EMAIL`: alert recipients of schedules without `alerts`.
    pub alert_email: Option<Vec<String>>,
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
        let single = var("ADSCHED_API_TOKEN");
        let (api_tokens, mut problems) =
            ApiTokens::parse(var("ADSCHED_API_TOKENS").as_deref(), single.as_deref());
        let alert_slack_channel = var("ADSCHED_ALERT_SLACK_CHANNEL").map(|c| c.trim().to_string());
        if let Some(c) = alert_slack_channel.as_deref() {
            if !crate::spec::is_channel_id(c) {
                problems.push(format!(
                    "ADSCHED_ALERT_SLACK_CHANNEL `{c}` is not a channel ID (C, G or D and 8 or more capitals or digits, such as C0123ABCD9)"
                ));
            }
        }
        let alert_email: Option<Vec<String>> = var("ADSCHED_ALERT_EMAIL").map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        });
        for a in alert_email.iter().flatten() {
            if a.parse::<lettre::Address>().is_err() {
                problems.push(format!(
                    "ADSCHED_ALERT_EMAIL: `{a}` is not an email address; give bare addresses separated by commas"
                ));
            }
        }
        Settings {
            api_token: single.map(Secret),
            api_tokens,
            problems,
            alert_slack_channel,
            alert_email,
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
    fn named_tokens_are_found_by_value_and_bad_entries_named() {
        let (t, problems) = ApiTokens::parse(Some("ops:tok-1, ci:tok-2,broken"), Some("tok-3"));
        assert_eq!(t.name_of("tok-1"), Some("ops"));
        assert_eq!(t.name_of("tok-2"), Some("ci"));
        assert_eq!(t.name_of("tok-3"), Some("api"));
        assert_eq!(t.name_of("tok-"), None);
        assert_eq!(t.name_of(""), None);
        assert!(t.any());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("entry 3"), "{problems:?}");
        assert!(!format!("{t:?}").contains("tok-1"));
        let (none, p) = ApiTokens::parse(None, None);
        assert!(!none.any() && p.is_empty());
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
