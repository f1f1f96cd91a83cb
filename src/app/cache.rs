//! What the calendar's readers (and the reference lists' readers, under a generation of
//! their own) ask for again and again, kept in the process under the
//! calendar's generation number (`store::courses::calendar_generation`, raised by database
//! triggers on every change a calendar list or its filter form's choices can show). A kept value is used only while the generation it was made at is still the
//! database's, which costs one single-row read per request: correct whichever copy of the
//! service, command or bookings job made the change, and nothing to forget to invalidate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Values made at a calendar generation, by key. Concurrent requests for a key that is not
/// kept yet wait for the first one to make it rather than all making it.
pub struct GenerationCache<V> {
    entries: Mutex<HashMap<String, (i64, V)>>,
    /// One lock per key being made.
    filling: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Distinct keys kept; when full, the cache starts again.
    max_entries: usize,
}

impl<V: Clone> GenerationCache<V> {
    /// An empty cache keeping at most `max_entries` keys.
    pub fn new(max_entries: usize) -> Self {
        GenerationCache {
            entries: Mutex::new(HashMap::new()),
            filling: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// The value kept for `key` at `generation`, if any.
    pub fn get(&self, key: &str, generation: i64) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((g, value)) if *g == generation => Some(value.clone()),
            _ => None,
        }
    }

    /// The value kept for `key` at `generation`, or one made with `make` (and kept when `keep`
    /// says so); concurrent callers for the same key make it once.
    pub fn get_or_make<E>(
        &self,
        key: &str,
        generation: i64,
        keep: impl FnOnce(&V) -> bool,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(value) = self.get(key, generation) {
            return Ok(value);
        }
        let lock = match self.filling.lock() {
            Ok(mut filling) => filling.entry(key.to_string()).or_default().clone(),
            Err(_) => return make(),
        };
        let result = {
            let _turn = lock.lock();
            match self.get(key, generation) {
                Some(value) => Ok(value),
                None => make().inspect(|value| {
                    if keep(value) {
                        self.put(key.to_string(), generation, value.clone());
                    }
                }),
            }
        };
        if let Ok(mut filling) = self.filling.lock() {
            // The last one out removes the lock (the map's own reference and ours remain).
            if Arc::strong_count(&lock) <= 2 {
                filling.remove(key);
            }
        }
        result
    }

    fn put(&self, key: String, generation: i64, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.max_entries && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, (generation, value));
        }
    }
}

/// The caches the service shares between its workers (see [`crate::app::AppState`]).
pub struct Caches {
    /// Published calendar lists by normalised query (`app::courses::calendar`).
    pub calendar: GenerationCache<Arc<crate::app::courses::CalendarList>>,
    /// The calendar filter form's choices: priorities, staff groups and clusters
    /// (`app::courses::calendar_page`).
    pub choices: GenerationCache<Arc<crate::app::courses::FilterChoices>>,
    /// The reference lists' encoded JSON responses by list and normalised query, under the
    /// reference generation (`store::reference::reference_generation`), not the calendar's
    /// (`app::reference::kept_list`).
    pub reference: GenerationCache<actix_web::web::Bytes>,
}

/// Distinct calendar queries kept; when full, the cache starts again.
const CALENDAR_ENTRIES: usize = 512;

/// Distinct reference list queries kept; when full, the cache starts again.
const REFERENCE_ENTRIES: usize = 512;

impl Default for Caches {
    fn default() -> Self {
        Caches {
            calendar: GenerationCache::new(CALENDAR_ENTRIES),
            choices: GenerationCache::new(1),
            reference: GenerationCache::new(REFERENCE_ENTRIES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_holds_only_at_its_generation() {
        let cache: GenerationCache<Arc<String>> = GenerationCache::new(2);
        let made = cache
            .get_or_make(
                "a",
                1,
                |_| true,
                || Ok::<_, ()>(Arc::new("one".to_string())),
            )
            .unwrap();
        assert_eq!(*made, "one");
        // Kept: `make` is not called again at the same generation.
        let again = cache
            .get_or_make("a", 1, |_| true, || Err::<Arc<String>, _>(()))
            .unwrap();
        assert_eq!(*again, "one");
        // A new generation makes it again.
        assert!(cache.get("a", 2).is_none());
        let newer = cache
            .get_or_make(
                "a",
                2,
                |_| true,
                || Ok::<_, ()>(Arc::new("two".to_string())),
            )
            .unwrap();
        assert_eq!(*newer, "two");
        // Not kept when `keep` refuses.
        cache
            .get_or_make(
                "b",
                2,
                |_| false,
                || Ok::<_, ()>(Arc::new("big".to_string())),
            )
            .unwrap();
        assert!(cache.get("b", 2).is_none());
        // Full: starts again.
        cache
            .get_or_make("c", 2, |_| true, || Ok::<_, ()>(Arc::new("c".to_string())))
            .unwrap();
        cache
            .get_or_make("d", 2, |_| true, || Ok::<_, ()>(Arc::new("d".to_string())))
            .unwrap();
        assert!(cache.get("a", 2).is_none());
        assert!(cache.get("d", 2).is_some());
    }
}
