//! The schedules repository on GitHub (`--repo-url`, `--repo-branch`):
//! where the form's "Propose on GitHub" and "View on GitHub" links go.

use crate::client::urlencode;

/// A GitHub repository and branch, checked once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLink {
    url: String,
    branch: String,
}

impl RepoLink {
    /// `url` is `https://HOST/OWNER/REPO` (a trailing `/` or `.git` is
    /// dropped; GitHub Enterprise hosts work too); `branch` a branch name.
    pub fn parse(url: &str, branch: &str) -> Result<RepoLink, String> {
        let bad = || {
            format!(
                "--repo-url `{url}` is not a repository address; give https://github.com/OWNER/REPO"
            )
        };
        let trimmed = url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
        let rest = trimmed.strip_prefix("https://").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let name_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let host_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
        };
        if parts.len() != 3 || !host_ok(parts[0]) || !name_ok(parts[1]) || !name_ok(parts[2]) {
            return Err(bad());
        }
        let branch = branch.trim();
        let branch_ok = !branch.is_empty()
            && !branch.contains("..")
            && !branch.starts_with('/')
            && !branch.ends_with('/')
            && branch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !branch_ok {
            return Err(format!(
                "--repo-branch `{branch}` is not a branch name (letters, digits, `-`, `_`, `.` and `/`)"
            ));
        }
        Ok(RepoLink {
            url: trimmed.to_string(),
            branch: branch.to_string(),
        })
    }

    /// `https://github.com/OWNER/REPO`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The branch pull requests target.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The page of the file at `path` (from the repository's root).
    pub fn blob(&self, path: &str) -> String {
        format!("{}/blob/{}/{}", self.url, self.branch, segments(path))
    }
}

/// A path with each segment URL-encoded, the slashes kept.
pub(super) fn segments(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(urlencode)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::RepoLink;

    #[test]
    fn repository_addresses_are_checked_and_links_encoded() {
        let r = RepoLink::parse("https://github.com/acme/ad-schedules.git/", "main").unwrap();
        assert_eq!(r.url(), "https://github.com/acme/ad-schedules");
        assert_eq!(
            r.blob("schedules/acme/new file.yaml"),
            "https://github.com/acme/ad-schedules/blob/main/schedules/acme/new%20file.yaml"
        );
        for bad in [
            "http://github.com/acme/x",
            "https://github.com/acme",
            "https://github.com/acme/x/tree/main",
            "github.com/acme/x",
            "https://github.com/acme/x?y=<z>",
        ] {
            assert!(RepoLink::parse(bad, "main").is_err(), "{bad}");
        }
        assert!(RepoLink::parse("https://github.com/a/b", "../x").is_err());
        assert!(RepoLink::parse("https://github.com/a/b", "").is_err());
        assert!(RepoLink::parse("https://github.com/a/b", "release/2026").is_ok());
    }
}
