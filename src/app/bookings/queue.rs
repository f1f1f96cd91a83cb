//! Booking requests, batched: for the same course, and across courses.
//!
//! Every booking decision for a course happens under the course row's lock, so requests for
//! one course are served one after another whatever we do. On PostgreSQL each of those
//! transactions ends with a flush of the write-ahead log to disk (about 3 ms on the machine
//! the benchmark ran on) while it still holds the lock; 300 people booking the same course at
//! once would queue for a second just for the disk. So while one transaction for a course is
//! running, further requests for that course wait here, and the next transaction takes all
//! of them at once (up to [`MAX_BATCH`]): one lock, one read of the course, one counter
//! update, one commit, and every decision still made in arrival order by the same rules
//! ([`store::bookings::book_batch`]).
//!
//! Requests for different courses share transactions too. Each course belongs to one of a
//! few lanes ([`lanes`], by a hash of its id); a lane runs one transaction at a time, and the
//! next takes whatever has arrived for any of its courses meanwhile
//! ([`store::bookings::book_courses`]). When many people book different courses at once,
//! a transaction's `BEGIN`, commit and flush, its pooled connection and its hand-over to a
//! blocking thread are shared by several bookings instead of being paid by each; the lanes
//! keep several transactions running at once. A course's requests stay in one lane, so they
//! are still decided in arrival order.
//!
//! Correctness does not depend on this queue (the database lock does that, also across
//! several service processes); it only saves the waiting and the per-transaction work.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::db::{Backend, DbConn, Pool};
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as store, Booking, Request, SessionsCache};

/// The most requests one transaction takes.
pub const MAX_BATCH: usize = 64;

/// The most lanes, whatever the machine.
pub const MAX_LANES: usize = 16;

type Reply = oneshot::Sender<AppResult<Booking>>;

/// A request waiting for its lane's next transaction.
struct Waiting {
    course_id: String,
    request: Request,
    reply: Reply,
}

/// One lane: the requests waiting for it, and whether a transaction of its is running (the
/// runner takes what waits when that transaction ends).
#[derive(Default)]
struct Lane {
    waiting: VecDeque<Waiting>,
    running: bool,
}

/// Booking requests in [`lanes`] lanes, each drained by at most one running transaction.
#[derive(Clone)]
pub struct BookingQueue {
    pool: Pool,
    base_url: Arc<str>,
    lanes: Arc<[Mutex<Lane>]>,
    sessions: Arc<SessionsCache>,
}

impl BookingQueue {
    /// A queue that books through connections of `pool` (to a `backend` database), in as
    /// many lanes as [`lanes`] gives for the backend, the pool's size and this machine's cores.
    pub fn new(pool: Pool, backend: Backend, base_url: &str) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let lanes = lanes(backend, cores, pool.max_size());
        BookingQueue {
            pool,
            base_url: base_url.into(),
            lanes: (0..lanes).map(|_| Mutex::default()).collect(),
            sessions: Arc::default(),
        }
    }

    /// Books `request` on `course_id`, in a transaction with whatever else arrives for the
    /// course's lane meanwhile; answers as [`store::bookings::book`] would.
    pub async fn book(&self, course_id: &str, request: Request) -> AppResult<Booking> {
        let (tx, rx) = oneshot::channel();
        let lane = lane_of(course_id) % self.lanes.len();
        let start = {
            let mut l = self.lanes[lane].lock().expect("booking lane lock");
            l.waiting.push_back(Waiting {
                course_id: course_id.to_string(),
                request,
                reply: tx,
            });
            // A transaction of this lane is running: its runner takes this next.
            !std::mem::replace(&mut l.running, true)
        };
        if start {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.drain(lane));
        }
        rx.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the booking batch ended without an answer"))
        })?
    }

    /// Runs transactions for one lane until nothing waits for it, then marks it idle (so the
    /// next request starts a new runner).
    fn drain(&self, lane: usize) {
        loop {
            let batch: Vec<Waiting> = {
                let mut l = self.lanes[lane].lock().expect("booking lane lock");
                if l.waiting.is_empty() {
                    l.running = false;
                    return;
                }
                let n = l.waiting.len().min(MAX_BATCH);
                l.waiting.drain(..n).collect()
            };
            // A panic must not leave the lane without a runner (its requests would wait
            // forever); the batch's callers get an error instead (their replies are dropped).
            let run = std::panic::AssertUnwindSafe(|| self.run(batch));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!("a booking batch panicked");
            }
        }
    }

    /// Books one lane's batch: its requests grouped by course, in arrival order within each.
    fn run(&self, batch: Vec<Waiting>) {
        let mut courses: Vec<(String, Vec<(Request, Reply)>)> = Vec::new();
        for w in batch {
            match courses.iter_mut().find(|(c, _)| *c == w.course_id) {
                Some((_, group)) => group.push((w.request, w.reply)),
                None => courses.push((w.course_id, vec![(w.request, w.reply)])),
            }
        }
        let mut conn = match self.pool.get() {
            Ok(c) => c,
            Err(e) => {
                let message = e.to_string();
                for (_, reply) in courses.into_iter().flat_map(|(_, g)| g) {
                    let _ = reply.send(Err(AppError::Unavailable(message.clone())));
                }
                return;
            }
        };
        let requests = courses
            .iter()
            .map(|(c, g)| (c.clone(), g.iter().map(|(r, _)| r.clone()).collect()))
            .collect();
        match store::book_courses(&mut conn, &self.base_url, Some(&self.sessions), requests) {
            Ok(answers) => {
                for (answers, (_, group)) in answers.into_iter().zip(courses) {
                    for (answer, (_, reply)) in answers.into_iter().zip(group) {
                        let _ = reply.send(answer);
                    }
                }
            }
            // A lone request's failure is its answer.
            Err(e) if courses.len() == 1 && courses[0].1.len() == 1 => {
                if let Some((_, reply)) = courses.pop().and_then(|(_, mut g)| g.pop()) {
                    let _ = reply.send(Err(e));
                }
            }
            // Rolled back as a whole: each course on its own gives each request its answer.
            Err(_) => {
                for (course_id, group) in courses {
                    self.run_course(&mut conn, &course_id, group);
                }
            }
        }
    }

    /// Books one course's requests in one transaction; if that fails as a whole, each request
    /// alone, so one bad request cannot fail the others.
    fn run_course(&self, conn: &mut DbConn, course_id: &str, group: Vec<(Request, Reply)>) {
        let (requests, replies): (Vec<Request>, Vec<Reply>) = group.into_iter().unzip();
        let single = requests.len() == 1;
        match store::book_batch(
            conn,
            &self.base_url,
            Some(&self.sessions),
            course_id,
            requests.clone(),
        ) {
            Ok(answers) => {
                for (answer, reply) in answers.into_iter().zip(replies) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) if single => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(_) => {
                for (request, reply) in requests.into_iter().zip(replies) {
                    let answer = store::book_batch(
                        conn,
                        &self.base_url,
                        Some(&self.sessions),
                        course_id,
                        vec![request],
                    )
                    .and_then(|mut v| v.pop().expect("one answer per request"));
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// How many booking transactions run at once, each for its own courses. SQLite has one
/// writer at a time, so one lane: a second only waits for the first's lock (on two cores,
/// 2,300 bookings a second against 3,100 with one). PostgreSQL runs transactions side by
/// side, one lane per core (on two cores, two lanes gave 2,600 a second at 16 at once, four
/// gave 2,200: smaller shared transactions), and at most half the pool, so that the
/// bookings always leave connections for everything else (docs/performance.md, "Bookings").
pub fn lanes(backend: Backend, cores: usize, pool_size: u32) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => cores.min(MAX_LANES).min(pool_size as usize / 2).max(1),
    }
}

/// A hash of a course's id that picks its lane (modulo the number of lanes): the same for a
/// course every time (FNV-1a, which needs no random state).
fn lane_of(course_id: &str) -> usize {
    let hash = course_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_course_keeps_its_lane_and_courses_spread_over_every_lane() {
        assert_eq!(lane_of("c-1"), lane_of("c-1"));
        let mut used = [0usize; 4];
        for _ in 0..1000 {
            used[lane_of(&crate::store::new_id()) % 4] += 1;
        }
        // 1,000 ids over four lanes: each gets a share, none is left empty.
        assert!(used.iter().all(|&n| n > 150), "{used:?}");
    }

    #[test]
    fn one_lane_for_sqlite_and_one_per_core_for_postgresql_within_half_the_pool() {
        assert_eq!(lanes(Backend::Sqlite, 8, 10), 1);
        assert_eq!(lanes(Backend::Postgres, 2, 10), 2);
        assert_eq!(lanes(Backend::Postgres, 8, 10), 5);
        assert_eq!(lanes(Backend::Postgres, 64, 100), MAX_LANES);
        assert_eq!(lanes(Backend::Postgres, 4, 1), 1);
        assert_eq!(lanes(Backend::Postgres, 1, 10), 1);
    }
}
