//! A course too large for one write: its facts move a range of its schools per write
//! transaction, the course staying marked until the last.

use super::*;

/// How one write transaction of a split move ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// It did its part.
    Moved,
    /// The course's mark changed since its sums were read (a change came after, or another
    /// refresher summed it), or this run is out of writes: nothing written; the course keeps
    /// its mark unless another refresher summed it.
    Abandoned,
    /// Another refresher holds PostgreSQL's refresh lock: nothing written.
    Locked,
}

#[derive(QueryableByName)]
struct KeyRows {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `f.school_key` within `[lo, hi)` (either end open when `None`) as SQL with placeholders
/// from `$first`, and its parameters.
fn key_range(
    column: &str,
    range: &(Option<String>, Option<String>),
    first: usize,
) -> (String, Vec<Param>) {
    let mut sql = String::new();
    let mut params = Vec::new();
    if let Some(lo) = &range.0 {
        sql.push_str(&format!(" AND {column} >= ${}", first + params.len()));
        params.push(Param::Text(lo.clone()));
    }
    if let Some(hi) = &range.1 {
        sql.push_str(&format!(" AND {column} < ${}", first + params.len()));
        params.push(Param::Text(hi.clone()));
    }
    (sql, params)
}

/// Moves one course with more facts rows than one write may move (`rows_per_write`, counting
/// the rows taken out and those put in) from its old facts to those in the scratch tables, in
/// several short write transactions, each for a range of schools.
///
/// Why reports stay exact part-way: the course keeps its mark in `report_dirty` until the
/// last of these transactions, so every report takes the course out of the cells (by
/// subtracting its rows of `report_facts` at its course row's month) and works it out live;
/// and each transaction keeps the cells equal to the sum of `report_facts` at the course
/// row's month (it moves a range's old rows out of the cells and its new rows in, together),
/// so what reports subtract is exactly what the cells hold, whether the course is half moved
/// or not. When the course's month changes (its first session moved) or it stops being summed
/// (no longer published), its old rows go out first, a range at a time, then its course row
/// takes the new month, then the new rows go in. The last transaction writes the course row's
/// totals and takes the mark off, only if no change came after the sums were read.
///
/// Each transaction first checks that the mark is still the one read: if it is not, the
/// sums read are out of date (or another refresher has done this course), and the move stops
/// with the cells still consistent, to be done again from fresh sums.
pub(super) fn split_course(
    conn: &mut DbConn,
    m: &Marked,
    now: NaiveDateTime,
    rows_per_write: usize,
    max_writes: usize,
    cp: &mut Checkpoints,
    done: &mut Refreshed,
) -> QueryResult<Step> {
    let id = Param::Text(m.course_id.clone());
    let spans: Vec<Span> = load(
        conn,
        "SELECT id, first_start, prev_start, next_start FROM report_refresh_spans WHERE id = $1",
        std::slice::from_ref(&id),
    )?;
    let span = spans.into_iter().next();
    let months: Vec<Month> = load(
        conn,
        "SELECT month FROM report_courses WHERE course_id = $1",
        std::slice::from_ref(&id),
    )?;
    let old_month = months.first().map(|m| i64::from(m.month));
    let new_month = span.as_ref().map(|s| month_of(s.first_start));
    let keys: Vec<KeyRows> = load(
        conn,
        "SELECT school_key, COUNT(*) AS n FROM (
             SELECT school_key FROM report_facts WHERE course_id = $1
             UNION ALL
             SELECT school_key FROM report_refresh_facts WHERE course_id = $1) k
          GROUP BY school_key ORDER BY school_key",
        std::slice::from_ref(&id),
    )?;
    // Ranges of schools of at most `rows_per_write` rows (unless one school has more); the
    // first and last are open-ended, so together they hold every school key there is.
    let mut bounds: Vec<Option<String>> = vec![None];
    let mut rows = 0;
    for k in keys {
        let n = k.n as usize;
        if rows > 0 && rows + n > rows_per_write {
            bounds.push(Some(k.school_key));
            rows = 0;
        }
        rows += n;
    }
    bounds.push(None);
    let ranges: Vec<(Option<String>, Option<String>)> = bounds
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect();

    let mut write =
        |conn: &mut DbConn, part: &dyn Fn(&mut DbConn) -> QueryResult<()>| -> QueryResult<Step> {
            if done.writes >= max_writes {
                // Out of this run's writes: the course keeps its mark.
                return Ok(Step::Abandoned);
            }
            let write = |c: &mut DbConn| -> QueryResult<Step> {
                if !refresh_lock(c)? {
                    return Ok(Step::Locked);
                }
                if still_marked(c, &[m])?.is_empty() {
                    return Ok(Step::Abandoned);
                }
                part(c)?;
                // Cells a range leaves with no bookings go, as after a whole move.
                let months: Vec<Month> = load(
                    c,
                    "SELECT month FROM report_courses WHERE course_id = $1",
                    &[Param::Text(m.course_id.clone())],
                )?;
                tidy(c, months.into_iter().map(|m| i64::from(m.month)).collect())?;
                Ok(Step::Moved)
            };
            timed_write(conn, cp, done, write, |step| *step == Step::Moved)
        };
    // A range's old rows out of the cells and out of `report_facts`; and, with `put_in`, its
    // new rows into both.
    let move_range = |c: &mut DbConn,
                      range: &(Option<String>, Option<String>),
                      put_in: bool|
     -> QueryResult<()> {
        let (cond, mut params) = key_range("school_key", range, 2);
        params.insert(0, Param::Text(m.course_id.clone()));
        let facts = format!(
            "f.course_id = $1{}",
            cond.replace("school_key", "f.school_key")
        );
        // A range's condition is one of four forms (open at either end or neither): its
        // statements are kept prepared.
        move_cells(c, &facts, &params, "-", exec_kept)?;
        exec_kept(
            c,
            &format!("DELETE FROM report_facts WHERE course_id = $1{cond}"),
            &params,
        )?;
        if put_in {
            exec_kept(
                c,
                &format!(
                    "INSERT INTO report_facts (course_id, school_key, staff_group_key, cluster_key, {cols})
                     SELECT course_id, school_key, staff_group_key, cluster_key, {cols}
                       FROM report_refresh_facts WHERE course_id = $1{cond}",
                    cols = column_list(""),
                ),
                &params,
            )?;
            move_cells(c, &facts, &params, "", exec_kept)?;
        }
        Ok(())
    };

    if old_month.is_some() && old_month != new_month {
        // The old rows out at the old month, a range at a time...
        for range in &ranges {
            let step = write(conn, &|c| move_range(c, range, false))?;
            if step != Step::Moved {
                return Ok(step);
            }
        }
    }
    if span.is_some() && old_month != new_month {
        // ...then the course row at its new month, holding nothing yet (any rows left are
        // taken out first, so the cells still match).
        let step = write(conn, &|c| {
            take_out_course(c, &id)?;
            exec_kept(
                c,
                "DELETE FROM report_courses WHERE course_id = $1",
                std::slice::from_ref(&id),
            )?;
            put_course_row(c, span.as_ref().expect("checked above"), now).map(|_| ())
        })?;
        if step != Step::Moved {
            return Ok(step);
        }
    }
    if span.is_some() {
        for range in &ranges {
            let step = write(conn, &|c| move_range(c, range, true))?;
            if step != Step::Moved {
                return Ok(step);
            }
        }
    }
    // The course row's totals and sessions, and the mark off.
    let old_month = old_month.filter(|o| Some(*o) != new_month);
    write(conn, &|c| {
        if span.is_none() {
            // No longer summed: anything left goes out with the course row.
            take_out_course(c, &id)?;
        }
        exec_kept(
            c,
            "DELETE FROM report_courses WHERE course_id = $1",
            std::slice::from_ref(&id),
        )?;
        if let Some(span) = &span {
            put_course_row(c, span, now)?;
        }
        tidy(c, old_month.into_iter().collect())?;
        unmark(c, m)?;
        Ok(())
    })
}
