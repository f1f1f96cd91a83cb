//! A national-scale alliance for the report benchmarks (`cpd-hub-bench bench-seed --national`):
//! 24,000 schools in 150 clusters, 500,000 staff, 20,000 courses over three academic years,
//! 5,000,000 bookings, registers for the sessions held and evaluations with their answers, at
//! `--scale 1`. Smaller scales give the same shape in proportion (`--scale 0.001`: 24 schools,
//! 500 staff, 20 courses, 5,000 bookings), so tests run the very code the benchmark does.
//!
//! The data is consistent the way the service keeps it: bookings snapshot their person's
//! school, staff group and the course's price; each course's bookings are replayed in time
//! order (requests, approvals and declines, cancellations, promotions from the waiting list),
//! so confirmed places never exceed capacity and the courses' counters match their bookings;
//! attendance is recorded only for confirmed bookings at sessions held (and registered) before
//! the "as of" moment; post-course invitations go to everyone who attended a session once the
//! last session's register is in, impact follow-ups six weeks later; responses carry the
//! denormalised figures of their answers. About 5% of schools never book (cold spots) and 3%
//! booked only in the first year.
//!
//! It is fast because nothing goes through the per-row store code: rows are written as text,
//! a thousand to a multi-row `INSERT` (PostgreSQL `COPY` for the big tables), by one thread
//! while another generates the next batch; secondary indexes of the big tables are dropped for
//! the load and built again afterwards, and foreign keys are not checked row by row (SQLite
//! `foreign_keys=OFF`; PostgreSQL `session_replication_role=replica` when allowed), since the
//! rows are valid by construction. Deterministic: the same options give the same database.
//!
//! It expects a database without schools (just migrated): ids are derived from row numbers.
//!
//! The submodules are the steps in order: `ids` and `vocabulary` what rows are made of,
//! `plan` the schools, staff and courses in memory, `refs` the reference data and forms
//! read from (or added to) the database, `generate` the big rows, `sink` writing them,
//! `prepare` the indexes and triggers set aside for the load. They share the imports here.

mod generate;
mod ids;
mod plan;
mod prepare;
mod refs;
mod sink;
mod vocabulary;

use generate::*;
use ids::*;
use plan::*;
use prepare::*;
use refs::*;
use sink::*;
use vocabulary::*;

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use cpd_hub::db::schema::{
    attendance, bookings, evaluation_answers, evaluation_forms, evaluation_invitations,
    evaluation_questions, evaluation_responses, people, person_roles, priorities, schools,
    staff_groups,
};
use cpd_hub::db::DbConn;
use cpd_hub::domain::school::Phase;
use cpd_hub::domain::time::LONDON;

// ---------------------------------------------------------------------------------------------
// Options and results

/// How big a national alliance to make, and how.
#[derive(Clone, Debug)]
pub struct NationalOptions {
    /// 1.0 is the full national size; 0.001 a tiny one for tests.
    pub scale: f64,
    /// The random seed: the same seed gives the same data.
    pub seed: u64,
    /// "Now" for the data: sessions before it were held, invitations due before it were sent.
    pub as_of: NaiveDateTime,
    /// The moment the report cells are summed as of, at the end of the load: the clock's
    /// reading for a bench database that the service then reads at the real time, or a fixed
    /// moment in a test.
    pub summed_at: NaiveDateTime,
    /// Drop the big tables' secondary indexes for the load and build them afterwards.
    pub drop_indexes: bool,
    /// On PostgreSQL, load the big tables with `COPY` rather than multi-row `INSERT`s.
    pub copy: bool,
    /// Show a progress bar and the phases' timings on standard error.
    pub progress: bool,
}

impl Default for NationalOptions {
    fn default() -> Self {
        NationalOptions {
            scale: 1.0,
            seed: 2026,
            as_of: default_as_of(),
            summed_at: default_as_of(),
            drop_indexes: true,
            copy: true,
            progress: false,
        }
    }
}

/// The default "now" of the national data: 20 November 2026, a third of the way through the
/// autumn term of its third academic year.
pub fn default_as_of() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 20)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

/// How many of each thing a scale gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NationalSizes {
    /// Clusters of schools.
    pub clusters: usize,
    /// Schools.
    pub schools: usize,
    /// Staff (people with a school).
    pub staff: usize,
    /// Courses.
    pub courses: usize,
    /// Bookings aimed for (fewer when a small scale leaves too few eligible staff).
    pub bookings: usize,
    /// People who lead courses.
    pub course_leads: usize,
}

impl NationalSizes {
    /// The sizes at a scale (1.0: 150 clusters, 24,000 schools, 500,000 staff, 20,000
    /// courses, 5,000,000 bookings).
    pub fn at_scale(scale: f64) -> NationalSizes {
        let n = |base: f64, min: usize| ((base * scale).round() as usize).max(min);
        let schools = n(24_000.0, 20);
        NationalSizes {
            clusters: n(150.0, 2),
            schools,
            staff: n(500_000.0, schools * 10),
            courses: n(20_000.0, 10),
            bookings: n(5_000_000.0, 100),
            course_leads: n(800.0, 3),
        }
    }
}

/// What [`seed_national`] made, and how long it took.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NationalReport {
    /// Clusters.
    pub clusters: u64,
    /// Schools.
    pub schools: u64,
    /// Schools that never booked (cold spots).
    pub cold_schools: u64,
    /// Schools that booked only in the first academic year.
    pub lapsed_schools: u64,
    /// Staff.
    pub staff: u64,
    /// Courses (published, draft and cancelled).
    pub courses: u64,
    /// Sessions.
    pub sessions: u64,
    /// Bookings in any status.
    pub bookings: u64,
    /// Of which confirmed.
    pub confirmed: u64,
    /// Waitlisted.
    pub waitlisted: u64,
    /// Waiting for approval.
    pub pending: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Of the cancelled, late cancellations.
    pub late_cancellations: u64,
    /// Declined.
    pub declined: u64,
    /// Attendance rows.
    pub attendance: u64,
    /// Evaluation invitations (both kinds).
    pub invitations: u64,
    /// Evaluation responses (both kinds).
    pub responses: u64,
    /// Evaluation answers.
    pub answers: u64,
    /// Seconds spent generating and loading rows.
    pub load_seconds: f64,
    /// Seconds spent building indexes again.
    pub index_seconds: f64,
    /// Seconds spent refreshing planner statistics (and, on PostgreSQL, vacuuming).
    pub analyze_seconds: f64,
    /// Seconds spent summing the report cells.
    pub report_seconds: f64,
    /// Seconds in all.
    pub total_seconds: f64,
}

impl fmt::Display for NationalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} clusters, {} schools ({} never booked, {} only in the first year), {} staff",
            self.clusters, self.schools, self.cold_schools, self.lapsed_schools, self.staff
        )?;
        writeln!(f, "{} courses, {} sessions", self.courses, self.sessions)?;
        writeln!(
            f,
            "{} bookings: {} confirmed, {} waitlisted, {} pending approval, {} cancelled ({} late), {} declined",
            self.bookings,
            self.confirmed,
            self.waitlisted,
            self.pending,
            self.cancelled,
            self.late_cancellations,
            self.declined
        )?;
        writeln!(
            f,
            "{} attendance records, {} evaluation invitations, {} responses, {} answers",
            self.attendance, self.invitations, self.responses, self.answers
        )?;
        write!(
            f,
            "seeded in {:.1} s (rows {:.1} s, indexes {:.1} s, statistics {:.1} s, report cells {:.1} s)",
            self.total_seconds,
            self.load_seconds,
            self.index_seconds,
            self.analyze_seconds,
            self.report_seconds
        )
    }
}

/// Fills an empty database (migrated, no schools) with a national-scale alliance.
pub fn seed_national(conn: &mut DbConn, opts: &NationalOptions) -> anyhow::Result<NationalReport> {
    if !(opts.scale > 0.0 && opts.scale <= 10.0) {
        anyhow::bail!(
            "--scale: must be more than 0 and at most 10, got {}",
            opts.scale
        );
    }
    let existing: i64 = schools::table.count().get_result(conn)?;
    if existing > 0 {
        anyhow::bail!(
            "the database already has {existing} schools: the national seed needs a new, empty database"
        );
    }
    let started = Instant::now();
    let refs = load_refs(conn)?;
    let plan = plan(opts, &refs);
    let note = |msg: String| {
        if opts.progress {
            eprintln!("{msg}");
        }
    };
    note(format!(
        "planned {} schools, {} staff, {} courses and {} bookings in {:.1} s",
        plan.schools.len(),
        plan.people.len(),
        plan.courses.len(),
        plan.courses.iter().map(|c| c.bookings).sum::<usize>(),
        started.elapsed().as_secs_f64()
    ));

    let backend = conn.backend();
    let copy = opts.copy && backend == cpd_hub::db::Backend::Postgres;
    let fk_checked = match backend {
        cpd_hub::db::Backend::Postgres => {
            conn.batch_execute(
                "SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; \
                 SET max_parallel_maintenance_workers = 2",
            )?;
            // Rows are valid by construction; skipping the per-row foreign key triggers needs a
            // superuser, so without one the keys are checked (and the load is slower).
            !try_execute(conn, "SET session_replication_role = replica")
        }
        cpd_hub::db::Backend::Sqlite => {
            conn.batch_execute(
                "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;",
            )?;
            // Needs no other connection to be open; when it is not possible the load still
            // works, in WAL mode.
            let _ = try_execute(conn, "PRAGMA journal_mode = OFF");
            false
        }
    };
    if fk_checked {
        note("foreign keys are checked during the load (not a superuser)".into());
        // The triggers fire too then, and the generator writes each response's sums of its
        // answers itself: the trigger that adds each answer to them would count it twice.
        conn.batch_execute(
            "ALTER TABLE evaluation_answers DISABLE TRIGGER report_answer_sums_insert",
        )?;
    }
    let index_sql = if opts.drop_indexes {
        drop_indexes(conn)?
    } else {
        Vec::new()
    };
    // The report triggers would mark a course once per row on SQLite; every course is summed
    // after the load anyway.
    let trigger_sql = drop_report_triggers(conn)?;

    let pb = if opts.progress {
        let total = plan.courses.iter().map(|c| c.bookings as u64).sum();
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} bookings ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb
    } else {
        ProgressBar::hidden()
    };

    let load_started = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Chunk>(8);
    let (generated, written) = std::thread::scope(|scope| {
        let plan = &plan;
        let refs = &refs;
        let pb = &pb;
        let generator = scope.spawn(move || {
            let mut sink = Sink::new(tx, copy);
            let result = generate(plan, refs, &mut sink, pb);
            let counts = ALL_TBL.map(|t| sink.count(t));
            (result, counts)
        });
        let written = write_chunks(conn, rx);
        (generator.join(), written)
    });
    let (generated, counts) = generated.map_err(|_| anyhow::anyhow!("the generator panicked"))?;
    written?;
    generated.map_err(|_| anyhow::anyhow!("the writer stopped early"))?;
    pb.finish_and_clear();
    let load_seconds = load_started.elapsed().as_secs_f64();
    note(format!("rows loaded in {load_seconds:.1} s"));

    // Each response's academic year and whether the reports count it, as the triggers (off
    // during the load) would have set them; before the indexes are built again, so they are
    // written once.
    let years_started = Instant::now();
    let years = cpd_hub::store::report_cells::fill_response_report_columns(conn)?;
    note(format!(
        "{years} responses given their course's academic year in {:.1} s",
        years_started.elapsed().as_secs_f64()
    ));

    let index_started = Instant::now();
    for sql in &index_sql {
        let t = Instant::now();
        conn.batch_execute(sql)?;
        note(format!("  {:.1} s  {sql}", t.elapsed().as_secs_f64()));
    }
    let index_seconds = index_started.elapsed().as_secs_f64();
    if !index_sql.is_empty() {
        note(format!("indexes built in {index_seconds:.1} s"));
    }
    for sql in &trigger_sql {
        conn.batch_execute(sql)?;
    }
    conn.batch_execute("UPDATE calendar_generation SET n = n + 1 WHERE id = 1")?;
    // The jobs' due-queues, as the triggers (off during the load) would have filled them.
    let started_queues = Instant::now();
    cpd_hub::store::job_queues::backfill(conn, opts.summed_at)?;
    note(format!(
        "jobs' due-queues filled in {:.1} s",
        started_queues.elapsed().as_secs_f64()
    ));

    // Each school's kept tail (its latest counted responses per year and kind), as the
    // refresher would have worked them out from the triggers' marks.
    let tails_started = Instant::now();
    let kept = cpd_hub::store::report_cells::fill_school_tails(conn)?;
    note(format!(
        "{kept} rows of schools' tails kept in {:.1} s",
        tails_started.elapsed().as_secs_f64()
    ));

    let analyze_started = Instant::now();
    match backend {
        cpd_hub::db::Backend::Postgres => {
            if fk_checked {
                conn.batch_execute(
                    "ALTER TABLE evaluation_answers ENABLE TRIGGER report_answer_sums_insert",
                )?;
            } else {
                conn.batch_execute("SET session_replication_role = DEFAULT")?;
            }
            // VACUUM sets the visibility map, so index-only scans can skip the table.
            conn.batch_execute("VACUUM (ANALYZE)")?;
        }
        cpd_hub::db::Backend::Sqlite => {
            conn.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
            let _ = try_execute(conn, "PRAGMA journal_mode = WAL");
            conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        }
    }
    let analyze_seconds = analyze_started.elapsed().as_secs_f64();
    note(format!("statistics refreshed in {analyze_seconds:.1} s"));

    // Sum every course into the report cells, as the service's refresher would.
    let report_started = Instant::now();
    conn.batch_execute(
        "DELETE FROM report_dirty; INSERT INTO report_dirty (course_id, version) SELECT id, 1 FROM courses",
    )?;
    let n_courses = plan.courses.len();
    // Nothing else writes during the load: each batch of courses moves in one write, so a
    // cell several of its courses touch is written once. The service's short writes, which
    // keep bookings from waiting behind the refresher, split a large course into a write per
    // range of its schools, and write a shared cell once per course.
    cpd_hub::store::report_cells::refresh_all_with(
        conn,
        opts.summed_at,
        1000,
        usize::MAX,
        |done| {
            note(format!(
                "  report cells: {done} of {n_courses} courses summed"
            ));
        },
    )?;
    if backend == cpd_hub::db::Backend::Postgres {
        // Summing every course in one go rewrites the cells' rows once per course that
        // touches them, which leaves the cell tables many times their size in dead rows (the
        // school years 149 MB for 25 MB of cells at scale 1) and every report reading them
        // slower; a service summing courses as they change, with autovacuum on, does not
        // build that up. The courses' facts are written about once each, and kept. The kept
        // tails are vacuumed too, as autovacuum would: a report of clusters by staff group
        // reads the staff-group rows' newest times from the key's index alone, which needs
        // the visibility map set. One statement each: VACUUM cannot run among others in one
        // string.
        for table in [
            "report_courses",
            "report_dirty",
            "report_school_cells",
            "report_school_years",
            "report_group_cells",
        ] {
            conn.batch_execute(&format!("VACUUM (FULL, ANALYZE) {table}"))?;
        }
        // A plain VACUUM, as a full one leaves the visibility map unset.
        for table in ["report_school_tails", "report_school_group_tails"] {
            conn.batch_execute(&format!("VACUUM (ANALYZE) {table}"))?;
        }
        conn.batch_execute("ANALYZE report_facts")?;
    } else {
        conn.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
    }
    let report_seconds = report_started.elapsed().as_secs_f64();
    note(format!("report cells summed in {report_seconds:.1} s"));

    let mut report = NationalReport {
        clusters: counts[Tbl::Clusters as usize],
        schools: counts[Tbl::Schools as usize],
        cold_schools: plan
            .schools
            .iter()
            .filter(|s| s.class == SchoolClass::Cold)
            .count() as u64,
        lapsed_schools: plan
            .schools
            .iter()
            .filter(|s| s.class == SchoolClass::Lapsed)
            .count() as u64,
        staff: counts[Tbl::People as usize],
        courses: counts[Tbl::Courses as usize],
        sessions: counts[Tbl::Sessions as usize],
        bookings: counts[Tbl::Bookings as usize],
        attendance: counts[Tbl::Attendance as usize],
        invitations: counts[Tbl::Invitations as usize],
        responses: counts[Tbl::Responses as usize],
        answers: counts[Tbl::Answers as usize],
        load_seconds,
        index_seconds,
        analyze_seconds,
        report_seconds,
        ..Default::default()
    };
    let by_status: Vec<(String, i64)> = bookings::table
        .group_by(bookings::status)
        .select((bookings::status, diesel::dsl::count_star()))
        .load(conn)?;
    for (status, n) in by_status {
        let n = n as u64;
        match status.as_str() {
            "confirmed" => report.confirmed = n,
            "waitlisted" => report.waitlisted = n,
            "pending_approval" => report.pending = n,
            "cancelled" => report.cancelled = n,
            "declined" => report.declined = n,
            _ => {}
        }
    }
    report.late_cancellations = bookings::table
        .filter(bookings::late_cancellation.eq(true))
        .count()
        .get_result::<i64>(conn)? as u64;
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
