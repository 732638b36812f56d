//! Time, injectable: the system clock in production, a manual one in tests
//! (tokio's paused time does not move `chrono::Utc::now()`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The longest a sleep lasts before the wall clock is read again, so a
/// clock step or a suspended machine delays a fire by at most this (SPEC 3.3).
pub const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// A source of "now" and of waiting.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Waits until `t`, or at most [`MAX_SLEEP`]; callers re-check the time.
    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let wait = (t - Utc::now()).to_std().unwrap_or_default().min(MAX_SLEEP);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    tick: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(t)),
            tick: watch::channel(t).0,
        }
    }

    /// Sets the time (forward or back) and wakes sleepers.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
        self.tick.send_replace(t);
    }

    /// Moves the time forward.
    pub fn advance(&self, d: chrono::Duration) {
        let t = self.now() + d;
        self.set(t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            // Any change wakes the caller, which re-reads the time: like a
            // real sleep interrupted by a clock step.
            if self.now() < t {
                let _ = rx.changed().await;
            }
        })
    }
}
