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

/// A clock that runs `speed` times faster than real time from a chosen
/// start, for tests of the real binary (`ADSCHED_CLOCK=warp:T0:R0_MS:SPEED`):
/// at real Unix time `R0_MS` it reads `T0`. Being a function of the real
/// time, it continues across restarts of the process.
#[derive(Debug, Clone, Copy)]
pub struct WarpClock {
    t0: DateTime<Utc>,
    r0: DateTime<Utc>,
    speed: u32,
}

impl WarpClock {
    /// Parses `warp:2026-03-08T00:00:00Z:1767225600000:600`.
    pub fn parse(spec: &str) -> Result<WarpClock, String> {
        let bad = || format!("ADSCHED_CLOCK `{spec}` is not warp:RFC3339:UNIX_MS:SPEED");
        let rest = spec.strip_prefix("warp:").ok_or_else(bad)?;
        let mut parts = rest.rsplitn(3, ':');
        let speed: u32 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let r0: i64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let t0 = parts
            .next()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(bad)?
            .with_timezone(&Utc);
        let r0 = DateTime::from_timestamp_millis(r0).ok_or_else(bad)?;
        if speed == 0 {
            return Err(bad());
        }
        Ok(WarpClock { t0, r0, speed })
    }
}

impl Clock for WarpClock {
    fn now(&self) -> DateTime<Utc> {
        self.t0 + (Utc::now() - self.r0) * self.speed as i32
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let warped = (t - self.now()).to_std().unwrap_or_default();
        let wait = (warped / self.speed).min(MAX_SLEEP);
        Box::pin(tokio::time::sleep(wait))
    }
}
