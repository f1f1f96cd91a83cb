//! The refresher: sums marked courses again into scratch tables and moves the cells by the
//! difference in short write transactions (see the parent module's documentation).

use super::*;

mod split;
use split::{split_course, Step};

/// Facts rows (course x school x staff group) moved per write transaction at most, counting
/// those taken out and those put in, unless a single school of a course has more. A course
/// with more goes in several writes, a range of its schools each (see `split_course`). Each
/// write moves the cells by that many rows, which keeps it within [`WRITE_BOUND`] on SQLite,
/// so bookings never wait long behind the refresher: at a tenth of national size 400 rows
/// took up to 20-53 ms a write, 200 up to 13-26 ms (docs/performance.md, "The refresher's
/// hold on SQLite's lock"); at national size, with the 100 largest courses marked, 200 took
/// up to 16-25 ms (over 20 ms in two runs of five) and 100 up to 11-15 ms, for 5-10 % more
/// time in all (docs/performance.md, "National size").
pub const ROWS_PER_WRITE: usize = 100;

/// How long one write transaction of the refresher should hold the lock at most, so bookings
/// never wait long behind it; [`Refreshed::slow_writes`] counts those that took longer.
pub const WRITE_BOUND: std::time::Duration = std::time::Duration::from_millis(20);

/// What one call of [`refresh_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Courses summed again.
    pub summed: usize,
    /// Write transactions it took.
    pub writes: usize,
    /// The longest of them, from `BEGIN` to `COMMIT`: how long a booking could have waited
    /// behind the refresher.
    pub longest_write: std::time::Duration,
    /// How many of them took longer than [`WRITE_BOUND`].
    pub slow_writes: usize,
    /// On SQLite, the longest WAL checkpoint the refresher ran after a write (see
    /// [`Checkpoints`]); it holds no lock a booking waits for.
    pub longest_checkpoint: std::time::Duration,
    /// Schools' years whose kept tails were worked out again (`super::tails`).
    pub tails: usize,
}

impl Refreshed {
    /// Counts one write transaction that took `took`.
    fn wrote(&mut self, took: std::time::Duration) {
        self.writes += 1;
        self.longest_write = self.longest_write.max(took);
        self.slow_writes += usize::from(took > WRITE_BOUND);
    }
}

/// SQLite's WAL checkpoints during a refresh, run by the refresher itself after its writes
/// rather than by SQLite inside the `COMMIT` that passes the log's limit.
///
/// SQLite runs its automatic checkpoint after the commit has released the write lock (see
/// `sqlite3_wal_hook`), so a checkpoint never keeps a booking waiting; but inside `COMMIT` it
/// made the refresher's own timing of its writes say hundreds of milliseconds where the lock
/// was held for a few. Turning the automatic checkpoint off for the refresher's connection
/// while it writes, and checkpointing (`PASSIVE`: it waits for no one) after every few
/// writes, keeps the log as short as before, times each write as the lock it holds, and
/// times the checkpoints apart. The connection gets the automatic checkpoint back when the
/// refresh ends, before it goes back to the pool.
#[derive(Default)]
struct Checkpoints {
    /// Whether the automatic checkpoint is off (from the first write of the refresh on).
    off: bool,
    since_last: usize,
    /// The longest checkpoint run so far.
    longest: std::time::Duration,
}

impl Checkpoints {
    /// Writes between two checkpoints: about as much log as SQLite's own 1,000-page limit.
    const EVERY: usize = 4;

    /// Before a write: the automatic checkpoint off, if it is not yet. (A refresh with
    /// nothing to write runs no statement for this.)
    fn before_write(&mut self, conn: &mut DbConn) -> QueryResult<()> {
        if let (DbConn::Sqlite(c), false) = (&mut *conn, self.off) {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "PRAGMA wal_autocheckpoint = 0",
            )?;
            self.off = true;
        }
        Ok(())
    }

    /// After a write: checkpoints when enough writes have gone by since the last one.
    fn wrote(&mut self, conn: &mut DbConn) -> QueryResult<()> {
        self.since_last += 1;
        if self.since_last >= Self::EVERY {
            self.run(conn)?;
        }
        Ok(())
    }

    fn run(&mut self, conn: &mut DbConn) -> QueryResult<()> {
        if self.since_last == 0 {
            return Ok(());
        }
        self.since_last = 0;
        if let DbConn::Sqlite(c) = conn {
            let started = std::time::Instant::now();
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "PRAGMA wal_checkpoint(PASSIVE)",
            )?;
            self.longest = self.longest.max(started.elapsed());
        }
        Ok(())
    }

    /// The last checkpoint, and SQLite's automatic checkpoint back on.
    fn finish(&mut self, conn: &mut DbConn) -> QueryResult<()> {
        if !self.off {
            return Ok(());
        }
        let last = self.run(conn);
        if let DbConn::Sqlite(c) = conn {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "PRAGMA wal_autocheckpoint = 1000",
            )?;
        }
        last
    }
}

/// Sums again up to `limit` marked courses. Returns how many it summed (0: none marked), or
/// `None` when another refresher holds PostgreSQL's refresh lock. See [`refresh_batch`].
pub fn refresh(conn: &mut DbConn, now: NaiveDateTime, limit: usize) -> QueryResult<Option<usize>> {
    Ok(refresh_batch(conn, now, limit)?.map(|r| r.summed))
}

/// One pass of the refresher over the courses marked when it starts, in course id order, a
/// batch at a time: each batch takes up to `limit` marked courses after the last one the
/// batch before it read. A course marked again meanwhile (bookings keep coming) waits for the
/// next pass instead of being summed again at once, so a pass ends however busy the service
/// is, and no course waits behind others that keep changing.
#[derive(Debug, Default)]
pub struct Pass {
    after: Option<String>,
    ended: bool,
    /// Courses summed so far in the pass.
    pub summed: usize,
}

impl Pass {
    /// A pass from the first marked course.
    pub fn new() -> Pass {
        Pass::default()
    }

    /// Whether the last batch reached the end of the marked courses (or found another
    /// refresher at work).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Sums the next batch of up to `limit` marked courses. See [`refresh_batch`].
    pub fn next(&mut self, conn: &mut DbConn, now: NaiveDateTime, limit: usize) -> QueryResult<()> {
        let mut last = None;
        let result = run_batch(
            conn,
            now,
            limit,
            ROWS_PER_WRITE,
            usize::MAX,
            Some((self.after.as_deref(), &mut last)),
        )?;
        match result {
            Some(done) => {
                self.summed += done.summed;
                self.ended = last.is_none();
                self.after = last;
            }
            None => self.ended = true,
        }
        Ok(())
    }
}

/// The refresher's scratch tables, private to the connection: on SQLite writing them needs no
/// lock on the database itself, so the expensive sums are worked out while bookings write.
fn scratch_tables(conn: &mut DbConn) -> QueryResult<()> {
    let cols = COLUMNS
        .iter()
        .map(|c| format!("{c} BIGINT NOT NULL"))
        .collect::<Vec<_>>()
        .join(", ");
    exec(
        conn,
        &format!(
            "CREATE TEMP TABLE IF NOT EXISTS report_refresh_facts (
                course_id TEXT NOT NULL, school_key TEXT NOT NULL, staff_group_key TEXT NOT NULL,
                cluster_key TEXT NOT NULL, {cols})"
        ),
        &[],
    )?;
    // Each write reads its few courses' rows out of the whole batch's.
    exec(
        conn,
        "CREATE INDEX IF NOT EXISTS report_refresh_facts_course ON report_refresh_facts (course_id)",
        &[],
    )?;
    exec(
        conn,
        "CREATE TEMP TABLE IF NOT EXISTS report_refresh_spans (
            id TEXT NOT NULL, first_start TIMESTAMP NOT NULL, prev_start TIMESTAMP,
            next_start TIMESTAMP)",
        &[],
    )?;
    Ok(())
}

#[derive(QueryableByName)]
struct FactRows {
    #[diesel(sql_type = Text)]
    course_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Sums again up to `limit` marked courses, in three steps, so the write lock is held only
/// for short moves of rows already worked out:
///
/// 1. courses whose next session has started since they were summed are marked (a write
///    only when there is one: an index range on `next_start`);
/// 2. the marked courses' facts and session spans are worked out into the connection's
///    scratch tables, in one read transaction (on SQLite this takes no write lock; the sums
///    read one snapshot);
/// 3. the facts move into the cells a few courses at a time, at most [`ROWS_PER_WRITE`] facts
///    rows per write transaction (a larger course on its own, split by school across several,
///    staying marked until the last: see `split_course`), and each course's mark goes in
///    that transaction only if no change came after it was read in step 2 (a course changed
///    since keeps its mark and is summed again next time).
///
/// Nothing marked costs one read of `report_dirty` and one of `report_courses`' index.
pub fn refresh_batch(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: usize,
) -> QueryResult<Option<Refreshed>> {
    refresh_batch_with(conn, now, limit, ROWS_PER_WRITE)
}

/// [`refresh_batch`] with at most `rows_per_write` facts rows per write transaction (unless a
/// single course has more).
pub fn refresh_batch_with(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: usize,
    rows_per_write: usize,
) -> QueryResult<Option<Refreshed>> {
    refresh_batch_within(conn, now, limit, rows_per_write, usize::MAX)
}

/// [`refresh_batch_with`] that stops after `max_writes` write transactions, even part-way
/// through a course split across several (which keeps its mark, and is summed and moved
/// again on the next run): the refresher's share of the write lock in one run is bounded,
/// and the state it leaves part-way is one reports must read right.
pub fn refresh_batch_within(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: usize,
    rows_per_write: usize,
    max_writes: usize,
) -> QueryResult<Option<Refreshed>> {
    run_batch(conn, now, limit, rows_per_write, max_writes, None)
}

/// [`refresh_batch_within`], as a batch of a [`Pass`] when `pass` holds where the batch before
/// ended and where to say this one does.
fn run_batch(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: usize,
    rows_per_write: usize,
    max_writes: usize,
    pass: Option<(Option<&str>, &mut Option<String>)>,
) -> QueryResult<Option<Refreshed>> {
    let mut cp = Checkpoints::default();
    let result = refresh_run(conn, now, limit, rows_per_write, max_writes, pass, &mut cp).and_then(
        |courses| {
            match courses {
                // Then the schools' tails, unless another copy of the service is refreshing.
                Some(mut done) => {
                    let tails =
                        refresh_tails_within(conn, limit * 10, max_writes, &mut cp, &mut done)?;
                    Ok((!tails.locked || done.summed > 0).then_some(done))
                }
                None => Ok(None),
            }
        },
    );
    // Whatever happened, the connection goes back to the pool checkpointing as usual.
    let finished = cp.finish(conn);
    let mut result = result?;
    finished?;
    if let Some(r) = result.as_mut() {
        r.longest_checkpoint = cp.longest;
    }
    Ok(result)
}

fn refresh_run(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: usize,
    rows_per_write: usize,
    max_writes: usize,
    pass: Option<(Option<&str>, &mut Option<String>)>,
    cp: &mut Checkpoints,
) -> QueryResult<Option<Refreshed>> {
    let mut done = Refreshed::default();
    // 1. Courses whose next session has started since they were summed: their held sessions
    // have changed.
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        course_id: String,
    }
    let started: Vec<Id> = load(
        conn,
        "SELECT course_id FROM report_courses WHERE next_start < $1 LIMIT 1",
        &[Param::Ts(now)],
    )?;
    if !started.is_empty() {
        crate::db::write_tx(conn, |c| {
            exec(
                c,
                "INSERT INTO report_dirty (course_id, version)
                 SELECT course_id, 1 FROM report_courses WHERE next_start < $1 ORDER BY course_id
                 ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1",
                &[Param::Ts(now)],
            )
        })?;
    }
    // In a pass, only the courses after the last one its batch before read.
    let (after, params) = match pass.as_ref().and_then(|(after, _)| *after) {
        Some(id) => ("AND course_id > $1", vec![Param::Text(id.to_string())]),
        None => ("", Vec::new()),
    };
    let marked: Vec<Marked> = load(
        conn,
        &format!(
            "SELECT course_id, version FROM report_dirty WHERE {MARKED} {after}
              ORDER BY course_id LIMIT {limit}"
        ),
        &params,
    )?;
    if let Some((_, last)) = pass {
        // A full batch: more may be marked after its last course.
        *last = (marked.len() == limit)
            .then(|| marked.last().map(|m| m.course_id.clone()))
            .flatten();
    }
    if marked.is_empty() {
        return Ok(Some(done));
    }

    // 2. The sums, worked out without the write lock.
    let ids: Vec<Param> = marked
        .iter()
        .map(|m| Param::Text(m.course_id.clone()))
        .collect();
    let list = placeholders(1, ids.len());
    let now_p = format!("${}", ids.len() + 1);
    let mut params = ids.clone();
    params.push(Param::Ts(now));
    let counts: Vec<FactRows> = crate::db::read_tx(conn, |c| {
        scratch_tables(c)?;
        exec(c, "DELETE FROM report_refresh_facts", &[])?;
        exec(c, "DELETE FROM report_refresh_spans", &[])?;
        let (ctes, select) = facts_sql(
            Courses::Among(&list),
            &mut || now_p.clone(),
            None,
            &|_| true,
            FactsForm::Summed,
        );
        exec(
            c,
            &format!(
                "WITH {ctes}
                 INSERT INTO report_refresh_facts (course_id, school_key, staff_group_key, cluster_key, {cols})
                 {select}",
                cols = column_list(""),
            ),
            &params,
        )?;
        exec(
            c,
            &format!(
                "INSERT INTO report_refresh_spans (id, first_start, prev_start, next_start)
                 SELECT c.id, c.first_session_start,
                        MAX(CASE WHEN s.start_at < {now_p} THEN s.start_at END),
                        MIN(CASE WHEN s.start_at >= {now_p} THEN s.start_at END)
                   FROM courses c JOIN course_sessions s ON s.course_id = c.id
                  WHERE c.id IN ({list}) AND c.status = 'published'
                    AND c.first_session_start IS NOT NULL
                  GROUP BY c.id, c.first_session_start"
            ),
            &params,
        )?;
        // The rows each course's move takes out and puts in.
        load(
            c,
            &format!(
                "SELECT course_id, COUNT(*) AS n FROM report_refresh_facts GROUP BY course_id
                 UNION ALL
                 SELECT course_id, COUNT(*) AS n FROM report_facts
                  WHERE course_id IN ({list}) GROUP BY course_id"
            ),
            &ids,
        )
    })?;
    let mut rows_of: std::collections::HashMap<String, usize> = Default::default();
    for r in counts {
        *rows_of.entry(r.course_id).or_default() += r.n as usize;
    }

    // 3. Into the cells, a chunk of courses per write transaction; a course with more rows
    // than one write may move goes on its own, a range of its schools per write.
    let (large, small): (Vec<&Marked>, Vec<&Marked>) = marked
        .iter()
        .partition(|m| rows_of.get(&m.course_id).copied().unwrap_or(0) > rows_per_write);
    for m in large {
        if done.writes >= max_writes {
            return Ok(Some(done));
        }
        match split_course(conn, m, now, rows_per_write, max_writes, cp, &mut done)? {
            Step::Moved | Step::Abandoned => done.summed += 1,
            // Another copy of the service is refreshing.
            Step::Locked => return Ok((done.summed > 0).then_some(done)),
        }
    }
    let mut chunks: Vec<Vec<&Marked>> = vec![Vec::new()];
    let mut rows = 0;
    for m in small {
        let n = rows_of.get(&m.course_id).copied().unwrap_or(0);
        let last = chunks.last_mut().expect("one chunk at least");
        if !last.is_empty() && rows + n > rows_per_write {
            chunks.push(Vec::new());
            rows = 0;
        }
        chunks.last_mut().expect("one chunk at least").push(m);
        rows += n;
    }
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        if done.writes >= max_writes {
            break;
        }
        let moved = timed_write(conn, cp, &mut done, |c| move_chunk(c, &chunk, now), |m| *m)?;
        if !moved {
            // Another copy of the service is refreshing.
            return Ok((done.summed > 0).then_some(done));
        }
        // Courses that changed since their sums were read keep their marks: they count as
        // dealt with, and are summed again next time.
        done.summed += chunk.len();
    }
    Ok(Some(done))
}

/// One write transaction of the refresher: `f` in a write transaction, with SQLite's
/// checkpoints kept around it ([`Checkpoints`]), counted and timed in `done` when `wrote`
/// says it wrote (not when it found another refresher at work or nothing left to do).
fn timed_write<T>(
    conn: &mut DbConn,
    cp: &mut Checkpoints,
    done: &mut Refreshed,
    f: impl FnOnce(&mut DbConn) -> QueryResult<T>,
    wrote: impl Fn(&T) -> bool,
) -> QueryResult<T> {
    cp.before_write(conn)?;
    let started = std::time::Instant::now();
    let out = crate::db::write_tx(conn, f)?;
    if wrote(&out) {
        done.wrote(started.elapsed());
        cp.wrote(conn)?;
    }
    Ok(out)
}

/// The kept tails of the schools' years marked (up to `limit`), in write transactions counted
/// and timed with the courses' in `done`, at most `max_writes` in all.
fn refresh_tails_within(
    conn: &mut DbConn,
    limit: usize,
    max_writes: usize,
    cp: &mut Checkpoints,
    done: &mut Refreshed,
) -> QueryResult<super::tails::TailsRefreshed> {
    let r = super::tails::refresh_tails(conn, limit, |conn, part| {
        if done.writes >= max_writes {
            return Ok(None);
        }
        let wrote = timed_write(
            conn,
            cp,
            done,
            |c| -> QueryResult<bool> {
                if !refresh_lock(c)? {
                    return Ok(false);
                }
                part(c)
            },
            |w| *w,
        )?;
        Ok(Some(wrote))
    })?;
    done.tails += r.kept;
    Ok(r)
}

/// The marks of `read` that are still as read, in a write transaction before moving their
/// sums: a course changed since (a higher version; versions only rise, since a summed mark is
/// kept with the version summed) keeps its mark and is summed again from fresh sums next
/// time, and one already summed at that version was summed by another refresher, perhaps
/// from newer sums than these.
fn still_marked<'a>(c: &mut DbConn, read: &[&'a Marked]) -> QueryResult<Vec<&'a Marked>> {
    let ids: Vec<Param> = read
        .iter()
        .map(|m| Param::Text(m.course_id.clone()))
        .collect();
    let now_marked: Vec<Marked> = load(
        c,
        &format!(
            "SELECT course_id, version FROM report_dirty
              WHERE course_id IN ({}) AND {MARKED}",
            placeholders(1, ids.len())
        ),
        &ids,
    )?;
    Ok(read
        .iter()
        .copied()
        .filter(|m| {
            now_marked
                .iter()
                .any(|n| n.course_id == m.course_id && n.version == m.version)
        })
        .collect())
}

/// Unmarks the course of `m` as summed at the version read, keeping the row so its version
/// only rises; a course changed since (a higher version) keeps its mark.
fn unmark(c: &mut DbConn, m: &Marked) -> QueryResult<()> {
    exec_kept(
        c,
        "UPDATE report_dirty SET summed_version = version WHERE course_id = $1 AND version = $2",
        &[Param::Text(m.course_id.clone()), Param::Int(m.version)],
    )
    .map(|_| ())
}

/// Takes every facts row of the course `id` out of the cells and out of `report_facts`.
fn take_out_course(c: &mut DbConn, id: &Param) -> QueryResult<()> {
    let params = std::slice::from_ref(id);
    move_cells(c, "f.course_id = $1", params, "-", exec_kept)?;
    exec_kept(c, "DELETE FROM report_facts WHERE course_id = $1", params).map(|_| ())
}

/// Replaces the facts of the courses of `chunk` with those in the scratch tables and moves the
/// cells by the difference, in the caller's write transaction. Returns false (having done
/// nothing) when another refresher holds PostgreSQL's refresh lock.
fn move_chunk(c: &mut DbConn, chunk: &[&Marked], now: NaiveDateTime) -> QueryResult<bool> {
    if !refresh_lock(c)? {
        return Ok(false);
    }
    let chunk = still_marked(c, chunk)?;
    if chunk.is_empty() {
        return Ok(true);
    }
    let ids: Vec<Param> = chunk
        .iter()
        .map(|m| Param::Text(m.course_id.clone()))
        .collect();
    // The chunk's list padded to one of a few lengths, so the write's statements are kept
    // prepared: parsing them again took about as long as running them, with the lock held.
    let (list, ids, kept) = kept_list(&ids);
    let run: Exec = if kept { exec_kept } else { exec };

    // Months whose cells may be left empty, for tidying up at the end.
    let mut months: Vec<Month> = load(
        c,
        &format!("SELECT DISTINCT month FROM report_courses WHERE course_id IN ({list})"),
        &ids,
    )?;

    let in_chunk = format!("f.course_id IN ({list})");
    move_cells(c, &in_chunk, &ids, "-", run)?;
    run(
        c,
        &format!("DELETE FROM report_facts WHERE course_id IN ({list})"),
        &ids,
    )?;
    run(
        c,
        &format!("DELETE FROM report_courses WHERE course_id IN ({list})"),
        &ids,
    )?;
    run(
        c,
        &format!(
            "INSERT INTO report_facts (course_id, school_key, staff_group_key, cluster_key, {cols})
             SELECT course_id, school_key, staff_group_key, cluster_key, {cols}
               FROM report_refresh_facts WHERE course_id IN ({list})",
            cols = column_list(""),
        ),
        &ids,
    )?;
    let spans: Vec<Span> = load(
        c,
        &format!(
            "SELECT id, first_start, prev_start, next_start FROM report_refresh_spans
              WHERE id IN ({list})"
        ),
        &ids,
    )?;
    for s in &spans {
        months.push(Month {
            month: put_course_row(c, s, now)? as i32,
        });
    }
    move_cells(c, &in_chunk, &ids, "", run)?;

    let months: Vec<i64> = months.into_iter().map(|m| i64::from(m.month)).collect();
    tidy(c, months)?;

    // A course changed after its sums were read keeps its mark (with a higher version), and
    // is summed again next time.
    for m in &chunk {
        unmark(c, m)?;
    }
    Ok(true)
}

/// In a write transaction: on PostgreSQL, takes the refresh lock for the transaction, or
/// returns false when another refresher holds it. One refresher at a time: two would both
/// take a course's old facts out of the cells and put their own in.
fn refresh_lock(c: &mut DbConn) -> QueryResult<bool> {
    if let DbConn::Pg(_) = c {
        let got: Vec<Locked> = load(
            c,
            &format!(
                "SELECT pg_try_advisory_xact_lock({}) AS locked",
                crate::db::locks::REPORT_REFRESH
            ),
            &[],
        )?;
        return Ok(got.first().is_some_and(|l| l.locked));
    }
    Ok(true)
}

/// Writes the course row of `span`'s course (none must be there): its month, sessions as of
/// `now`, and the totals of its facts as `report_facts` holds them. Returns the month.
fn put_course_row(c: &mut DbConn, span: &Span, now: NaiveDateTime) -> QueryResult<i64> {
    let course_sql = format!(
        "INSERT INTO report_courses (course_id, month, first_start, refreshed_at, prev_start, next_start, {cols})
         SELECT $1, $2, $3, $4, $5, $6, {sums} FROM report_facts f WHERE f.course_id = $1",
        cols = column_list(""),
        sums = COLUMNS
            .iter()
            .map(|c| sum(&format!("f.{c}")))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let month = month_of(span.first_start);
    exec_kept(
        c,
        &course_sql,
        &[
            Param::Text(span.id.clone()),
            Param::Int(month),
            Param::Ts(span.first_start),
            Param::Ts(now),
            Param::OptTs(span.prev_start),
            Param::OptTs(span.next_start),
        ],
    )?;
    Ok(month)
}

/// Removes the cells of `months` (and of their academic years) left with no bookings: a cell
/// with no bookings holds nothing at all (every sum counts bookings).
fn tidy(c: &mut DbConn, mut months: Vec<i64>) -> QueryResult<()> {
    months.sort_unstable();
    months.dedup();
    if !months.is_empty() {
        let mlist = placeholders(1, months.len());
        let mparams: Vec<Param> = months.iter().copied().map(Param::Int).collect();
        for table in ["report_school_cells", "report_group_cells"] {
            exec(
                c,
                &format!("DELETE FROM {table} WHERE bookings = 0 AND month IN ({mlist})"),
                &mparams,
            )?;
        }
        let mut years: Vec<i64> = months
            .iter()
            .map(|m| if m % 100 >= 9 { m / 100 } else { m / 100 - 1 })
            .collect();
        years.dedup();
        let ylist = placeholders(1, years.len());
        let yparams: Vec<Param> = years.into_iter().map(Param::Int).collect();
        exec(
            c,
            &format!("DELETE FROM report_school_years WHERE bookings = 0 AND year IN ({ylist})"),
            &yparams,
        )?;
    }
    Ok(())
}

/// Courses marked for summing again.
pub fn marked(conn: &mut DbConn) -> QueryResult<i64> {
    count(
        conn,
        &format!("SELECT COUNT(*) AS n FROM report_dirty WHERE {MARKED}"),
    )
}

/// Sums every marked course, `batch` at a time, calling `progress` with the number done so
/// far after each batch, and works out every marked school's kept tail, in the service's
/// short writes ([`ROWS_PER_WRITE`]: bookings may be coming in meanwhile). Waits its turn
/// when another refresher is at work.
pub fn refresh_all(
    conn: &mut DbConn,
    now: NaiveDateTime,
    batch: usize,
    progress: impl FnMut(usize),
) -> QueryResult<usize> {
    refresh_all_with(conn, now, batch, ROWS_PER_WRITE, progress)
}

/// [`refresh_all`] with at most `rows_per_write` facts rows per write transaction, as in
/// [`refresh_batch_with`]: a load with nothing else writing (the national seed) can pass
/// `usize::MAX`, so each batch moves in one write and a cell touched by several of its
/// courses is written once, not once per course.
pub fn refresh_all_with(
    conn: &mut DbConn,
    now: NaiveDateTime,
    batch: usize,
    rows_per_write: usize,
    mut progress: impl FnMut(usize),
) -> QueryResult<usize> {
    let mut done = 0;
    loop {
        match refresh_batch_with(conn, now, batch, rows_per_write)? {
            Some(r) if r.summed == 0 && r.tails == 0 => return Ok(done),
            Some(r) => {
                done += r.summed;
                progress(done);
            }
            None => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}
