//! Run ids, the same for every backend.

use chrono::{DateTime, Utc};

/// Time-ordered, unique ids: ulid's monotonic generator (80 random bits,
/// incremented within a millisecond or when the clock steps back), so ids
/// made in order sort in order.
#[derive(Default)]
pub(crate) struct IdGen(std::sync::Mutex<ulid::Generator>);

impl IdGen {
    pub(crate) fn next(&self, now: DateTime<Utc>) -> String {
        let t: std::time::SystemTime = now.max(DateTime::UNIX_EPOCH).into();
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match g.generate_from_datetime(t) {
            Ok(id) => id.to_string(),
            // The random part ran out in this millisecond (after ~2^79
            // ids): the next millisecond starts afresh and still sorts after.
            Err(_) => {
                let later = t + std::time::Duration::from_millis(1);
                g.generate_from_datetime(later)
                    .unwrap_or_else(|_| ulid::Ulid::from_datetime(later))
                    .to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ordered_and_unique() {
        let g = IdGen::default();
        let now = Utc::now();
        let ids: Vec<String> = (0..1000).map(|_| g.next(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
        // A clock that steps back still gives ids after the last one.
        let back = g.next(now - chrono::Duration::seconds(10));
        assert!(back > ids[999]);
    }
}
