//! Each school's tail kept ahead of time (`report_school_tails`, migration
//! `kept_school_tails`): per academic year and kind of response, the school's latest counted
//! responses, packed in one row with what each adds to the figures and how many counted
//! responses the school has; and the same per staff group of each school
//! (`report_school_group_tails`). The released sums of a report by school or cluster (alone,
//! or then by staff group) over one academic year are the cells' sums less each group's tail
//! (`store::reports`); with the tails kept, that report reads one range of these tables
//! instead of looking up every school's tail in the responses' index (tens of thousands of
//! lookups at national size).
//!
//! Triggers mark a school's year in `report_school_tail_marks` in the very transaction that
//! writes or changes one of its counted responses (or stops one being counted, or moves it to
//! another year). [`refresh_tails`] works the marked schools' rows out again a few schools per
//! short write transaction, each taking its mark off only if it is still at the version read,
//! so a change that comes later leaves the mark on. Reports look a marked school's tail up in
//! the responses' index, as they do for any school whose kept rows do not reach far enough.

use super::*;
use diesel::sql_types::Integer;

/// How many of a school's latest counted responses of each kind are kept per academic year:
/// the longest a tail can be at the smallest threshold allowed (`EVALUATION_MIN_RESPONSES`,
/// 5). With a larger threshold, the schools whose tails are longer are looked up in the
/// responses' index instead.
pub const KEPT_TAIL: usize = 4;

/// Marked school-years worked out again per write transaction: each is a handful of
/// statements over one school's responses of one year, writing a row per kind for the school
/// and for each of its staff groups, so a write is meant to stay within
/// [`super::WRITE_BOUND`] on SQLite.
const TAILS_PER_WRITE: usize = 25;

/// A school's year marked for working its tail out again.
#[derive(QueryableByName, Debug, Clone)]
struct TailMark {
    #[diesel(sql_type = Integer)]
    course_year: i32,
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

/// The `SELECT` of what `report_school_tails` (or, `by_group`, `report_school_group_tails`)
/// keeps of the counted responses matching `filter` (a condition on `evaluation_responses r`):
/// per year, school (and staff group) and kind, the latest [`KEPT_TAIL`] by (submitted_at,
/// id), newest first, each with the count of them all, in the order of the table's key. Ids
/// order as bytes, as the reports' tails do.
fn kept_rows_sql(conn: &DbConn, filter: &str, by_group: bool) -> String {
    let id_order = match conn.backend() {
        crate::db::Backend::Postgres => "r.id COLLATE \"C\" DESC",
        crate::db::Backend::Sqlite => "r.id DESC",
    };
    let (group, partition) = if by_group {
        ("COALESCE(r.staff_group_id, '')", "r.staff_group_id, ")
    } else {
        ("''", "")
    };
    format!(
        "SELECT course_year, school_key, staff_group_key, kind, responses, submitted_at, id,
                satisfaction, impact, shift, pairs, g1, g2, g3, g4, g5
           FROM (SELECT r.course_year, COALESCE(r.school_id, '') AS school_key,
                        {group} AS staff_group_key, r.kind,
                        row_number() OVER (PARTITION BY r.course_year, r.school_id, {partition}r.kind
                                           ORDER BY r.submitted_at DESC, {id_order}) AS place,
                        count(*) OVER (PARTITION BY r.course_year, r.school_id, {partition}r.kind) AS responses,
                        r.submitted_at, r.id, r.satisfaction, r.impact, r.confidence_shift AS shift,
                        r.confidence_pairs AS pairs, r.guskey1_answers AS g1,
                        r.guskey2_answers AS g2, r.guskey3_answers AS g3,
                        r.guskey4_answers AS g4, r.guskey5_answers AS g5
                   FROM evaluation_responses r
                  WHERE r.counted AND r.course_year IS NOT NULL AND ({filter})) t
          WHERE place <= {KEPT_TAIL}
          ORDER BY course_year, school_key, staff_group_key, kind, place"
    )
}

/// One counted response as `kept_rows_sql` lists it.
#[derive(QueryableByName)]
struct KeptSource {
    #[diesel(sql_type = Integer)]
    course_year: i32,
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    staff_group_key: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(embed)]
    entry: KeptEntry,
}

/// One response of a kept tail: when it came, its id (which orders responses that came at
/// the same moment) and what it adds to each figure.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptEntry {
    #[diesel(sql_type = Timestamp)]
    pub(crate) submitted_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    pub(crate) id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    pub(crate) satisfaction: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    pub(crate) impact: Option<i32>,
    /// The retrospective confidence shift and its pairs.
    #[diesel(sql_type = Integer)]
    pub(crate) shift: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) pairs: i32,
    /// Answers at each Guskey level.
    #[diesel(sql_type = Integer)]
    pub(crate) g1: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) g2: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) g3: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) g4: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) g5: i32,
}

impl KeptEntry {
    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let opt = |v: Option<i32>| v.map_or(String::new(), |v| v.to_string());
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            self.submitted_at.and_utc().timestamp_micros(),
            self.id,
            opt(self.satisfaction),
            opt(self.impact),
            self.shift,
            self.pairs,
            self.g1,
            self.g2,
            self.g3,
            self.g4,
            self.g5
        );
    }

    /// The entry read in place.
    pub(crate) fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            micros: self.submitted_at.and_utc().timestamp_micros(),
            id: &self.id,
            satisfaction: self.satisfaction,
            impact: self.impact,
            shift: self.shift,
            pairs: self.pairs,
            guskey: [self.g1, self.g2, self.g3, self.g4, self.g5],
        }
    }
}

/// A kept entry read in place, without copying its id: reports read hundreds of thousands of
/// entries to keep a few of each group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryRef<'a> {
    /// When it came, in microseconds since 1970 (UTC).
    pub(crate) micros: i64,
    pub(crate) id: &'a str,
    pub(crate) satisfaction: Option<i32>,
    pub(crate) impact: Option<i32>,
    pub(crate) shift: i32,
    pub(crate) pairs: i32,
    /// Answers at each Guskey level.
    pub(crate) guskey: [i32; 5],
}

impl<'a> EntryRef<'a> {
    /// One packed entry (`KeptEntry::write`); `None` if it cannot be read.
    fn read(s: &'a str) -> Option<EntryRef<'a>> {
        let mut f = s.split(',');
        let mut next = || f.next();
        let micros: i64 = next()?.parse().ok()?;
        // Only times chrono can hold, as `KeptEntry` needs.
        chrono::DateTime::from_timestamp_micros(micros)?;
        let id = next()?;
        let opt = |v: &str| -> Option<Option<i32>> {
            if v.is_empty() {
                Some(None)
            } else {
                v.parse().ok().map(Some)
            }
        };
        let satisfaction = opt(next()?)?;
        let impact = opt(next()?)?;
        let shift = next()?.parse().ok()?;
        let pairs = next()?.parse().ok()?;
        let mut guskey = [0; 5];
        for g in &mut guskey {
            *g = next()?.parse().ok()?;
        }
        Some(EntryRef {
            micros,
            id,
            satisfaction,
            impact,
            shift,
            pairs,
            guskey,
        })
    }

    /// Newest first: later time, then the greater id as bytes (as the indexes order them).
    pub(crate) fn newest_first(a: &EntryRef, b: &EntryRef) -> std::cmp::Ordering {
        (b.micros, b.id.as_bytes()).cmp(&(a.micros, a.id.as_bytes()))
    }
}

/// Adds the first `at_most` entries of a kept row, read in place, to `out` and says how many
/// it added; `None` (and `out` as it was) if the row cannot be read. A report adds the
/// entries of many rows to one list per group, without a list per row.
pub(crate) fn unpack_into<'a>(
    entries: &'a str,
    at_most: usize,
    out: &mut Vec<EntryRef<'a>>,
) -> Option<usize> {
    let before = out.len();
    for e in entries.split(';').filter(|e| !e.is_empty()).take(at_most) {
        match EntryRef::read(e) {
            Some(e) => out.push(e),
            None => {
                out.truncate(before);
                return None;
            }
        }
    }
    Some(out.len() - before)
}

/// A kept row's entries as `report_school_tails.entries` holds them, newest first.
fn pack(entries: &[KeptEntry]) -> String {
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        e.write(&mut out);
    }
    out
}

/// One row to keep.
struct KeptRow {
    course_year: i32,
    school_key: String,
    staff_group_key: String,
    kind: String,
    responses: i64,
    entries: Vec<KeptEntry>,
}

/// The rows to keep, one per year, school (staff group) and kind, from `kept_rows_sql`'s rows
/// in its order.
fn packed(rows: Vec<KeptSource>) -> Vec<KeptRow> {
    let mut out: Vec<KeptRow> = Vec::new();
    for r in rows {
        let entry = r.entry;
        match out.last_mut() {
            Some(last)
                if last.course_year == r.course_year
                    && last.school_key == r.school_key
                    && last.staff_group_key == r.staff_group_key
                    && last.kind == r.kind =>
            {
                last.entries.push(entry)
            }
            _ => out.push(KeptRow {
                course_year: r.course_year,
                school_key: r.school_key,
                staff_group_key: r.staff_group_key,
                kind: r.kind,
                responses: r.responses,
                entries: vec![entry],
            }),
        }
    }
    out
}

/// Works out and writes the kept rows of the responses matching `filter` (with `params`):
/// the schools' and the schools' staff groups'. Returns how many rows it wrote.
fn keep_rows(c: &mut DbConn, filter: &str, params: &[Param]) -> QueryResult<usize> {
    let mut n = 0;
    for by_group in [false, true] {
        let rows: Vec<KeptSource> = load(c, &kept_rows_sql(c, filter, by_group), params)?;
        for row in packed(rows) {
            let mut values = vec![
                Param::Int(i64::from(row.course_year)),
                Param::Text(row.school_key),
                Param::Text(row.kind),
                Param::Int(row.responses),
                Param::Text(pack(&row.entries)),
                // The newest entry's time, as `entries` begins with it.
                Param::OptInt(row.entries.first().map(|e| e.as_ref().micros)),
            ];
            let sql = if by_group {
                values.push(Param::Text(row.staff_group_key));
                "INSERT INTO report_school_group_tails
                        (course_year, school_key, kind, responses, entries, newest,
                         staff_group_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            } else {
                "INSERT INTO report_school_tails
                        (course_year, school_key, kind, responses, entries, newest)
                 VALUES ($1, $2, $3, $4, $5, $6)"
            };
            exec(c, sql, &values)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Marks, in the marks' key order, the years of the schools whose counted responses of
/// `bookings` (each course with its bookings) a change is about to stop counting. Their own
/// triggers then find the marks already held, so two such changes at once take the marks in
/// one order, the refresher's, and cannot deadlock on PostgreSQL (as a course's own change
/// does in migration `course_marks_in_order`). SQLite has one writer at a time: nothing to
/// do there.
pub(crate) fn mark_tails_of_bookings(
    c: &mut DbConn,
    bookings: &[(String, Vec<String>)],
) -> QueryResult<()> {
    if c.backend() == crate::db::Backend::Sqlite || bookings.is_empty() {
        return Ok(());
    }
    let courses: Vec<&str> = bookings.iter().map(|(c, _)| c.as_str()).collect();
    let ids: Vec<&str> = bookings
        .iter()
        .flat_map(|(_, ids)| ids.iter().map(String::as_str))
        .collect();
    let json = |v: &[&str]| Param::Text(serde_json::to_string(v).unwrap_or_default());
    exec(
        c,
        "INSERT INTO report_school_tail_marks (course_year, school_key, version)
         SELECT DISTINCT r.course_year, COALESCE(r.school_id, ''), 1
           FROM evaluation_responses r
          WHERE r.course_id IN (SELECT value FROM json_array_elements_text(CAST($1 AS json)))
            AND r.booking_id IN (SELECT value FROM json_array_elements_text(CAST($2 AS json)))
            AND r.counted AND r.course_year IS NOT NULL
          ORDER BY 1, 2
         ON CONFLICT (course_year, school_key)
         DO UPDATE SET version = report_school_tail_marks.version + 1",
        &[json(&courses), json(&ids)],
    )?;
    Ok(())
}

/// Works every school's kept tail out from scratch and takes every mark off, in one
/// transaction: for loads that write responses with the triggers off (the national seed),
/// after [`super::fill_response_report_columns`]. Returns the rows kept.
pub fn fill_school_tails(conn: &mut DbConn) -> QueryResult<usize> {
    crate::db::write_tx(conn, |c| {
        exec(c, "DELETE FROM report_school_tail_marks", &[])?;
        exec(c, "DELETE FROM report_school_tails", &[])?;
        exec(c, "DELETE FROM report_school_group_tails", &[])?;
        keep_rows(c, "1 = 1", &[])
    })
}

/// School-years marked for working their kept tails out again.
pub fn marked_tails(conn: &mut DbConn) -> QueryResult<i64> {
    count(conn, "SELECT COUNT(*) AS n FROM report_school_tail_marks")
}

/// What [`refresh_tails`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TailsRefreshed {
    /// School-years whose kept tails were worked out again (and unmarked).
    pub(super) kept: usize,
    /// Whether another refresher held PostgreSQL's refresh lock, so nothing was done.
    pub(super) locked: bool,
}

/// Works out again the kept tails of up to `limit` marked school-years, [`TAILS_PER_WRITE`]
/// per write transaction, calling `write` around each (the refresher's timing and
/// checkpoints). Each school-year's mark goes, and its rows are replaced by those its counted
/// responses give now, in one transaction, only if the mark is still at the version read: a
/// change since (a higher version, or a new mark after another refresher took it off) keeps
/// it marked for next time.
pub(super) fn refresh_tails(
    conn: &mut DbConn,
    limit: usize,
    mut write: impl FnMut(
        &mut DbConn,
        &mut dyn FnMut(&mut DbConn) -> QueryResult<bool>,
    ) -> QueryResult<Option<bool>>,
) -> QueryResult<TailsRefreshed> {
    let mut done = TailsRefreshed::default();
    let marks: Vec<TailMark> = load(
        conn,
        &format!(
            "SELECT course_year, school_key, version FROM report_school_tail_marks
              ORDER BY course_year, school_key LIMIT {limit}"
        ),
        &[],
    )?;
    for chunk in marks.chunks(TAILS_PER_WRITE) {
        let mut kept = 0;
        let outcome = write(conn, &mut |c: &mut DbConn| {
            kept = 0;
            for m in chunk {
                if keep_tail(c, m)? {
                    kept += 1;
                }
            }
            Ok(true)
        })?;
        match outcome {
            Some(true) => done.kept += kept,
            Some(false) => {
                done.locked = true;
                return Ok(done);
            }
            // Out of this run's writes.
            None => return Ok(done),
        }
    }
    Ok(done)
}

/// In the caller's write transaction: takes `m`'s mark off if it is still at the version
/// read, and then replaces the school-year's kept rows. Returns whether it did.
fn keep_tail(c: &mut DbConn, m: &TailMark) -> QueryResult<bool> {
    let key = [
        Param::Int(i64::from(m.course_year)),
        Param::Text(m.school_key.clone()),
    ];
    let mut with_version = key.to_vec();
    with_version.push(Param::Int(m.version));
    let unmarked = exec(
        c,
        "DELETE FROM report_school_tail_marks
          WHERE course_year = $1 AND school_key = $2 AND version = $3",
        &with_version,
    )?;
    if unmarked == 0 {
        return Ok(false);
    }
    for table in ["report_school_tails", "report_school_group_tails"] {
        exec(
            c,
            &format!("DELETE FROM {table} WHERE course_year = $1 AND school_key = $2"),
            &key,
        )?;
    }
    // Responses without a school are kept under the empty key; the others are found by the
    // school's index of counted responses.
    let (school, params): (&str, &[Param]) = if m.school_key.is_empty() {
        ("r.school_id IS NULL", &key[..1])
    } else {
        ("r.school_id = $2", &key)
    };
    keep_rows(c, &format!("r.course_year = $1 AND {school}"), params)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn entry(micros: u32, id: &str, satisfaction: Option<i32>, shift: i32) -> KeptEntry {
        KeptEntry {
            submitted_at: NaiveDate::from_ymd_opt(2026, 3, 29)
                .unwrap()
                .and_hms_micro_opt(0, 59, 59, micros)
                .unwrap(),
            id: id.to_string(),
            satisfaction,
            impact: None,
            shift,
            pairs: 2,
            g1: 1,
            g2: 0,
            g3: 3,
            g4: 0,
            g5: 12,
        }
    }

    /// The first `at_most` entries of a kept row read in place, as a list of their own.
    fn unpack_in_place(entries: &str, at_most: usize) -> Option<Vec<EntryRef<'_>>> {
        let mut out = Vec::new();
        unpack_into(entries, at_most, &mut out)?;
        Some(out)
    }

    #[test]
    fn kept_entries_read_back_as_written() {
        let entries = vec![
            entry(999_999, "0b9c6a52-1f0e-4c1e-9d0b-6f1f3f8a2c11", Some(5), -3),
            entry(0, "ffffffff-0000-4000-8000-000000000000", None, 0),
            entry(1, "a", Some(1), 7),
        ];
        let packed = pack(&entries);
        // Read in place, the same entries.
        let owned: Vec<EntryRef> = entries.iter().map(KeptEntry::as_ref).collect();
        assert_eq!(unpack_in_place(&packed, 10), Some(owned.clone()));
        assert_eq!(unpack_in_place(&packed, 2), Some(owned[..2].to_vec()));
        assert_eq!(unpack_in_place(&packed, 1), Some(owned[..1].to_vec()));
        assert_eq!(unpack_in_place("", 4), Some(Vec::new()));
        // A row that cannot be read is answered for by the index instead.
        assert_eq!(unpack_in_place("12,abc", 4), None);
        assert_eq!(unpack_in_place(&packed.replace(",-3,", ",x,"), 4), None);
        // A row read into a list that cannot be read leaves the list as it was.
        let mut list = vec![owned[0]];
        let bad = packed.replace(",-3,", ",x,");
        assert_eq!(unpack_into(&bad, 4, &mut list), None);
        assert_eq!(list, [owned[0]]);
        assert_eq!(unpack_into(&packed, 2, &mut list), Some(2));
        assert_eq!(list.len(), 3);
        // Newest first: the later time, then the greater id.
        let mut sorted = owned.clone();
        sorted.sort_by(EntryRef::newest_first);
        let ids: Vec<&str> = sorted.iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            [
                "0b9c6a52-1f0e-4c1e-9d0b-6f1f3f8a2c11",
                "a",
                "ffffffff-0000-4000-8000-000000000000"
            ]
        );
    }
}
