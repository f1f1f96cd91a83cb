//! Booking requests for the same course, batched.
//!
//! Every booking decision for a course happens under the course row's lock, so requests for
//! one course are served one after another whatever we do. On PostgreSQL each of those
//! transactions ends with a flush of the write-ahead log to disk (about 3 ms on the machine
//! the benchmark ran on) while it still holds the lock; 300 people booking the same course at
//! once would queue for a second just for the disk. So while one transaction for a course is
//! running, further requests for that course wait here, and the next transaction takes all
//! of them at once (up to [`MAX_BATCH`]): one lock, one read of the course, one counter
//! update, one commit, and every decision still made in arrival order by the same rules
//! ([`store::bookings::book_batch`]). Correctness does not depend on this queue (the database
//! lock does that, also across several service processes); it only saves the waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::db::Pool;
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as store, Booking, Request, SessionsCache};

/// The most requests one transaction takes.
pub const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<AppResult<Booking>>;

/// Per-course queues of booking requests, each drained by at most one running transaction.
#[derive(Clone)]
pub struct BookingQueue {
    pool: Pool,
    base_url: Arc<str>,
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
    sessions: Arc<SessionsCache>,
}

/// The requests waiting for one course.
type Waiting = VecDeque<(Request, Reply)>;

impl BookingQueue {
    /// A queue that books through connections of `pool`.
    pub fn new(pool: Pool, base_url: &str) -> Self {
        BookingQueue {
            pool,
            base_url: base_url.into(),
            waiting: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// Books `request` on `course_id`, in a batch with whatever else arrives for the course
    /// meanwhile; answers as [`store::bookings::book`] would.
    pub async fn book(&self, course_id: &str, request: Request) -> AppResult<Booking> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut waiting = self.waiting.lock().expect("booking queue lock");
            match waiting.get_mut(course_id) {
                // A transaction for this course is running: it (or its successor) takes this.
                Some(queue) => {
                    queue.push_back((request, tx));
                    false
                }
                None => {
                    let mut queue = VecDeque::new();
                    queue.push_back((request, tx));
                    waiting.insert(course_id.to_string(), queue);
                    true
                }
            }
        };
        if start {
            let me = self.clone();
            let course = course_id.to_string();
            tokio::task::spawn_blocking(move || me.drain(&course));
        }
        rx.await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the booking batch ended without an answer"))
        })?
    }

    /// Runs batches for one course until its queue is empty, then removes the queue (so the
    /// next request starts a new runner).
    fn drain(&self, course_id: &str) {
        loop {
            let batch: Vec<(Request, Reply)> = {
                let mut waiting = self.waiting.lock().expect("booking queue lock");
                let Some(queue) = waiting.get_mut(course_id) else {
                    return;
                };
                if queue.is_empty() {
                    waiting.remove(course_id);
                    return;
                }
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            // A panic must not leave the course's queue without a runner (its requests
            // would wait forever); the batch's callers get an error instead.
            let run = std::panic::AssertUnwindSafe(|| self.run(course_id, batch));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!("a booking batch panicked");
            }
        }
    }

    fn run(&self, course_id: &str, batch: Vec<(Request, Reply)>) {
        let mut conn = match self.pool.get() {
            Ok(c) => c,
            Err(e) => {
                let message = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(AppError::Unavailable(message.clone())));
                }
                return;
            }
        };
        let (requests, replies): (Vec<Request>, Vec<Reply>) = batch.into_iter().unzip();
        let single = requests.len() == 1;
        match store::book_batch(
            &mut conn,
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
            // A batch failed as a whole: each request tries again on its own, so one bad
            // request cannot fail the others.
            Err(_) => {
                for (request, reply) in requests.into_iter().zip(replies) {
                    let answer = store::book_batch(
                        &mut conn,
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
