//! What the calendar's readers (and the reference lists' readers, under a generation of
//! their own) ask for again and again, kept in the process under the
//! calendar's generation number (`store::courses::calendar_generation`, raised by database
//! triggers on every change a calendar list or its filter form's choices can show, except a
//! course's place counters). A kept value is used only while the generation it was made at is
//! still the database's, which costs one single-row read per request: correct whichever copy
//! of the service, command or bookings job made the change, and nothing to forget to
//! invalidate.
//!
//! Bookings do not raise the generation (every booking on every course would otherwise queue
//! on the one generation row), so a kept calendar list can be behind on places left, waiting
//! list lengths and the "has places" filter. That is bounded by a maximum age: a list kept
//! longer than [`PLACES_MAX_AGE`] is made again. The course page and the booking itself read
//! the course row and are always exact; a list is at most a few seconds behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a kept calendar list may be used, whatever the generation: the most its places
/// left and waiting list lengths can lag behind bookings (plus the time to make it again).
pub const PLACES_MAX_AGE: Duration = Duration::from_secs(2);

/// One kept value: the generation and moment it was made at.
struct Entry<V> {
    generation: i64,
    made: Instant,
    value: V,
}

/// Values made at a calendar generation, by key, each used for at most `max_age` (if set).
/// Concurrent requests for a key that is not kept yet wait for the first one to make it
/// rather than all making it; while a value that has only grown too old is made again, the
/// other requests for it are answered with the old one instead of waiting.
pub struct GenerationCache<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
    /// One lock per key being made.
    filling: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Distinct keys kept; when full, the cache starts again.
    max_entries: usize,
    /// How long a value is used at its generation (`None`: as long as the generation holds).
    max_age: Option<Duration>,
}

impl<V: Clone> GenerationCache<V> {
    /// An empty cache keeping at most `max_entries` keys, each for as long as its generation
    /// holds.
    pub fn new(max_entries: usize) -> Self {
        GenerationCache {
            entries: Mutex::new(HashMap::new()),
            filling: Mutex::new(HashMap::new()),
            max_entries,
            max_age: None,
        }
    }

    /// An empty cache keeping at most `max_entries` keys, each for at most `max_age` even
    /// while its generation holds.
    pub fn with_max_age(max_entries: usize, max_age: Duration) -> Self {
        GenerationCache {
            max_age: Some(max_age),
            ..Self::new(max_entries)
        }
    }

    /// The value kept for `key` at `generation`, if any, and whether it is still young
    /// enough at `now` (made no longer than `max_age` before it).
    fn lookup(&self, key: &str, generation: i64, now: Instant) -> Option<(V, bool)> {
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some(e) if e.generation == generation => {
                let fresh = self
                    .max_age
                    .is_none_or(|max| now.saturating_duration_since(e.made) < max);
                Some((e.value.clone(), fresh))
            }
            _ => None,
        }
    }

    /// The value kept for `key` at `generation` and still young enough at `now`, if any.
    pub fn get(&self, key: &str, generation: i64, now: Instant) -> Option<V> {
        match self.lookup(key, generation, now) {
            Some((value, true)) => Some(value),
            _ => None,
        }
    }

    /// The value kept for `key` at `generation`, or one made with `make` (and kept, as made
    /// at `now`, when `keep` says so); concurrent callers for the same key make it once. A
    /// value kept at this generation that is too old is made again by one caller while the
    /// others meanwhile get the old one.
    pub fn get_or_make<E>(
        &self,
        key: &str,
        generation: i64,
        now: Instant,
        keep: impl FnOnce(&V) -> bool,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let stale = match self.lookup(key, generation, now) {
            Some((value, true)) => return Ok(value),
            Some((value, false)) => Some(value),
            None => None,
        };
        let lock = match self.filling.lock() {
            Ok(mut filling) => filling.entry(key.to_string()).or_default().clone(),
            Err(_) => return make(),
        };
        let result = {
            let turn = match (stale, lock.try_lock()) {
                (_, Ok(turn)) => Some(turn),
                // Someone is making it again already: the old value, not a wait.
                (Some(old), Err(_)) => {
                    self.release(key, &lock);
                    return Ok(old);
                }
                (None, Err(_)) => None,
            };
            let _turn = match turn {
                Some(t) => Ok(t),
                None => lock.lock(),
            };
            match self.get(key, generation, now) {
                Some(value) => Ok(value),
                None => make().inspect(|value| {
                    if keep(value) {
                        self.put(key.to_string(), generation, now, value.clone());
                    }
                }),
            }
        };
        self.release(key, &lock);
        result
    }

    /// Drops our hold on `key`'s making lock; the last one out removes it.
    fn release(&self, key: &str, lock: &Arc<Mutex<()>>) {
        if let Ok(mut filling) = self.filling.lock() {
            // The map's own reference and ours remain.
            if Arc::strong_count(lock) <= 2 {
                filling.remove(key);
            }
        }
    }

    fn put(&self, key: String, generation: i64, made: Instant, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.max_entries && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    generation,
                    made,
                    value,
                },
            );
        }
    }
}

/// One database read shared by the requests that want it at about the same time, without
/// ever answering a request with a value read before it arrived: a request joins the next
/// read that has not started yet (starting one if there is none), and that read starts only
/// once the one in progress has finished. So at most two reads are under way at once however
/// many requests there are, and a request sees every change that committed before it came.
/// The calendar uses it for its generation, so a kept list costs no pooled connection.
pub struct SharedRead {
    state: Mutex<SharedState>,
}

/// The read in progress, if any, and the one to start after it, which new requests join.
#[derive(Default)]
struct SharedState {
    running: Option<Arc<Slot>>,
    next: Option<Arc<Slot>>,
}

/// One read's answer, published once (an error as its message).
struct Slot {
    answer: tokio::sync::watch::Sender<Option<Result<i64, String>>>,
}

impl Slot {
    fn new() -> Arc<Slot> {
        Arc::new(Slot {
            answer: tokio::sync::watch::channel(None).0,
        })
    }

    async fn wait(&self) -> Result<i64, String> {
        let mut rx = self.answer.subscribe();
        let answer = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_else(|| Err("no answer".into())),
            Err(_) => Err("the shared read was dropped".into()),
        };
        answer
    }
}

impl Default for SharedRead {
    fn default() -> Self {
        SharedRead {
            state: Mutex::new(SharedState::default()),
        }
    }
}

impl SharedRead {
    /// The value as `read` finds it, read after this call began: by this caller or by
    /// another that joined the same read.
    pub async fn get<F, Fut>(&self, read: F) -> Result<i64, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<i64, String>>,
    {
        enum Role {
            /// Start this read now.
            Lead(Arc<Slot>),
            /// Wait for `prev` to finish, then start `slot` unless another joiner has.
            After(Arc<Slot>, Arc<Slot>),
            /// A read that has not started yet: its answer is ours.
            Join(Arc<Slot>),
        }
        let role = {
            let mut st = self.state.lock().expect("shared read lock");
            if let Some(next) = &st.next {
                Role::Join(next.clone())
            } else if let Some(running) = st.running.clone() {
                let slot = Slot::new();
                st.next = Some(slot.clone());
                Role::After(running, slot)
            } else {
                let slot = Slot::new();
                st.running = Some(slot.clone());
                Role::Lead(slot)
            }
        };
        let slot = match role {
            Role::Join(slot) => return slot.wait().await,
            Role::Lead(slot) => slot,
            Role::After(prev, slot) => {
                let _ = prev.wait().await;
                let mine = {
                    let mut st = self.state.lock().expect("shared read lock");
                    if st.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, &slot)) {
                        st.next = None;
                        st.running = Some(slot.clone());
                        true
                    } else {
                        false
                    }
                };
                if !mine {
                    return slot.wait().await;
                }
                slot
            }
        };
        // Whatever happens to this caller, the slot is answered and let go, so its joiners
        // never wait forever.
        struct Finish<'a>(&'a SharedRead, Arc<Slot>);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.1.answer.send_if_modified(|v| {
                    if v.is_none() {
                        *v = Some(Err("the read was abandoned".into()));
                        true
                    } else {
                        false
                    }
                });
                if let Ok(mut st) = self.0.state.lock() {
                    if st.running.as_ref().is_some_and(|r| Arc::ptr_eq(r, &self.1)) {
                        st.running = None;
                    }
                }
            }
        }
        let finish = Finish(self, slot.clone());
        let answer = read().await;
        slot.answer.send_replace(Some(answer.clone()));
        drop(finish);
        answer
    }
}

/// The caches the service shares between its workers (see [`crate::app::AppState`]).
pub struct Caches {
    /// Published calendar lists by normalised query (`app::courses::calendar`), each used for
    /// at most [`PLACES_MAX_AGE`] (bookings do not raise the generation).
    pub calendar: GenerationCache<Arc<crate::app::courses::CalendarList>>,
    /// The calendar filter form's choices: priorities, staff groups and clusters
    /// (`app::courses::calendar_page`).
    pub choices: GenerationCache<Arc<crate::app::courses::FilterChoices>>,
    /// The calendar's generation, read once for the requests that want it together.
    pub generation: SharedRead,
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
            calendar: GenerationCache::with_max_age(CALENDAR_ENTRIES, PLACES_MAX_AGE),
            choices: GenerationCache::new(1),
            generation: SharedRead::default(),
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
        let t0 = Instant::now();
        let made = cache
            .get_or_make(
                "a",
                1,
                t0,
                |_| true,
                || Ok::<_, ()>(Arc::new("one".to_string())),
            )
            .unwrap();
        assert_eq!(*made, "one");
        // Kept: `make` is not called again at the same generation.
        let again = cache
            .get_or_make("a", 1, t0, |_| true, || Err::<Arc<String>, _>(()))
            .unwrap();
        assert_eq!(*again, "one");
        // A new generation makes it again.
        assert!(cache.get("a", 2, t0).is_none());
        let newer = cache
            .get_or_make(
                "a",
                2,
                t0,
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
                t0,
                |_| false,
                || Ok::<_, ()>(Arc::new("big".to_string())),
            )
            .unwrap();
        assert!(cache.get("b", 2, t0).is_none());
        // Full: starts again.
        cache
            .get_or_make(
                "c",
                2,
                t0,
                |_| true,
                || Ok::<_, ()>(Arc::new("c".to_string())),
            )
            .unwrap();
        cache
            .get_or_make(
                "d",
                2,
                t0,
                |_| true,
                || Ok::<_, ()>(Arc::new("d".to_string())),
            )
            .unwrap();
        assert!(cache.get("a", 2, t0).is_none());
        assert!(cache.get("d", 2, t0).is_some());
    }

    #[test]
    fn a_value_is_used_for_at_most_its_max_age() {
        let cache: GenerationCache<Arc<String>> =
            GenerationCache::with_max_age(4, Duration::from_secs(2));
        let t0 = Instant::now();
        let make = |s: &str| {
            let s = s.to_string();
            move || Ok::<_, ()>(Arc::new(s))
        };
        cache
            .get_or_make("a", 1, t0, |_| true, make("one"))
            .unwrap();
        // Young enough: kept, whatever `make` would say now.
        let later = t0 + Duration::from_millis(1999);
        assert_eq!(*cache.get("a", 1, later).unwrap(), "one");
        let kept = cache
            .get_or_make("a", 1, later, |_| true, make("newer"))
            .unwrap();
        assert_eq!(*kept, "one");
        // Too old at the same generation: made again, and the new value kept from then.
        let old = t0 + Duration::from_secs(2);
        assert!(cache.get("a", 1, old).is_none());
        let again = cache
            .get_or_make("a", 1, old, |_| true, make("two"))
            .unwrap();
        assert_eq!(*again, "two");
        assert_eq!(
            *cache.get("a", 1, old + Duration::from_secs(1)).unwrap(),
            "two"
        );
    }

    #[test]
    fn an_old_value_answers_while_another_caller_makes_it_again() {
        let cache: Arc<GenerationCache<Arc<String>>> =
            Arc::new(GenerationCache::with_max_age(4, Duration::from_secs(2)));
        let t0 = Instant::now();
        cache
            .get_or_make("a", 1, t0, |_| true, || Ok::<_, ()>(Arc::new("one".into())))
            .unwrap();
        let old = t0 + Duration::from_secs(3);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let maker = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache
                    .get_or_make(
                        "a",
                        1,
                        old,
                        |_| true,
                        || {
                            started_tx.send(()).unwrap();
                            finish_rx.recv().unwrap();
                            Ok::<_, ()>(Arc::new("two".into()))
                        },
                    )
                    .unwrap()
            })
        };
        started_rx.recv().unwrap();
        // The other caller does not wait for the one making it: it gets the old value.
        let meanwhile = cache
            .get_or_make("a", 1, old, |_| true, || Err::<Arc<String>, _>(()))
            .unwrap();
        assert_eq!(*meanwhile, "one");
        finish_tx.send(()).unwrap();
        assert_eq!(*maker.join().unwrap(), "two");
        // A new generation is never answered with an old one.
        let next = cache
            .get_or_make(
                "a",
                2,
                old,
                |_| true,
                || Ok::<_, ()>(Arc::new("three".into())),
            )
            .unwrap();
        assert_eq!(*next, "three");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_shared_read_is_never_older_than_its_request() {
        use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
        let shared = Arc::new(SharedRead::default());
        let value = Arc::new(AtomicI64::new(0));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (shared, seen, reads) = (shared.clone(), value.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                // What committed before this request began.
                let seen_before = seen.load(Ordering::SeqCst);
                let got = shared
                    .get(|| async {
                        reads.fetch_add(1, Ordering::SeqCst);
                        let v = seen.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok(v)
                    })
                    .await
                    .unwrap();
                assert!(got >= seen_before, "{got} is older than {seen_before}");
            }));
            // Changes keep coming while the requests do.
            value.fetch_add(1, Ordering::SeqCst);
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Shared: far fewer reads than requests.
        assert!(reads.load(Ordering::SeqCst) < 50);
        // A request after the last change sees it.
        let last = value.load(Ordering::SeqCst);
        let got = shared
            .get(|| async { Ok(value.load(Ordering::SeqCst)) })
            .await
            .unwrap();
        assert_eq!(got, last);
    }
}
