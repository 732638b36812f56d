//! Watching the schedules folder. The watcher's only output is "something
//! may have changed": reconcile rescans and decides (vector's model).
//!
//! It watches the folder recursively and, for every symlink on the way to it,
//! the folder holding that link: a Kubernetes ConfigMap or git-sync swap
//! replaces a symlink, and events about it land in the link's parent. After
//! every batch of events the watcher is rebuilt, since a swapped or renamed
//! folder leaves inotify watching the old inode.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Events are gathered until the folder has been quiet this long: an editor's
/// save or a `git checkout` is many events, and one rescan should follow them.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Folders to watch for `dir`: itself (recursive) and the parent of every
/// symlink met while resolving it, links inside link targets included
/// (git-sync: `schedules -> repo/current/schedules`, `current -> rev-abc`).
fn watch_list(dir: &Path) -> Vec<(PathBuf, RecursiveMode)> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = vec![(abs.clone(), RecursiveMode::Recursive)];
    let mut path = abs.clone();
    // Bounded: a symlink loop must not hang the watcher.
    'resolve: for _ in 0..40 {
        let mut prefix = PathBuf::new();
        let comps: Vec<_> = path.components().collect();
        for (i, c) in comps.iter().enumerate() {
            prefix.push(c);
            let is_link =
                std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link {
                continue;
            }
            let parent = prefix.parent().map(Path::to_path_buf).unwrap_or_default();
            out.push((parent.clone(), RecursiveMode::NonRecursive));
            let Ok(target) = std::fs::read_link(&prefix) else {
                break 'resolve;
            };
            let mut next = parent.join(target);
            for rest in &comps[i + 1..] {
                next.push(rest);
            }
            path = next;
            continue 'resolve;
        }
        break;
    }
    // A folder that does not exist yet (or went away) is watched through its
    // nearest existing ancestor, so its return is noticed.
    if !abs.exists() {
        let mut a = abs.as_path();
        while let Some(parent) = a.parent() {
            if parent.exists() {
                out.push((parent.to_path_buf(), RecursiveMode::NonRecursive));
                break;
            }
            a = parent;
        }
    }
    out
}

type Armed = (notify::RecommendedWatcher, mpsc::Receiver<bool>);

/// A new watcher on every folder of [`watch_list`].
fn arm(dir: &Path) -> Option<Armed> {
    let (tx, rx) = mpsc::channel();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Reading the files (our own rescan) raises access events: ignore
        // them, or every rescan would trigger the next.
        let relevant = match &res {
            Ok(ev) => !matches!(ev.kind, notify::EventKind::Access(_)),
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(res.is_ok());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot start the file watcher: {e}; relying on the periodic rescan");
            return None;
        }
    };
    for (path, mode) in watch_list(dir) {
        if let Err(e) = watcher.watch(&path, mode) {
            tracing::debug!("cannot watch {}: {e}", path.display());
        }
    }
    Some((watcher, rx))
}

/// Runs the watcher on a thread until the process ends; `changed` is
/// notified after each quiet batch of events. After a batch the watcher is
/// re-armed (swapped folders leave inotify on old inodes); the new one is
/// armed before the old one is dropped, so no event falls between them.
/// The first watcher is armed before this returns: a change made right after
/// (say, after `/readyz` said ready) is never missed.
pub fn spawn(dir: PathBuf, changed: std::sync::Arc<Notify>) {
    let first = arm(&dir);
    std::thread::Builder::new()
        .name("adsched-watch".into())
        .spawn(move || {
            let mut current = first;
            loop {
                // The daemon that wanted the news is gone (it holds the other
                // reference): stop watching.
                if std::sync::Arc::strong_count(&changed) == 1 {
                    return;
                }
                let Some((_, rx)) = current.as_ref() else {
                    std::thread::sleep(Duration::from_secs(10));
                    current = arm(&dir);
                    changed.notify_one();
                    continue;
                };
                // Wait for a first event (or a periodic re-arm), then drain until quiet.
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(_) => {
                        while rx.recv_timeout(DEBOUNCE).is_ok() {}
                        current = arm(&dir);
                        changed.notify_one();
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        // The folder may have been swapped without an event reaching us.
                        current = arm(&dir);
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        tracing::warn!("the file watcher stopped; re-creating it");
                        current = arm(&dir);
                        changed.notify_one();
                    }
                }
            }
        })
        .expect("spawning the watcher thread");
}
