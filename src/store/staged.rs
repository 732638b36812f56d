//! A first start's reconcile applied while the folder is still being read:
//! the schedules each file wants come in batches (see
//! [`crate::reconcile::Stager`]) and are applied at once; when the read
//! ends, those the whole folder does not want as staged are removed.
//! PostgreSQL does it all in one transaction; sled commits each batch and
//! marks the store until the removal is done (see `store/sled.rs`).
//!
//! Why: at 10,000 schedules the read and the store's writes each take about
//! half a second, on two cores. The read needs one; the writes (and on
//! PostgreSQL the server's work) can use the other meanwhile.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use crate::reconcile::{DesiredSet, Noted};

/// What the read of the folder sends a staged reconcile.
#[derive(Clone)]
pub enum Stage {
    /// Schedules their own files (and earlier products) say are wanted.
    Batch(Arc<DesiredSet>),
    /// The whole read: the staged schedules it does not want as staged are
    /// removed, and the rest stand.
    Final(Arc<DesiredSet>),
}

/// Per staged schedule: its id, the change made and whether it settled.
pub type Staged = Vec<(String, Option<Noted>, bool)>;

/// What a staged reconcile has applied so far.
#[derive(Default)]
pub(crate) struct Progress {
    staged: Staged,
    /// Each staged schedule's id and the hash it was staged with.
    hashes: Vec<(String, u64)>,
}

impl Progress {
    /// Adds what a batch of `set` did (per schedule in `set`'s order).
    pub(crate) fn add(&mut self, set: &DesiredSet, done: Vec<(Option<Noted>, bool)>) {
        for ((id, d), (noted, settled)) in set.schedules.iter().zip(done) {
            self.hashes.push((id.clone(), d.hash));
            self.staged.push((id.clone(), noted, settled));
        }
    }

    /// Every id staged so far.
    pub(crate) fn ids(&self) -> Vec<&str> {
        self.hashes.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The ids to remove, as the whole read refutes them (all of them
    /// without it), and what stands.
    pub(crate) fn settle(self, whole: Option<&DesiredSet>) -> (Vec<String>, Staged) {
        let refuted: std::collections::HashSet<String> = match whole {
            Some(whole) => crate::reconcile::refuted(
                self.hashes.iter().map(|(id, h)| (id.as_str(), *h)),
                whole,
            )
            .into_iter()
            .map(str::to_string)
            .collect(),
            None => self.hashes.into_iter().map(|(id, _)| id).collect(),
        };
        let mut staged = self.staged;
        staged.retain(|(id, ..)| !refuted.contains(id));
        (refuted.into_iter().collect(), staged)
    }
}

/// The batches of one staged reconcile as its transaction reads them. They
/// are kept, as PostgreSQL's transaction may be tried again from its start
/// (a deadlock or a serialisation failure) and must read them again.
pub struct Feed {
    rx: Mutex<Receiver<Stage>>,
    seen: Mutex<Vec<Stage>>,
}

impl Feed {
    /// A feed and the sender for the reader.
    pub fn new() -> (Sender<Stage>, Feed) {
        let (tx, rx) = std::sync::mpsc::channel();
        let feed = Feed {
            rx: Mutex::new(rx),
            seen: Mutex::default(),
        };
        (tx, feed)
    }

    /// The `i`th message, waiting for it; None once every sender is gone
    /// without it.
    pub(crate) fn get(&self, i: usize) -> Option<Stage> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while seen.len() <= i {
            let next = self
                .rx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv()
                .ok()?;
            seen.push(next);
        }
        Some(seen[i].clone())
    }
}
