//! The report cells (`store::report_cells`) against the bookings they sum. Every report is
//! worked out both ways, from the cells and straight from the bookings, and the two must be
//! the same: right after everything is summed, after changes the refresher has not seen yet,
//! part-way through a refresh, for windows that do and do not fall on whole months, and at
//! moments when courses are in progress. Then under concurrent bookings and cancellations
//! through the running service while refreshes run, on both backends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::national::{seed_national, NationalOptions};
use chrono::{NaiveDate, NaiveDateTime};
use cpd_hub::db::schema::{course_sessions, courses};
use cpd_hub::db::DbConn;
use cpd_hub::reports::metrics::{
    EngagementReport, GroupBy, ImpactReport, ReportQuery, ReportScope,
};
use cpd_hub::store::report_cells;
use cpd_hub::store::reports::{engagement_by, impact_by, Method};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::{bk_book, bk_course, bk_people, bk_world};
use crate::helpers::{spawn_app_with, Backend};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(12, 0, 0).expect("noon")
}

/// Every grouping alone, and pairs that read each kind of kept sums.
const GROUPINGS: &[(GroupBy, Option<GroupBy>)] = &[
    (GroupBy::School, None),
    (GroupBy::Cluster, None),
    (GroupBy::StaffGroup, None),
    (GroupBy::Priority, None),
    (GroupBy::Course, None),
    (GroupBy::Term, None),
    (GroupBy::Cluster, Some(GroupBy::StaffGroup)),
    (GroupBy::Cluster, Some(GroupBy::School)),
    (GroupBy::School, Some(GroupBy::Term)),
    (GroupBy::Term, Some(GroupBy::StaffGroup)),
    (GroupBy::Course, Some(GroupBy::School)),
    (GroupBy::Priority, Some(GroupBy::Cluster)),
    (GroupBy::School, Some(GroupBy::StaffGroup)),
    (GroupBy::Priority, Some(GroupBy::Term)),
];

/// The moment the "changed, not summed" failure was first seen: a Wednesday afternoon in
/// the autumn term, twelve days after the seeded data's own "now".
fn reading_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 2)
        .and_then(|d| d.and_hms_opt(14, 40, 0))
        .expect("a moment")
}

/// Moments the reports are also read at, each written in UTC: the first instant of the London
/// academic year (midnight BST is 23:00 UTC), the autumn clock change (BST ends 01:00 UTC on
/// 25 October 2026), a month end, the calendar-year end, the spring term's first morning and
/// the spring clock change. Some fall before the moment the cells were last summed and some
/// after, so the kept sums are read both earlier and later than they were summed.
fn swept_moments() -> Vec<NaiveDateTime> {
    [
        (2026, 8, 31, 23, 0, 0),
        (2026, 10, 25, 1, 30, 0),
        (2026, 11, 30, 23, 59, 59),
        (2026, 12, 31, 23, 59, 59),
        (2027, 1, 4, 8, 0, 0),
        (2026, 3, 29, 0, 30, 0),
    ]
    .into_iter()
    .map(|(y, m, d, h, min, sec)| {
        date(y, m, d)
            .and_hms_opt(h, min, sec)
            .expect("a valid moment")
    })
    .collect()
}

/// Windows on whole months, with part-months at either edge, inside one month and over the
/// academic year of `now` (courses to come), each read at `now`; and two read in the middle
/// of the data.
fn windows(now: NaiveDateTime) -> Vec<(NaiveDate, NaiveDate, NaiveDateTime)> {
    let today = now.date();
    let year = cpd_hub::domain::term::academic_year_of(today);
    vec![
        (date(2025, 9, 1), date(2026, 8, 31), now),
        (date(2025, 10, 15), date(2026, 11, 30), now),
        (date(2024, 8, 20), date(2026, 11, 10), now),
        (date(2026, 1, 7), date(2026, 1, 27), now),
        (date(year, 9, 1), date(year + 1, 8, 31), now),
        (date(2025, 9, 1), date(2026, 8, 31), at(2026, 2, 4)),
        (date(2025, 11, 3), date(2026, 7, 20), at(2026, 3, 11)),
    ]
}

/// The windows read at a swept moment: the academic year and the month of its UTC date, and the weeks
/// either side of it.
fn around(now: NaiveDateTime) -> Vec<(NaiveDate, NaiveDate, NaiveDateTime)> {
    use chrono::Datelike;
    let today = now.date();
    let year = cpd_hub::domain::term::academic_year_of(today);
    let first = today.with_day(1).expect("a first day");
    let last = first + chrono::Months::new(1) - chrono::Duration::days(1);
    vec![
        (date(year, 9, 1), date(year + 1, 8, 31), now),
        (first, last, now),
        (
            today - chrono::Duration::days(17),
            today + chrono::Duration::days(23),
            now,
        ),
    ]
}

/// Both reports worked out from the bookings for one query.
type Worked = Arc<(EngagementReport, ImpactReport)>;

/// The reports worked out from the bookings themselves, by state of the data, window, moment
/// and grouping. They depend on the bookings, registers and answers alone: while only the kept
/// sums move (summed again, marked, spoiled) they stay the same, so each is worked out once
/// per state of the data, and a change to the data names the new state.
///
/// They are kept for the whole run and shared ([`worked_out`]): both backends start from the
/// same seed (the same rows, with the same ids) and change it in the same ways, so a state
/// reached on SQLite and on PostgreSQL, or by two tests, holds the same bookings and gives the
/// same reports. Each backend's cells are held to the one reference, which also checks that
/// the two backends agree. Were a backend's data ever to differ, its cells would differ from
/// that reference and the comparison would fail, naming the report.
struct Reference {
    /// The state of the data: where it started and each change made since, in order.
    data: String,
    /// This test's own look-ups, so a reused report costs no lock.
    seen: std::collections::HashMap<String, Worked>,
}

impl Reference {
    /// The reports of a database in the state `data` names (e.g. "the seed").
    fn new(data: &str) -> Reference {
        Reference {
            data: data.to_string(),
            seen: Default::default(),
        }
    }

    /// The bookings, registers or answers changed, as `how` says: every report is worked out
    /// again.
    fn data_changed(&mut self, how: &str) {
        self.data.push_str(" / ");
        self.data.push_str(how);
        self.seen.clear();
    }

    /// The reports from the bookings for `key` (the query) in this state of the data, worked
    /// out by `work` unless this test or another already has them.
    fn get(
        &mut self,
        key: String,
        work: impl FnOnce() -> (EngagementReport, ImpactReport),
    ) -> Worked {
        if let Some(worked) = self.seen.get(&key) {
            return worked.clone();
        }
        let cell = {
            let mut all = worked_out().lock().unwrap_or_else(|e| e.into_inner());
            all.entry(format!("{} | {key}", self.data))
                .or_default()
                .clone()
        };
        // A test on the other backend working out the same report is waited for, not
        // repeated; if it fails part-way, the cell stays empty and this one works it out.
        let worked = cell.get_or_init(|| Arc::new(work())).clone();
        self.seen.insert(key, worked.clone());
        worked
    }
}

/// Every reference report worked out in this run, by state of the data and query: each in a
/// cell of its own, so one test waits only for the report it needs.
type AllWorked =
    std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::OnceLock<Worked>>>>;

/// The references of the whole run ([`AllWorked`]).
fn worked_out() -> &'static AllWorked {
    static ALL: std::sync::OnceLock<AllWorked> = std::sync::OnceLock::new();
    ALL.get_or_init(Default::default)
}

/// Works out every report both ways, read at `now`, over `windows(now)` (or the swept
/// windows), and asserts they agree. Returns how many it compared.
fn compare(
    conn: &mut DbConn,
    reference: &mut Reference,
    state: &str,
    groupings: &[(GroupBy, Option<GroupBy>)],
    now: NaiveDateTime,
) -> usize {
    compare_over(conn, reference, state, groupings, windows(now))
}

fn compare_over(
    conn: &mut DbConn,
    reference: &mut Reference,
    state: &str,
    groupings: &[(GroupBy, Option<GroupBy>)],
    windows: Vec<(NaiveDate, NaiveDate, NaiveDateTime)>,
) -> usize {
    let mut n = 0;
    // On PostgreSQL the reports read through the cells work the year earlier out on a second
    // connection, in the same snapshot, as the service does when it has one to spare.
    let mut helper = crate::helpers::second_connection(conn);
    assert_eq!(helper.is_some(), matches!(conn, DbConn::Pg(_)));
    for (from, to, now) in windows {
        for (group_by, then_by) in groupings {
            let q = ReportQuery {
                from,
                to,
                group_by: *group_by,
                then_by: *then_by,
                now,
                min_responses: 5,
            };
            let label = || format!("{state}: {from}..{to} at {now} by {}", q.group_by_label());
            let key = format!("{from} {to} {now} {}", q.group_by_label());
            let worked = reference.get(key, || {
                (
                    engagement_by(conn, None, &q, ReportScope::All, Method::Bookings).unwrap(),
                    impact_by(conn, &q, ReportScope::All, Method::Bookings).unwrap(),
                )
            });
            let (engagement, impact) = (&worked.0, &worked.1);
            let by_cells =
                engagement_by(conn, helper.as_mut(), &q, ReportScope::All, Method::Cells).unwrap();
            same_report(&by_cells, engagement, || format!("engagement {}", label()));
            let by_cells = impact_by(conn, &q, ReportScope::All, Method::Cells).unwrap();
            same_report(&by_cells, impact, || format!("impact {}", label()));
            n += 2;
        }
    }
    n
}

/// Asserts two reports are the same, as [`same`] does. Equal reports (every one, when all is
/// well) are compared as they are: turning both into JSON first was about a fourteenth of the
/// comparisons' time. Reports that differ as values are compared as JSON, which is what a
/// client reads (a rate that is NaN in both is `null` in both), and the first difference named.
fn same_report<T: PartialEq + serde::Serialize>(
    cells: &T,
    bookings: &T,
    label: impl Fn() -> String,
) {
    if cells == bookings {
        return;
    }
    same(
        &serde_json::to_value(cells).unwrap(),
        &serde_json::to_value(bookings).unwrap(),
        &label(),
    );
}

/// Asserts two reports are the same, naming the first place they differ.
fn same(cells: &Value, bookings: &Value, label: &str) {
    fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys()) {
                    let (l, r) = (
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    if let Some(d) = first_difference(l, r, format!("{path}.{k}")) {
                        return Some(d);
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (l, r))| first_difference(l, r, format!("{path}[{i}]"))),
            _ if a == b => None,
            _ => Some(format!("{path}: cells {a} but bookings {b}")),
        }
    }
    // Equal reports (every one, when all is well) are compared without building the paths
    // the search for a difference names.
    if cells == bookings {
        return;
    }
    if let Some(d) = first_difference(cells, bookings, String::new()) {
        panic!("{label}: {d}");
    }
    panic!("{label}: the reports differ");
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    try_count(conn, sql).unwrap()
}

/// The `n` that `sql` selects, or the query's error.
fn try_count(conn: &mut DbConn, sql: &str) -> diesel::QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).map(|r| r.n)
}

/// The seeded database's data as [`seeded_db`] makes it, as a [`Reference`] names it.
const SEED: &str = "the seed";

/// What [`change_everything`] does to the data, as a [`Reference`] names it.
const EVERY_CHANGE: &str = "every kind of change";

/// Changes of every kind the cells are summed from, made the way any writer would (the
/// triggers must notice them).
fn change_everything(conn: &mut DbConn) {
    for sql in [
        // Late cancellations.
        "UPDATE bookings SET status = 'cancelled', late_cancellation = TRUE
          WHERE id IN (SELECT id FROM bookings WHERE status = 'confirmed' ORDER BY id LIMIT 7)",
        // Marks changed.
        "UPDATE attendance SET status = 'absent'
          WHERE booking_id IN (SELECT booking_id FROM attendance WHERE status = 'present'
                                ORDER BY booking_id LIMIT 9)",
        // Bookings that lost their school and staff group.
        "UPDATE bookings SET school_id = NULL, staff_group_id = NULL
          WHERE id IN (SELECT id FROM bookings WHERE status = 'waitlisted' ORDER BY id LIMIT 2)",
        // A school moved to another cluster.
        "UPDATE schools SET cluster_id = (SELECT MAX(c.id) FROM clusters c WHERE c.id <> schools.cluster_id)
          WHERE id = (SELECT MIN(school_id) FROM bookings WHERE status = 'confirmed')",
        // A course cancelled.
        "UPDATE courses SET status = 'cancelled'
          WHERE id = (SELECT MIN(id) FROM courses WHERE status = 'published')",
        // Answered bookings declined (their answers no longer count), and one of them
        // confirmed again; a course with answers cancelled.
        "UPDATE bookings SET status = 'declined'
          WHERE id IN (SELECT MIN(r.booking_id) FROM evaluation_responses r
                         JOIN bookings b ON b.id = r.booking_id
                        WHERE b.status = 'confirmed' GROUP BY r.course_id ORDER BY r.course_id LIMIT 3)",
        "UPDATE bookings SET status = 'confirmed'
          WHERE id = (SELECT MIN(b.id) FROM bookings b WHERE b.status = 'declined'
                         AND EXISTS (SELECT 1 FROM evaluation_responses r WHERE r.booking_id = b.id))",
        "UPDATE courses SET status = 'cancelled'
          WHERE id = (SELECT MAX(r.course_id) FROM evaluation_responses r
                        JOIN courses c ON c.id = r.course_id WHERE c.status = 'published')",
        // Invitations answered, answers taken away.
        "UPDATE evaluation_invitations SET answered_at = sent_at
          WHERE id IN (SELECT id FROM evaluation_invitations
                        WHERE sent_at IS NOT NULL AND answered_at IS NULL ORDER BY id LIMIT 5)",
        "DELETE FROM evaluation_answers
          WHERE response_id IN (SELECT id FROM evaluation_responses ORDER BY id LIMIT 3)",
    ] {
        diesel::sql_query(sql)
            .execute(conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // A course moved 40 days later (into another month, and perhaps another term).
    let course: String = courses::table
        .filter(courses::status.eq("published"))
        .filter(courses::first_session_start.is_not_null())
        .order(courses::id.desc())
        .select(courses::id)
        .first(conn)
        .unwrap();
    move_course(conn, &course, |first| first + chrono::Duration::days(40));
    // A course with answers moved to the first minutes of this academic year in London
    // (00:30 on 1 September, 23:30 UTC the day before), then to the last minutes of the year
    // before (23:30 on 31 August): its responses go with it, to the year before.
    let course = text(
        conn,
        "SELECT MIN(c.id) AS t FROM courses c
          WHERE c.status = 'published' AND c.first_session_start >= '2025-09-01 00:00:00'
            AND c.first_session_start < '2026-06-01 00:00:00'
            AND EXISTS (SELECT 1 FROM evaluation_responses r WHERE r.course_id = c.id)",
    );
    let in_year = |conn: &mut DbConn, year: i32| {
        count(
            conn,
            &format!(
                "SELECT COUNT(*) AS n FROM evaluation_responses
                  WHERE course_id = '{course}' AND course_year = {year}"
            ),
        )
    };
    let answered = in_year(conn, 2025);
    assert!(answered > 0);
    let utc = |h: u32, m: u32| date(2025, 8, 31).and_hms_opt(h, m, 0).expect("a time");
    move_course(conn, &course, |_| utc(23, 30));
    assert_eq!(
        in_year(conn, 2025),
        answered,
        "00:30 on 1 September is 2025-26"
    );
    move_course(conn, &course, |_| utc(22, 30));
    assert_eq!(
        in_year(conn, 2024),
        answered,
        "23:30 on 31 August is 2024-25"
    );
}

/// Moves a course's sessions so its first starts at `to(first)`, as an editor would.
fn move_course(conn: &mut DbConn, course: &str, to: impl Fn(NaiveDateTime) -> NaiveDateTime) {
    let sessions: Vec<(String, NaiveDateTime, NaiveDateTime)> = course_sessions::table
        .filter(course_sessions::course_id.eq(course))
        .select((
            course_sessions::id,
            course_sessions::start_at,
            course_sessions::end_at,
        ))
        .load(conn)
        .unwrap();
    let first = sessions.iter().map(|s| s.1).min().unwrap();
    let by = to(first) - first;
    for (id, start, end) in &sessions {
        diesel::update(course_sessions::table.find(id))
            .set((
                course_sessions::start_at.eq(*start + by),
                course_sessions::end_at.eq(*end + by),
            ))
            .execute(conn)
            .unwrap();
    }
    diesel::update(courses::table.find(course))
        .set(courses::first_session_start.eq(Some(first + by)))
        .execute(conn)
        .unwrap();
}

fn text(conn: &mut DbConn, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    diesel::sql_query(sql).get_result::<T>(conn).unwrap().t
}

crate::each_backend!(
    reports_from_the_cells_match_the_bookings_in_every_state,
    every_state
);

/// An alliance upgrading to cells that count responses (migration `released_tails`, and
/// `counted_responses` after it): the cells summed before it, some courses changed since, get
/// their counts from what is there, with no course marked for it, responses of declined
/// bookings and cancelled courses are left out of the tails, and the reports from the cells
/// match the bookings before and after the changed courses are summed again.
async fn upgraded(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        change_everything(conn);
        let marked = report_cells::marked(conn).unwrap();
        let redone = cpd_hub::db::redo_migrations_since(conn, "20261207000010").unwrap();
        assert_eq!(
            redone,
            [
                "20261213000010",
                "20261212000010",
                "20261211000010",
                "20261210000020",
                "20261210000010",
                "20261209000010",
                "20261208000010",
                "20261207000010"
            ]
        );
        // Every school's year with counted responses is marked for the refresher to keep its
        // tail; until then reports look the tails up.
        let schools = count(
            conn,
            "SELECT COUNT(*) AS n FROM (SELECT DISTINCT course_year, school_id FROM evaluation_responses
              WHERE counted AND course_year IS NOT NULL) k",
        );
        assert!(schools > 10);
        assert_eq!(report_cells::marked_tails(conn).unwrap(), schools);
        assert_eq!(count(conn, "SELECT COUNT(*) AS n FROM report_school_tails"), 0);
        let uncounted = count(
            conn,
            "SELECT COUNT(*) AS n FROM evaluation_responses r
              WHERE NOT r.counted AND (EXISTS (SELECT 1 FROM bookings b WHERE b.id = r.booking_id AND b.status = 'declined')
                                       OR EXISTS (SELECT 1 FROM courses c WHERE c.id = r.course_id AND c.status <> 'published'))",
        );
        assert!(uncounted > 0, "changed responses are left out: {uncounted}");
        assert_eq!(report_cells::marked(conn).unwrap(), marked);
        let counted = count(
            conn,
            "SELECT COUNT(*) AS n FROM report_school_years WHERE post_responses + follow_responses > 0",
        );
        assert!(counted > 10, "the school years count their responses: {counted}");
        let mut reference = Reference::new(SEED);
        reference.data_changed(EVERY_CHANGE);
        reference.data_changed("the migrations since 20261207000010 run again");
        let year = vec![(date(2025, 9, 1), date(2026, 8, 31), reading_time())];
        let n = compare_over(conn, &mut reference, "upgraded", GROUPINGS, year.clone());
        assert!(n > 0);
        report_cells::refresh_all(conn, reading_time(), 7, |_| {}).unwrap();
        assert_eq!(report_cells::marked(conn).unwrap(), 0);
        assert_eq!(report_cells::marked_tails(conn).unwrap(), 0);
        let kept = count(conn, "SELECT COUNT(*) AS n FROM report_school_tails");
        assert!(kept >= schools, "the schools' tails are kept: {kept}");
        compare_over(conn, &mut reference, "upgraded and summed", GROUPINGS, year);
    })
    .await
}

crate::each_backend!(reports_match_the_bookings_after_the_upgrade, upgraded);

/// A by-school report over a whole academic year reads each school's tail from the kept rows
/// (`report_school_tails`): a kept row changed by hand shows in the school's figures, and
/// once the school is marked (as the triggers mark it when one of its responses changes) its
/// tail is looked up in the responses again, until the refresher works its rows out anew.
async fn kept_tails(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        report_cells::refresh_all(conn, reading_time(), 50, |_| {}).unwrap();
        assert_eq!(report_cells::marked_tails(conn).unwrap(), 0);
        let q = ReportQuery {
            from: date(2025, 9, 1),
            to: date(2026, 8, 31),
            group_by: GroupBy::School,
            then_by: None,
            now: reading_time(),
            min_responses: 5,
        };
        let report = |conn: &mut DbConn, method: Method| {
            serde_json::to_value(engagement_by(conn, None, &q, ReportScope::All, method).unwrap())
                .unwrap()
        };
        let reference = report(conn, Method::Bookings);
        same(
            &report(conn, Method::Cells),
            &reference,
            "kept tails as worked out",
        );

        // A school whose post-course tail is kept, whose latest response rated the course
        // and whose satisfaction is shown: its latest rating changed in the kept row (an
        // entry is "micros,id,satisfaction,...").
        #[derive(QueryableByName)]
        struct School {
            #[diesel(sql_type = diesel::sql_types::Text)]
            school_key: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            entries: String,
        }
        let schools = diesel::sql_query(
            "SELECT school_key, entries FROM report_school_tails
              WHERE course_year = 2025 AND kind = 'post_course'
                AND responses % 5 > 0 AND responses >= 10
              ORDER BY school_key",
        )
        .load::<School>(conn)
        .unwrap();
        let (school, entries) = schools
            .into_iter()
            .find_map(|s| {
                let mut fields: Vec<String> = s.entries.split(',').map(String::from).collect();
                let rating: i32 = fields.get(2)?.parse().ok()?;
                fields[2] = if rating == 1 { "5" } else { "1" }.to_string();
                Some((s.school_key, fields.join(",")))
            })
            .expect("a school with a post-course tail and figures shown");
        let changed = diesel::sql_query(
            "UPDATE report_school_tails SET entries = $1
              WHERE course_year = 2025 AND kind = 'post_course' AND school_key = $2",
        )
        .bind::<diesel::sql_types::Text, _>(&entries)
        .bind::<diesel::sql_types::Text, _>(&school)
        .execute(conn)
        .unwrap();
        assert_eq!(changed, 1);
        let by_cells = report(conn, Method::Cells);
        assert_ne!(by_cells, reference, "the kept row is what the report read");
        let row = |v: &Value| {
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["key"] == json!(school))
                .cloned()
                .unwrap()
        };
        assert_ne!(
            row(&by_cells)["satisfaction"],
            row(&reference)["satisfaction"]
        );

        diesel::sql_query(
            "INSERT INTO report_school_tail_marks (course_year, school_key, version)
             VALUES (2025, $1, 1)",
        )
        .bind::<diesel::sql_types::Text, _>(&school)
        .execute(conn)
        .unwrap();
        same(
            &report(conn, Method::Cells),
            &reference,
            "a marked school looked up",
        );
        report_cells::refresh_all(conn, reading_time(), 50, |_| {}).unwrap();
        assert_eq!(report_cells::marked_tails(conn).unwrap(), 0);
        same(
            &report(conn, Method::Cells),
            &reference,
            "its tail worked out again",
        );
        let cluster = ReportQuery {
            group_by: GroupBy::Cluster,
            ..q
        };
        let mut e = |m| {
            serde_json::to_value(engagement_by(conn, None, &cluster, ReportScope::All, m).unwrap())
                .unwrap()
        };
        let (by_bookings, by_cells) = (e(Method::Bookings), e(Method::Cells));
        same(&by_cells, &by_bookings, "by cluster from kept tails");

        // Schools or clusters by staff group, either way round, from each school's staff
        // groups' kept tails; a kept row changed by hand shows, and a marked school is looked
        // up instead.
        let pairs = [
            (GroupBy::Cluster, GroupBy::StaffGroup),
            (GroupBy::StaffGroup, GroupBy::Cluster),
            (GroupBy::School, GroupBy::StaffGroup),
        ];
        let pair_reports_at = |conn: &mut DbConn, method: Method, min_responses| -> Vec<Value> {
            pairs
                .iter()
                .map(|(a, b)| {
                    let pq = ReportQuery {
                        group_by: *a,
                        then_by: Some(*b),
                        min_responses,
                        ..q.clone()
                    };
                    let e = engagement_by(conn, None, &pq, ReportScope::All, method).unwrap();
                    let i = impact_by(conn, &pq, ReportScope::All, method).unwrap();
                    json!([e, i])
                })
                .collect()
        };
        let pair_reports = |conn: &mut DbConn, method: Method| pair_reports_at(conn, method, 5);
        // The pairs read from the cells at a threshold, each the same as its reference.
        let same_pairs = |conn: &mut DbConn, min_responses, reference: &[Value], what: &str| {
            for (cells, bookings) in pair_reports_at(conn, Method::Cells, min_responses)
                .iter()
                .zip(reference)
            {
                same(cells, bookings, what);
            }
        };
        let pair_reference = pair_reports(conn, Method::Bookings);
        same_pairs(conn, 5, &pair_reference, "pairs from kept tails");
        let group_rows = count(
            conn,
            "SELECT COUNT(*) AS n FROM report_school_group_tails WHERE course_year = 2025",
        );
        assert!(group_rows > 10, "{group_rows}");
        #[derive(QueryableByName)]
        struct GroupTail {
            #[diesel(sql_type = diesel::sql_types::Text)]
            school_key: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            staff_group_key: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            entries: String,
        }
        // Every post-course rating of every kept tail of the year changed: some pair shows it.
        let tails = diesel::sql_query(
            "SELECT school_key, staff_group_key, entries FROM report_school_group_tails
              WHERE course_year = 2025 AND kind = 'post_course'",
        )
        .load::<GroupTail>(conn)
        .unwrap();
        for t in &tails {
            let changed: Vec<String> = t
                .entries
                .split(';')
                .map(|e| {
                    let mut f: Vec<String> = e.split(',').map(String::from).collect();
                    if let Some(r) = f.get_mut(2).filter(|r| !r.is_empty()) {
                        *r = if r == "1" { "5" } else { "1" }.to_string();
                    }
                    f.join(",")
                })
                .collect();
            diesel::sql_query(
                "UPDATE report_school_group_tails SET entries = $1
                  WHERE course_year = 2025 AND kind = 'post_course' AND school_key = $2
                    AND staff_group_key = $3",
            )
            .bind::<diesel::sql_types::Text, _>(changed.join(";"))
            .bind::<diesel::sql_types::Text, _>(&t.school_key)
            .bind::<diesel::sql_types::Text, _>(&t.staff_group_key)
            .execute(conn)
            .unwrap();
        }
        assert_ne!(
            pair_reports(conn, Method::Cells),
            pair_reference,
            "the kept rows are what the pairs read"
        );
        diesel::sql_query(
            "INSERT INTO report_school_tail_marks (course_year, school_key, version)
             SELECT DISTINCT course_year, school_key, 1 FROM report_school_group_tails
              WHERE course_year = 2025",
        )
        .execute(conn)
        .unwrap();
        same_pairs(
            conn,
            5,
            &pair_reference,
            "pairs of marked schools looked up",
        );
        report_cells::refresh_all(conn, reading_time(), 50, |_| {}).unwrap();
        assert_eq!(report_cells::marked_tails(conn).unwrap(), 0);
        same_pairs(conn, 5, &pair_reference, "pairs worked out again");
        // Each kept staff-group row keeps its newest entry's time beside its entries.
        #[derive(QueryableByName)]
        struct Newest {
            #[diesel(sql_type = diesel::sql_types::Text)]
            entries: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
            newest: Option<i64>,
        }
        let newest_as_kept = |conn: &mut DbConn| {
            for table in ["report_school_tails", "report_school_group_tails"] {
                let rows = diesel::sql_query(format!("SELECT entries, newest FROM {table}"))
                    .load::<Newest>(conn)
                    .unwrap();
                assert!(rows.len() > 10, "{table}: {}", rows.len());
                for r in &rows {
                    let first: i64 = r.entries.split(',').next().unwrap().parse().unwrap();
                    assert_eq!(r.newest, Some(first), "{table}: {}", r.entries);
                }
            }
        };
        newest_as_kept(conn);
        // An alliance upgrading with its rows kept: the migration that adds the newest times
        // works them out from the entries (and its way back drops them).
        let redone = cpd_hub::db::redo_migrations_since(conn, "20261210000010").unwrap();
        assert_eq!(
            redone,
            [
                "20261213000010",
                "20261212000010",
                "20261211000010",
                "20261210000020",
                "20261210000010"
            ]
        );
        newest_as_kept(conn);
        let by_cluster = |conn: &mut DbConn, method: Method| {
            json!([
                engagement_by(conn, None, &cluster, ReportScope::All, method).unwrap(),
                impact_by(conn, &cluster, ReportScope::All, method).unwrap()
            ])
        };
        let cluster_reference = by_cluster(conn, Method::Bookings);
        same(
            &by_cluster(conn, Method::Cells),
            &cluster_reference,
            "by cluster, newest rows first",
        );
        // Rows whose newest time is not known are read in full.
        for table in ["report_school_tails", "report_school_group_tails"] {
            diesel::sql_query(format!("UPDATE {table} SET newest = NULL"))
                .execute(conn)
                .unwrap();
        }
        same_pairs(conn, 5, &pair_reference, "pairs with no newest times");
        same(
            &by_cluster(conn, Method::Cells),
            &cluster_reference,
            "clusters with no newest times",
        );
        // The newest times decide which rows a cluster reads: turned round, a cluster (or a
        // cluster's pair) reads its oldest rows and misses its latest responses.
        for table in ["report_school_tails", "report_school_group_tails"] {
            diesel::sql_query(format!(
                "UPDATE {table} SET newest = -CAST(substr(entries, 1, 16) AS BIGINT)"
            ))
            .execute(conn)
            .unwrap();
        }
        let turned = pair_reports(conn, Method::Cells);
        assert_ne!(turned[0], pair_reference[0], "cluster by staff group");
        assert_ne!(turned[1], pair_reference[1], "staff group by cluster");
        assert_eq!(
            turned[2], pair_reference[2],
            "a school's pairs are one row each, read whatever their newest time"
        );
        assert_ne!(
            by_cluster(conn, Method::Cells),
            cluster_reference,
            "by cluster"
        );
        // Both years' rows were changed (a report reads the year before as well).
        diesel::sql_query(
            "INSERT INTO report_school_tail_marks (course_year, school_key, version)
             SELECT DISTINCT course_year, school_key, 1 FROM report_school_tails",
        )
        .execute(conn)
        .unwrap();
        report_cells::refresh_all(conn, reading_time(), 50, |_| {}).unwrap();
        newest_as_kept(conn);
        same_pairs(conn, 5, &pair_reference, "newest times worked out again");
        same(
            &by_cluster(conn, Method::Cells),
            &cluster_reference,
            "by cluster, worked out again",
        );
        // One school's kept rows emptied by hand and the school marked: its staff groups are
        // looked up, the other schools' read as kept.
        diesel::sql_query(
            "INSERT INTO report_school_tail_marks (course_year, school_key, version)
             SELECT course_year, school_key, 1 FROM report_school_group_tails
              WHERE course_year = 2025 AND school_key <> ''
              GROUP BY course_year, school_key ORDER BY COUNT(*) DESC, school_key LIMIT 1",
        )
        .execute(conn)
        .unwrap();
        assert_eq!(report_cells::marked_tails(conn).unwrap(), 1);
        diesel::sql_query(
            "UPDATE report_school_group_tails SET responses = 0, entries = ''
              WHERE course_year = 2025
                AND school_key IN (SELECT school_key FROM report_school_tail_marks)",
        )
        .execute(conn)
        .unwrap();
        same_pairs(conn, 5, &pair_reference, "pairs with one marked school");
        // Tails longer than the kept rows hold (a threshold of 7 asks for up to 6): the rows
        // not deep enough are looked up.
        let deeper = pair_reports_at(conn, Method::Bookings, 7);
        assert_ne!(
            deeper, pair_reference,
            "a threshold of 7 releases other figures"
        );
        same_pairs(conn, 7, &deeper, "pairs at a threshold of 7");
    })
    .await
}

crate::each_backend!(
    a_whole_years_school_tails_are_read_from_the_kept_rows,
    kept_tails
);

/// Half the groupings, still reading each kind of kept sums (the school and group cells,
/// the course rows and the facts, alone and in pairs): for the states whose difference from
/// the one before is a matter of which courses are summed, not of how a grouping reads.
fn every_other() -> Vec<(GroupBy, Option<GroupBy>)> {
    GROUPINGS.iter().copied().step_by(2).collect()
}

/// Groupings read at every swept moment: one of each kind of kept sums, and the term.
const SWEPT: &[(GroupBy, Option<GroupBy>)] = &[
    (GroupBy::School, None),
    (GroupBy::Cluster, Some(GroupBy::StaffGroup)),
    (GroupBy::Term, None),
    (GroupBy::Course, Some(GroupBy::School)),
];

/// Courses whose next session, as kept when they were summed, has started by `now`.
fn courses_started_by(conn: &mut DbConn, now: NaiveDateTime) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = match conn {
        DbConn::Pg(_) => "SELECT COUNT(*) AS n FROM report_courses WHERE next_start < $1",
        DbConn::Sqlite(_) => "SELECT COUNT(*) AS n FROM report_courses WHERE next_start < ?",
    };
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .get_result::<N>(conn)
        .unwrap()
        .n
}

/// Every kept sum, in a fixed order, as text: the cells, the facts, and the course rows
/// without the moment they were summed.
fn kept_sums(conn: &mut DbConn) -> Vec<String> {
    use cpd_hub::store::report_cells::COLUMNS;
    #[derive(QueryableByName, Debug)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    let cols = COLUMNS.join(" || ',' || ");
    let mut rows = Vec::new();
    for (table, keys) in [
        ("report_school_cells", "month || ',' || school_key"),
        ("report_school_years", "year || ',' || school_key"),
        (
            "report_group_cells",
            "month || ',' || cluster_key || ',' || staff_group_key",
        ),
        (
            "report_facts",
            "course_id || ',' || school_key || ',' || staff_group_key || ',' || cluster_key",
        ),
        (
            "report_courses",
            "course_id || ',' || month || ',' || COALESCE(CAST(next_start AS TEXT), '-')",
        ),
    ] {
        let sql =
            format!("SELECT '{table}:' || {keys} || ':' || {cols} AS row FROM {table} ORDER BY 1");
        rows.extend(
            diesel::sql_query(sql)
                .load::<Row>(conn)
                .unwrap()
                .into_iter()
                .map(|r| r.row),
        );
    }
    rows.sort();
    rows
}

/// The refresher's writes split a large course by school: finished, the kept sums are
/// exactly those of moving each course whole; stopped part-way (a course half moved, with
/// changed bookings at both ends of its schools), the reports still agree with the bookings;
/// and a course whose month changed moves too.
fn split_moves(conn: &mut DbConn, reference: &mut Reference, now: NaiveDateTime) {
    let whole = kept_sums(conn);
    let largest = count(
        conn,
        "SELECT MAX(n) AS n FROM (SELECT COUNT(*) AS n FROM report_facts GROUP BY course_id) k",
    );
    assert!(
        largest > 4,
        "a course with more facts rows than one write moves ({largest})"
    );
    // Four rows a write (taken out and put in): the larger courses split by school.
    mark_all(conn);
    let (mut writes, mut summed) = (0, 0);
    while report_cells::marked(conn).unwrap() > 0 {
        let r = report_cells::refresh_batch_with(conn, now, 500, 4)
            .unwrap()
            .unwrap();
        writes += r.writes;
        summed += r.summed;
    }
    assert!(
        writes > summed,
        "some courses took several writes ({writes} for {summed})"
    );
    assert_eq!(kept_sums(conn), whole);

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        course_id: String,
    }
    let course = diesel::sql_query(
        "SELECT course_id FROM report_facts GROUP BY course_id
          ORDER BY COUNT(*) DESC, course_id LIMIT 1",
    )
    .get_result::<Id>(conn)
    .unwrap()
    .course_id;
    // The bookings of its first and last schools cancelled: moved two writes' worth, the
    // first range of schools holds the new sums and the last the old.
    diesel::sql_query(cpd_hub::db::numbered(
        conn,
        "UPDATE bookings SET status = 'cancelled'
          WHERE course_id = $1 AND status = 'confirmed'
            AND (school_id = (SELECT MIN(school_id) FROM bookings WHERE course_id = $1)
                 OR school_id = (SELECT MAX(school_id) FROM bookings WHERE course_id = $1))",
    ))
    .bind::<diesel::sql_types::Text, _>(course.clone())
    .execute(conn)
    .unwrap();
    reference.data_changed("the largest course's first and last schools cancelled");
    assert_eq!(report_cells::marked(conn).unwrap(), 1);
    let part = report_cells::refresh_batch_within(conn, now, 500, 4, 2)
        .unwrap()
        .unwrap();
    assert_eq!(part.writes, 2);
    assert_eq!(
        report_cells::marked(conn).unwrap(),
        1,
        "still marked, half moved"
    );
    let half = kept_sums(conn);
    assert_ne!(half, whole);
    compare(conn, reference, "a course half moved", &every_other(), now);
    report_cells::refresh_all(conn, now, 500, |_| {}).unwrap();
    assert_ne!(kept_sums(conn), half);
    compare(
        conn,
        reference,
        "a course moved in split writes",
        &every_other(),
        now,
    );

    // Its sessions five weeks later (another month): moved in split writes, the kept sums
    // are those of summing everything from nothing.
    {
        use cpd_hub::db::schema::{course_sessions as s, courses as c};
        let days = chrono::Duration::days(35);
        let sessions: Vec<(String, NaiveDateTime, NaiveDateTime)> = s::table
            .filter(s::course_id.eq(&course))
            .select((s::id, s::start_at, s::end_at))
            .load(conn)
            .unwrap();
        for (id, start, end) in sessions {
            diesel::update(s::table.find(id))
                .set((s::start_at.eq(start + days), s::end_at.eq(end + days)))
                .execute(conn)
                .unwrap();
        }
        let first: Option<NaiveDateTime> = c::table
            .find(&course)
            .select(c::first_session_start)
            .first(conn)
            .unwrap();
        diesel::update(c::table.find(&course))
            .set(c::first_session_start.eq(first.map(|f| f + days)))
            .execute(conn)
            .unwrap();
    }
    reference.data_changed("the largest course's sessions five weeks later");
    assert!(report_cells::marked(conn).unwrap() > 0);
    while report_cells::marked(conn).unwrap() > 0 {
        report_cells::refresh_batch_with(conn, now, 500, 4)
            .unwrap()
            .unwrap();
    }
    let split = kept_sums(conn);
    compare(
        conn,
        reference,
        "a course moved a month, in split writes",
        &every_other(),
        now,
    );
    for table in [
        "report_school_cells",
        "report_school_years",
        "report_group_cells",
        "report_facts",
        "report_courses",
    ] {
        diesel::sql_query(format!("DELETE FROM {table}"))
            .execute(conn)
            .unwrap();
    }
    // From nothing in one write per batch (as the national seed sums), the same sums.
    mark_all(conn);
    report_cells::refresh_all_with(conn, now, 500, usize::MAX, |_| {}).unwrap();
    assert_eq!(kept_sums(conn), split);
}

/// Marks every course for summing again.
fn mark_all(conn: &mut DbConn) {
    for sql in [
        // Summed marks are kept with the version summed; raising it marks them again.
        "UPDATE report_dirty SET version = version + 1 WHERE version <= summed_version",
        "INSERT INTO report_dirty (course_id, version) SELECT id, 1 FROM courses
          WHERE id NOT IN (SELECT course_id FROM report_dirty)",
    ] {
        diesel::sql_query(sql).execute(conn).unwrap();
    }
}

crate::each_backend!(
    reports_from_the_cells_match_the_bookings_after_split_moves_and_in_february,
    later_states
);

crate::each_backend!(
    reports_from_the_cells_match_the_bookings_across_the_autumn,
    sweep_autumn
);

crate::each_backend!(
    reports_from_the_cells_match_the_bookings_across_the_year_end_and_spring,
    sweep_year_end_and_spring
);

/// Everything happens at moments the test names: the data is seeded as of its own fixed
/// "now", the reports are read at fixed moments, and no service runs beside the test (a
/// background job at the real time would send due invitations between the two readings).
///
/// The states are compared in four tests, each on its own database, so they run side by side
/// (compared in one test they made the longest test of the suite by minutes): the states up
/// to everything summed again here; split moves and other summing moments in
/// [`later_states`]; the swept moments, in two halves, in [`sweep_autumn`] and
/// [`sweep_year_end_and_spring`]. The last three start from the state the first ends in:
/// the seed, every kind of change, everything summed again now.
async fn every_state(backend: Backend) {
    on_a_seeded_db(backend, every_state_on).await
}

async fn later_states(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        let mut reference = changed_and_summed_again(conn);
        later_states_on(conn, &mut reference)
    })
    .await
}

async fn sweep_autumn(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        let mut reference = changed_and_summed_again(conn);
        sweep(conn, &mut reference, &swept_moments()[..3])
    })
    .await
}

async fn sweep_year_end_and_spring(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        let mut reference = changed_and_summed_again(conn);
        sweep(conn, &mut reference, &swept_moments()[3..])
    })
    .await
}

/// Runs `check` on a migrated database of `backend` holding a small national seed, every
/// course summed as of the seed's own "now".
async fn on_a_seeded_db(backend: Backend, check: impl FnOnce(&mut DbConn) + Send + 'static) {
    tokio::task::spawn_blocking(move || {
        let Some((_db, mut conn)) = seeded_db(backend) else {
            return;
        };
        // The seed sums every course; from here on the test decides when the cells move.
        assert_eq!(report_cells::marked(&mut conn).unwrap(), 0);
        assert!(count(&mut conn, "SELECT COUNT(*) AS n FROM report_courses") > 50);
        check(&mut conn);
    })
    .await
    .expect("the comparison finished");
}

/// A migrated database of `backend` holding a small national seed, every course summed and
/// every school's tail kept as of the seed's own "now"; `None` when the backend is not here.
///
/// The seed is made once (it is deterministic) and copied for each test: seeding took longer
/// than most of the tests that start from it. Its options are written here, so a change to
/// this file makes it again.
fn seeded_db(backend: Backend) -> Option<(crate::helpers::TestDb, DbConn)> {
    crate::helpers::copied_db(backend, "seeded", &["tests/api/report_cells.rs"], |conn| {
        same_ids_on_every_backend(conn);
        let seeded = crate::national::default_as_of();
        seed_national(
            conn,
            &NationalOptions {
                scale: 0.004,
                as_of: seeded,
                summed_at: seeded,
                ..NationalOptions::default()
            },
        )
        .expect("the national seed runs");
    })
}

/// Gives the default staff groups and priorities, which a migrated database makes with new
/// ids, ids that follow from their keys, before anything refers to them: with the national
/// seed's own ids (which follow from its random seed), the seeded data are then the same on
/// both backends, row for row, and so are the reports from them (see [`Reference`]).
fn same_ids_on_every_backend(conn: &mut DbConn) {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key: String,
    }
    for (table, kind) in [("staff_groups", 1), ("priorities", 2)] {
        let keys: Vec<Key> = diesel::sql_query(format!("SELECT key FROM {table} ORDER BY key"))
            .load(conn)
            .unwrap();
        assert!(!keys.is_empty(), "the migrations made the default {table}");
        for (n, Key { key }) in keys.into_iter().enumerate() {
            diesel::sql_query(cpd_hub::db::numbered(
                conn,
                &format!("UPDATE {table} SET id = $1 WHERE key = $2"),
            ))
            .bind::<diesel::sql_types::Text, _>(format!("00000000-0000-7000-8000-{kind:06}{n:06}"))
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(conn)
            .unwrap();
        }
    }
}

/// The state [`every_state_on`] ends in: every kind of change made, then everything summed
/// again at the reading time.
fn changed_and_summed_again(conn: &mut DbConn) -> Reference {
    change_everything(conn);
    assert!(report_cells::marked(conn).unwrap() >= 5);
    report_cells::refresh_all(conn, reading_time(), 7, |_| {}).unwrap();
    assert_eq!(report_cells::marked(conn).unwrap(), 0);
    let mut reference = Reference::new(SEED);
    reference.data_changed(EVERY_CHANGE);
    reference
}

fn every_state_on(conn: &mut DbConn) {
    let now = reading_time();
    let mut reference = Reference::new(SEED);
    // Summed as of the seed's "now" and read twelve days later.
    let n = compare(conn, &mut reference, "all summed", GROUPINGS, now);
    assert_eq!(n, windows(now).len() * GROUPINGS.len() * 2);
    // The kept sums are what the reports read: spoil each kind and the reports that read it
    // go wrong.
    for (table, group_by, then_by, from, to) in [
        (
            "report_school_years",
            GroupBy::School,
            None,
            date(2025, 9, 1),
            date(2026, 8, 31),
        ),
        (
            "report_school_cells",
            GroupBy::School,
            None,
            date(2025, 10, 1),
            date(2026, 3, 31),
        ),
        (
            "report_group_cells",
            GroupBy::Cluster,
            None,
            date(2025, 9, 1),
            date(2026, 8, 31),
        ),
        (
            "report_courses",
            GroupBy::Priority,
            None,
            date(2025, 9, 1),
            date(2026, 8, 31),
        ),
        (
            "report_facts",
            GroupBy::Course,
            Some(GroupBy::School),
            date(2025, 9, 1),
            date(2026, 8, 31),
        ),
    ] {
        let q = ReportQuery {
            from,
            to,
            group_by,
            then_by,
            now,
            min_responses: 5,
        };
        let spoil = |conn: &mut DbConn, by: i64| {
            diesel::sql_query(format!("UPDATE {table} SET bookings = bookings + {by}"))
                .execute(conn)
                .unwrap();
        };
        spoil(conn, 1000);
        let spoiled = engagement_by(conn, None, &q, ReportScope::All, Method::Cells).unwrap();
        let right = engagement_by(conn, None, &q, ReportScope::All, Method::Bookings).unwrap();
        assert_ne!(
            spoiled.totals.bookings,
            right.totals.bookings,
            "by {} reads {table}",
            q.group_by_label()
        );
        spoil(conn, -1000);
    }
    compare(
        conn,
        &mut reference,
        "all summed, after the spoiling",
        &GROUPINGS[..2],
        now,
    );

    change_everything(conn);
    reference.data_changed(EVERY_CHANGE);
    let marked = report_cells::marked(conn).unwrap();
    assert!(
        marked >= 5,
        "the triggers marked the changed courses ({marked})"
    );
    compare(conn, &mut reference, "changed, not summed", GROUPINGS, now);

    // Part-way: a few courses summed again, the rest still marked. (The refresh first marks
    // the courses whose next session has started since the seed summed them.)
    let before = report_cells::marked(conn).unwrap() + courses_started_by(conn, now);
    assert_eq!(report_cells::refresh(conn, now, 3).unwrap(), Some(3));
    let after = report_cells::marked(conn).unwrap();
    assert!(
        after >= marked - 3 && after <= before - 3,
        "three courses unmarked ({marked} marked, {before} with those started, {after} after)"
    );
    compare(conn, &mut reference, "part summed", &every_other(), now);

    report_cells::refresh_all(conn, now, 7, |_| {}).unwrap();
    assert_eq!(report_cells::marked(conn).unwrap(), 0);
    compare(conn, &mut reference, "summed again", &every_other(), now);

    // A summed mark stays, with the version summed, and the next change raises the version
    // past it: versions never start again, so a refresher that read a mark before another
    // summed the course and it changed again cannot take the new mark for the one it read.
    #[derive(QueryableByName)]
    struct Mark {
        #[diesel(sql_type = diesel::sql_types::Text)]
        course_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        version: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        summed_version: i64,
    }
    let read = |conn: &mut DbConn| -> Mark {
        diesel::sql_query(
            "SELECT d.course_id, d.version, d.summed_version FROM report_dirty d
              WHERE d.course_id = (SELECT MIN(b.course_id) FROM bookings b
                                    WHERE b.status = 'confirmed')",
        )
        .get_result(conn)
        .unwrap()
    };
    let before = read(conn);
    assert!(
        before.version >= 1 && before.version == before.summed_version,
        "summed: version {} and summed {}",
        before.version,
        before.summed_version
    );
    diesel::sql_query(format!(
        "UPDATE bookings SET price_pence = price_pence + 1 WHERE id = (SELECT MIN(id) FROM bookings
          WHERE course_id = '{}' AND status = 'confirmed')",
        before.course_id
    ))
    .execute(conn)
    .unwrap();
    let after = read(conn);
    assert_eq!(
        (after.version, after.summed_version),
        (before.version + 1, before.summed_version)
    );
    assert_eq!(report_cells::marked(conn).unwrap(), 1);
}

/// From everything summed again: split moves, everything summed as of a moment when courses
/// were still running, and the courses started since summed again.
fn later_states_on(conn: &mut DbConn, reference: &mut Reference) {
    let now = reading_time();
    split_moves(conn, reference, now);

    // Summed as of a moment when courses were still running: the held sessions have changed
    // since, and the reports must notice.
    mark_all(conn);
    report_cells::refresh_all(conn, at(2026, 2, 4), 50, |_| {}).unwrap();
    compare(conn, reference, "summed in February", GROUPINGS, now);

    // The refresher sums again the courses whose next session has started since.
    assert!(courses_started_by(conn, now) > 0);
    let summed = report_cells::refresh_all(conn, now, 50, |_| {}).unwrap();
    assert!(summed > 0);
    assert_eq!(courses_started_by(conn, now), 0);
    compare(conn, reference, "summed again now", &every_other(), now);
}

/// Reads the reports at each of `moments` as the cells stand (summed later or earlier than
/// the moment read), then sums everything at that moment and reads them again.
fn sweep(conn: &mut DbConn, reference: &mut Reference, moments: &[NaiveDateTime]) {
    let mut summed_at = reading_time();
    // Across terms, month ends, year ends and clock changes: the cells as they stand (summed
    // later or earlier than the moment read), then everything summed at that moment.
    for &moment in moments {
        compare_over(
            conn,
            reference,
            &format!("summed at {summed_at}, read at {moment}"),
            &SWEPT[..2],
            around(moment),
        );
        mark_all(conn);
        report_cells::refresh_all(conn, moment, 50, |_| {}).unwrap();
        assert_eq!(report_cells::marked(conn).unwrap(), 0);
        compare(
            conn,
            reference,
            &format!("summed and read at {moment}"),
            SWEPT,
            moment,
        );
        summed_at = moment;
    }
}

crate::each_backend!(
    concurrent_bookings_and_refreshes_keep_the_cells_exact,
    concurrent_bookings_and_refreshes
);

/// Bookings and cancellations from many clients at once while the service's refresher runs
/// every second and another refresher sums one course at a time in a loop: once everyone
/// stops and the last changes are summed, the cells agree with the bookings and no change was
/// lost.
async fn concurrent_bookings_and_refreshes(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.reports.refresh_every = Some(std::time::Duration::from_secs(1));
    })
    .await
    else {
        return;
    };
    let w = bk_world(&app).await;
    let mut course_ids = Vec::new();
    for i in 0..3 {
        course_ids.push(bk_course(&app, &w, &format!("Phonics {i}"), 8, |_| {}).await);
    }
    let schools = [&w.school_a, &w.school_b, &w.school_c];
    let staff = bk_people(&app, 36, "Busy", &schools).await;

    let stop = Arc::new(AtomicBool::new(false));
    let url = app.db.url().to_string();
    let looping = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = cpd_hub::db::Manager::new(&url).unwrap().open().unwrap();
            // Rounds that summed a course, rounds that found nothing marked, and rounds that
            // found another refresher at work (PostgreSQL's lock) or the database busy
            // (SQLite's write lock, held by a booking): the only ways a round may end without
            // summing. Any other error fails the test.
            let (mut summed, mut idle, mut waited) = (0, 0, 0);
            while !stop.load(Ordering::Relaxed) {
                match report_cells::refresh(&mut conn, cpd_hub::domain::time::now(), 1) {
                    Ok(Some(0)) => idle += 1,
                    Ok(Some(n)) => {
                        assert_eq!(n, 1, "summed more than its limit");
                        summed += 1
                    }
                    Ok(None) => waited += 1,
                    Err(e) if e.to_string().contains("database is locked") => waited += 1,
                    Err(e) => panic!("a refresh failed: {e}"),
                }
            }
            (summed, idle, waited)
        })
    };

    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for (i, who) in staff.iter().enumerate() {
        let (app, who, course) = (app.clone(), who.clone(), course_ids[i % 3].clone());
        tasks.push(tokio::spawn(async move {
            let r = bk_book(&app, &course, &who, json!({})).await;
            assert_eq!(r.status(), 201, "booking");
            let b: Value = r.json().await.unwrap();
            // Every other booker changes their mind.
            if i % 2 == 0 {
                let id = b["id"].as_str().unwrap().to_string();
                let r = app
                    .post(
                        &format!("/api/v1/bookings/{id}/cancel"),
                        who.t(),
                        &json!({}),
                    )
                    .await;
                assert_eq!(r.status(), 200, "cancelling");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (summed, idle, waited) = looping.await.unwrap();
    assert!(
        summed > 0,
        "the looping refresher summed no course ({idle} rounds found none marked, {waited} waited)"
    );

    let first_start = cpd_hub::domain::time::now().date() + chrono::Duration::days(30);
    app.with_db(move |conn| {
        report_cells::refresh_all(conn, cpd_hub::domain::time::now(), 10, |_| {}).unwrap();
        assert_eq!(report_cells::marked(conn).unwrap(), 0);
        let q = ReportQuery {
            from: first_start - chrono::Duration::days(3),
            to: first_start + chrono::Duration::days(3),
            group_by: GroupBy::Course,
            then_by: None,
            now: cpd_hub::domain::time::now(),
            min_responses: 5,
        };
        let cells = engagement_by(conn, None, &q, ReportScope::All, Method::Cells).unwrap();
        let bookings = engagement_by(conn, None, &q, ReportScope::All, Method::Bookings).unwrap();
        same_report(&cells, &bookings, || "after the rush".to_string());
        // 12 bookings on each course, 6 of them cancelled: the other 6 all have one of the
        // 8 places, whoever was waiting at first.
        assert_eq!(
            (
                cells.totals.bookings,
                cells.totals.cancelled,
                cells.totals.confirmed,
                cells.totals.waitlisted
            ),
            (36, 18, 18, 0)
        );
        // Nothing was worked out live: every course's figures came from its kept row.
        let kept = count(
            conn,
            "SELECT CAST(SUM(bookings) AS BIGINT) AS n FROM report_courses",
        );
        assert_eq!(kept, 36);
        for grouping in [GroupBy::School, GroupBy::Cluster, GroupBy::StaffGroup] {
            let q = ReportQuery {
                group_by: grouping,
                ..q.clone()
            };
            let cells = engagement_by(conn, None, &q, ReportScope::All, Method::Cells).unwrap();
            let bookings =
                engagement_by(conn, None, &q, ReportScope::All, Method::Bookings).unwrap();
            same_report(&cells, &bookings, || {
                format!("after the rush, by {}", q.group_by_label())
            });
        }
    })
    .await;
}

/// Courses moved to another academic year at once, then cancelled at once, then other
/// courses' answered bookings declined in bulk at once, whose responses come from the same
/// schools: each change moves (or stops counting) many responses, and a trigger marks each
/// response's school and year for its kept tail to be worked out again. The changes take those marks in one order (the refresher's), so none
/// waits for another in a circle, which PostgreSQL would end by failing one of them
/// ("deadlock detected"). Every change succeeds and every school's year is marked.
async fn changed_at_once(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        let Some((db, mut conn)) = seeded_db(backend) else {
            return;
        };
        assert_eq!(report_cells::marked_tails(&mut conn).unwrap(), 0);
        let ids = busiest_courses(&mut conn, &[]);
        let id_list = sql_list(&ids);
        let shared = count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT school_id FROM evaluation_responses
                  WHERE counted AND course_id IN ({id_list})
                  GROUP BY school_id HAVING COUNT(DISTINCT course_id) > 1) k"
            ),
        );
        assert!(shared > 10, "the courses share schools: {shared}");
        // At most every year with responses for each of the courses' schools.
        let before = count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT DISTINCT y.course_year, r.school_id
                   FROM evaluation_responses r
                  CROSS JOIN (SELECT DISTINCT course_year FROM evaluation_responses
                               WHERE course_year IS NOT NULL) y
                  WHERE r.counted AND r.course_id IN ({id_list})) k"
            ),
        );
        // Each course a year later, through the store's change to a session (which the API's
        // `PATCH /api/v1/sessions/{id}` makes): first every session but the first, one by
        // one, which leaves the course in its academic year; then, all courses at once, the
        // first session, which moves the course and all its responses to the next year.
        let mut firsts = Vec::new();
        for id in &ids {
            let mut sessions = course_sessions::table
                .filter(course_sessions::course_id.eq(id))
                .order(course_sessions::start_at.desc())
                .select(course_sessions::id)
                .load::<String>(&mut conn)
                .unwrap();
            let first = sessions.pop().expect("a course with sessions");
            for session in sessions {
                move_a_year(&mut conn, session).unwrap();
            }
            firsts.push(first);
        }
        assert_eq!(
            report_cells::marked_tails(&mut conn).unwrap(),
            0,
            "no response changed year yet"
        );
        let moved = at_once(db.url(), firsts, move_a_year);
        assert!(moved.is_empty(), "moves failed: {moved:?}");
        // Each school is marked for the years its responses left and joined.
        let years = count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT DISTINCT course_year, school_id
                   FROM evaluation_responses
                  WHERE counted AND course_year IS NOT NULL AND course_id IN ({id_list})) k"
            ),
        );
        assert!(years > 10, "{years}");
        let marked = report_cells::marked_tails(&mut conn).unwrap();
        assert!(
            marked > years,
            "the years left and joined: {marked} of {years} joined"
        );
        assert!(marked <= before, "{marked} of at most {before}");
        report_cells::refresh_all(&mut conn, reading_time(), 50, |_| {}).unwrap();
        assert_eq!(report_cells::marked_tails(&mut conn).unwrap(), 0);

        let cancelled = at_once(db.url(), ids.clone(), |c, id| {
            cpd_hub::store::courses::cancel_course(
                c,
                None,
                "http://127.0.0.1",
                &id,
                "The trainer is unwell.",
            )
            .map_err(|e| format!("{e:?}"))
        });
        assert!(cancelled.is_empty(), "cancellations failed: {cancelled:?}");
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT COUNT(*) AS n FROM courses
                      WHERE status = 'cancelled' AND id IN ({id_list})"
                )
            ),
            AT_ONCE as i64
        );
        assert_eq!(report_cells::marked_tails(&mut conn).unwrap(), years);

        // Bookings declined in bulk after their people answered, one request per course, for
        // 16 more courses at once: each request stops counting the responses of bookings from
        // many schools.
        report_cells::refresh_all(&mut conn, reading_time(), 50, |_| {}).unwrap();
        let more = busiest_courses(&mut conn, &ids);
        let declined_years = count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT DISTINCT r.course_year, r.school_id
                   FROM evaluation_responses r JOIN bookings b ON b.id = r.booking_id
                  WHERE r.counted AND r.course_year IS NOT NULL
                    AND r.course_id IN ({more})
                    AND b.status IN ('confirmed', 'waitlisted', 'pending_approval')) k",
                more = sql_list(&more),
            ),
        );
        assert!(declined_years > 10, "{declined_years}");
        // Each course's answered bookings still active.
        let bookings: Vec<Vec<String>> = more
            .iter()
            .map(|course| {
                diesel::sql_query(
                    "SELECT DISTINCT r.booking_id AS id FROM evaluation_responses r
                       JOIN bookings b ON b.id = r.booking_id
                      WHERE r.counted AND r.course_id = $1
                        AND b.status IN ('confirmed', 'waitlisted', 'pending_approval')",
                )
                .bind::<diesel::sql_types::Text, _>(course)
                .load::<Id>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
            })
            .collect();
        let declined: usize = bookings.iter().map(Vec::len).sum();
        assert!(declined > 50, "{declined}");
        let failed = at_once(db.url(), bookings, |c, bookings| {
            let ctx = cpd_hub::store::bookings::Ctx {
                actor_id: None,
                now: reading_time(),
                base_url: "http://127.0.0.1",
            };
            cpd_hub::store::bookings::decline(c, ctx, &bookings, Some("Withdrawn."), None)
                .map_err(|e| format!("{e:?}"))
        });
        assert!(failed.is_empty(), "declines failed: {failed:?}");
        assert_eq!(
            report_cells::marked_tails(&mut conn).unwrap(),
            declined_years
        );
    })
    .await
    .expect("the changes finished");
}

/// How many changes `changed_at_once` makes at once.
const AT_ONCE: usize = 16;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The `AT_ONCE` courses with the most counted responses, leaving out `except`.
fn busiest_courses(conn: &mut DbConn, except: &[String]) -> Vec<String> {
    let except = if except.is_empty() {
        String::new()
    } else {
        format!("AND r.course_id NOT IN ({})", sql_list(except))
    };
    let ids: Vec<String> = diesel::sql_query(format!(
        "SELECT r.course_id AS id FROM evaluation_responses r
          WHERE r.counted AND r.course_year IS NOT NULL {except}
          GROUP BY r.course_id ORDER BY COUNT(*) DESC, r.course_id LIMIT {AT_ONCE}"
    ))
    .load::<Id>(conn)
    .unwrap()
    .into_iter()
    .map(|r| r.id)
    .collect();
    assert_eq!(ids.len(), AT_ONCE);
    ids
}

/// Moves a session a year later through `store::courses::update_session`, as a change to it
/// through the API does (by no one: `None`).
fn move_a_year(conn: &mut DbConn, session: String) -> Result<(), String> {
    let (start, end) = course_sessions::table
        .find(&session)
        .select((course_sessions::start_at, course_sessions::end_at))
        .get_result::<(NaiveDateTime, NaiveDateTime)>(conn)
        .map_err(|e| e.to_string())?;
    let year = chrono::Months::new(12);
    cpd_hub::store::courses::update_session(
        conn,
        None,
        "http://127.0.0.1",
        &session,
        cpd_hub::store::courses::SessionPatch {
            start: Some(start + year),
            end: Some(end + year),
            ..Default::default()
        },
    )
    .map(|_| ())
    .map_err(|e| format!("{e:?}"))
}

/// Ids the seed made (UUIDs), quoted for an SQL list.
fn sql_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `change` on each of `items` at once, each on its own connection to `url`, all
/// released together; the failures.
fn at_once<I: Send + 'static, T: 'static>(
    url: &str,
    items: Vec<I>,
    change: fn(&mut DbConn, I) -> Result<T, String>,
) -> Vec<String> {
    let start = Arc::new(std::sync::Barrier::new(items.len()));
    let threads: Vec<_> = items
        .into_iter()
        .map(|item| {
            let (url, start) = (url.to_string(), start.clone());
            std::thread::spawn(move || {
                let mut c = cpd_hub::db::Manager::new(&url).unwrap().open().unwrap();
                start.wait();
                change(&mut c, item).err()
            })
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect()
}

crate::each_backend!(
    courses_moved_cancelled_or_declined_at_once_all_succeed_and_mark_their_schools,
    changed_at_once
);

/// Marks `id` changed, as the triggers do when a booking is made on it.
fn mark_as_booked(conn: &mut DbConn, id: &str) {
    diesel::sql_query(
        "INSERT INTO report_dirty (course_id, version) VALUES ($1, 1)
         ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1",
    )
    .bind::<diesel::sql_types::Text, _>(id)
    .execute(conn)
    .unwrap();
}

/// The refresher's pass sums each course marked when it starts once, in batches, even while
/// bookings mark the courses it has just summed again: those wait for the next pass, so a pass
/// ends however busy the service is, and the courses later in the order are not kept waiting
/// behind the busy ones.
async fn one_pass_each(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        let Some((_db, mut conn)) = seeded_db(backend) else {
            return;
        };
        let conn = &mut conn;
        let now = crate::national::default_as_of();
        assert_eq!(
            report_cells::marked(conn).unwrap(),
            0,
            "the seed summed all"
        );
        let ids: Vec<String> = diesel::sql_query(
            "SELECT course_id AS id FROM report_courses ORDER BY course_id LIMIT 5",
        )
        .load::<Id>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
        assert_eq!(ids.len(), 5);
        for id in &ids {
            mark_as_booked(conn, id);
        }
        assert_eq!(report_cells::marked(conn).unwrap(), 5);

        let mut pass = report_cells::Pass::new();
        let mut batches = 0;
        while !pass.ended() {
            let before = pass.summed;
            pass.next(conn, now, 2).unwrap();
            batches += 1;
            assert!(
                batches <= 3,
                "the pass ends after the courses marked at its start"
            );
            // Bookings come in for the courses just summed.
            let summed_now = &ids[before..pass.summed];
            assert_eq!(summed_now.len(), if batches < 3 { 2 } else { 1 });
            for id in summed_now {
                mark_as_booked(conn, id);
            }
        }
        assert_eq!((batches, pass.summed), (3, 5));
        assert_eq!(
            report_cells::marked(conn).unwrap(),
            5,
            "each course booked again after it was summed waits for the next pass"
        );

        // The next pass: four courses in two full batches, then an empty one that ends it.
        mark_as_booked(conn, &ids[0]);
        let mut pass = report_cells::Pass::new();
        let mut batches = 0;
        while !pass.ended() {
            pass.next(conn, now, 5).unwrap();
            batches += 1;
        }
        assert_eq!((batches, pass.summed), (2, 5));
        assert_eq!(report_cells::marked(conn).unwrap(), 0);

        // The cells read as the bookings do.
        let q = ReportQuery {
            from: date(2020, 9, 1),
            to: date(2030, 8, 31),
            group_by: GroupBy::School,
            then_by: None,
            now,
            min_responses: 5,
        };
        same_report(
            &engagement_by(conn, None, &q, ReportScope::All, Method::Cells).unwrap(),
            &engagement_by(conn, None, &q, ReportScope::All, Method::Bookings).unwrap(),
            || "after two passes".to_string(),
        );
    })
    .await
    .unwrap();
}
crate::each_backend!(
    a_pass_sums_each_marked_course_once_while_bookings_mark_them_again,
    one_pass_each
);

/// A course is marked while its version is above the version summed, and raising the version
/// of a course already marked changes no indexed column: on PostgreSQL each such raise (one per
/// booking) is written in place, a heap-only update with no new index entry. Summing it clears
/// the mark, and the refresher finds the marked courses through the partial index.
async fn marks_in_place(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        let Some((_db, mut conn)) = crate::helpers::migrated_db(backend) else {
            return;
        };
        let conn = &mut conn;
        let marked = |conn: &mut DbConn| {
            count(
                conn,
                "SELECT COUNT(*) AS n FROM report_dirty WHERE marked AND course_id = 'c-in-place'",
            )
        };
        mark_as_booked(conn, "c-in-place");
        assert_eq!(marked(conn), 1, "a new mark is marked");

        let pg = matches!(conn, DbConn::Pg(_));
        // PostgreSQL: this transaction's own update counts, read before it ends (SQLite has no
        // such thing, and no heap-only updates to count).
        let counts = cpd_hub::db::write_tx(conn, |conn| {
            for _ in 0..3 {
                mark_as_booked(conn, "c-in-place");
            }
            Ok::<_, diesel::result::Error>(pg.then(|| {
                (
                    count(
                        conn,
                        "SELECT pg_stat_get_xact_tuples_updated('report_dirty'::regclass) AS n",
                    ),
                    count(
                        conn,
                        "SELECT pg_stat_get_xact_tuples_hot_updated('report_dirty'::regclass) AS n",
                    ),
                )
            }))
        })
        .unwrap();
        if let Some((updated, in_place)) = counts {
            assert_eq!(
                (updated, in_place),
                (3, 3),
                "each raise of a marked course is written in place"
            );
        }
        assert_eq!(marked(conn), 1);

        diesel::sql_query(
            "UPDATE report_dirty SET summed_version = version WHERE course_id = 'c-in-place'",
        )
        .execute(conn)
        .unwrap();
        assert_eq!(marked(conn), 0, "summed, it is no longer marked");
        mark_as_booked(conn, "c-in-place");
        assert_eq!(marked(conn), 1, "booked again, it is marked again");

        if !pg {
            #[derive(QueryableByName)]
            struct Plan {
                #[diesel(sql_type = diesel::sql_types::Text)]
                detail: String,
            }
            let plan: Vec<Plan> = diesel::sql_query(
                "EXPLAIN QUERY PLAN SELECT course_id FROM report_dirty WHERE marked \
                 ORDER BY course_id",
            )
            .load(conn)
            .unwrap();
            assert!(
                plan.iter()
                    .any(|p| p.detail.contains("USING INDEX report_dirty_marked")),
                "{:?}",
                plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
            );
        }
    })
    .await
    .unwrap();
}
crate::each_backend!(
    a_raise_of_a_marked_course_is_written_in_place,
    marks_in_place
);

/// A report split over two connections (`engagement_with_helper`) reads one state of the
/// database on both: a change committed after the report's snapshot was taken is seen by
/// neither, and the helper's transaction is over when the work is.
async fn one_snapshot_on_two_connections(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        let Some((db, mut conn)) = crate::helpers::migrated_db(backend) else {
            return;
        };
        let clusters = |c: &mut DbConn| count(c, "SELECT COUNT(*) AS n FROM clusters");
        let Some(mut helper) = crate::helpers::second_connection(&mut conn) else {
            // SQLite cannot share a snapshot between connections: the work stays on one.
            let mut other = cpd_hub::db::Manager::new(db.url()).unwrap().open().unwrap();
            let shared = cpd_hub::db::snapshot_tx(&mut conn, |conn| {
                cpd_hub::db::with_shared_snapshot(conn, &mut other, |_, _| Ok(()))
            });
            assert!(matches!(shared, Ok(None)), "{shared:?}");
            return;
        };
        let mut writer = crate::helpers::second_connection(&mut conn).unwrap();
        let before = clusters(&mut conn);
        let seen = cpd_hub::db::snapshot_tx(&mut conn, |conn| {
            // The snapshot is taken at the transaction's first read.
            assert_eq!(clusters(conn), before);
            diesel::sql_query(
                "INSERT INTO clusters (id, name, description, created_at, updated_at)
                 VALUES ('c-later', 'Later', '', now(), now())",
            )
            .execute(&mut writer)
            .unwrap();
            assert_eq!(clusters(&mut writer), before + 1);
            cpd_hub::db::with_shared_snapshot(conn, &mut helper, |conn, helper| {
                Ok((clusters(conn), clusters(helper)))
            })
        })
        .unwrap();
        assert_eq!(seen, Some((before, before)));
        // Out of the shared snapshot, the helper sees what has been committed.
        assert_eq!(clusters(&mut helper), before + 1);
        // A failure on the helper ends its transaction too, and is the caller's error.
        let failed = cpd_hub::db::snapshot_tx(&mut conn, |conn| {
            cpd_hub::db::with_shared_snapshot(conn, &mut helper, |_, helper| {
                diesel::sql_query("SELECT no_such_column FROM clusters").execute(helper)
            })
        });
        assert!(failed.is_err());
        assert_eq!(clusters(&mut helper), before + 1);
    })
    .await
    .expect("the snapshot check finished");
}

crate::each_backend!(
    a_report_on_two_connections_reads_one_snapshot,
    one_snapshot_on_two_connections
);

/// The second connection only lends a hand: one that fails in its work, or whose server
/// process has ended so that it cannot take the snapshot, leaves the report as it is on one
/// connection (the year earlier is then worked out on the first).
async fn a_failing_helper(backend: Backend) {
    on_a_seeded_db(backend, |conn| {
        let Some(mut helper) = crate::helpers::second_connection(conn) else {
            return;
        };
        let q = ReportQuery {
            from: date(2025, 9, 1),
            to: date(2026, 8, 31),
            group_by: GroupBy::Cluster,
            then_by: Some(GroupBy::StaffGroup),
            now: reading_time(),
            min_responses: 5,
        };
        let report = |conn: &mut DbConn, helper: Option<&mut DbConn>| {
            let r = engagement_by(conn, helper, &q, ReportScope::All, Method::Cells).unwrap();
            serde_json::to_value(r).unwrap()
        };
        let alone = report(conn, None);
        assert_ne!(alone["previous"]["totals"]["bookings"], 0);
        // Work that fails on the helper: it finds none of the tables.
        diesel::sql_query("SET search_path = nowhere")
            .execute(&mut helper)
            .unwrap();
        same(&report(conn, Some(&mut helper)), &alone, "helper failing");
        // A helper whose server process has ended.
        let pid = count(&mut helper, "SELECT CAST(pg_backend_pid() AS BIGINT) AS n");
        count(
            conn,
            &format!("SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend({pid})) t"),
        );
        let gone = format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = {pid}");
        for _ in 0..100 {
            if count(conn, &gone) == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(count(conn, &gone), 0);
        same(
            &report(conn, Some(&mut helper)),
            &alone,
            "helper's connection lost",
        );
    })
    .await
}

crate::each_backend!(
    a_report_goes_on_when_its_second_connection_fails,
    a_failing_helper
);

/// Two reads side by side (`db::side_by_side`, the dashboard's two impact reports): each
/// answers as it would alone, and the second is made again on the first connection when the
/// helper fails.
async fn reads_side_by_side(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        let Some((_db, mut conn)) = crate::helpers::migrated_db(backend) else {
            return;
        };
        let read = |c: &mut DbConn| try_count(c, "SELECT COUNT(*) AS n FROM priorities");
        let alone = read(&mut conn).unwrap();
        assert!(alone > 0, "the default priorities are there");
        let both = cpd_hub::db::side_by_side(&mut conn, None, read, read).unwrap();
        assert_eq!(both, (alone, alone));
        let Some(mut helper) = crate::helpers::second_connection(&mut conn) else {
            return;
        };
        let both = cpd_hub::db::side_by_side(&mut conn, Some(&mut helper), read, read).unwrap();
        assert_eq!(both, (alone, alone));
        // A helper that finds no tables: the second read is made on the first connection.
        diesel::sql_query("SET search_path = nowhere")
            .execute(&mut helper)
            .unwrap();
        assert!(read(&mut helper).is_err());
        let both = cpd_hub::db::side_by_side(&mut conn, Some(&mut helper), read, read).unwrap();
        assert_eq!(both, (alone, alone));
        // The first connection's own failure is the caller's error.
        let failed = cpd_hub::db::side_by_side(
            &mut conn,
            None,
            |c| diesel::sql_query("SELECT no_such_column FROM priorities").execute(c),
            read,
        );
        assert!(failed.is_err());
    })
    .await
    .expect("the side-by-side check finished");
}

crate::each_backend!(two_reads_side_by_side_answer_as_alone, reads_side_by_side);
