//! The schools' and their staff groups' kept tails (`report_cells::tails`) as a report reads
//! them: the rows that can answer for a unit, and, for a cluster or a pair of a cluster and a
//! staff group, only the rows whose newest times can hold its tail.

use super::*;

/// A kept row of a school's tail (`report_school_tails`).
#[derive(QueryableByName)]
struct KeptRow {
    #[diesel(sql_type = Text)]
    school_key: String,
    /// The index into `KINDS` (`KIND_INDEX`).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(sql_type = Text)]
    entries: String,
}

/// A school's kept rows, per kind: the count of counted responses and the packed entries.
type SchoolRows = [Option<(i64, String)>; 2];

/// The kept rows of a year's schools that a report reads (`report_cells::tails`): per
/// school, per kind, the count of counted responses and the packed entries, newest first;
/// and the schools marked since their rows were worked out, whose rows may be out of date.
pub(super) struct KeptSchools {
    marked: FastSet<String>,
    rows: FastMap<String, SchoolRows>,
}

/// Reads the kept rows of academic year `year` for a report: with `own` (the report is by
/// school, and each school asks for its own tail), only the rows of schools with a tail; with
/// `clusters` (by cluster: each cluster's tail lengths and schools), only the rows that can
/// hold their cluster's tail; otherwise every row of the year.
pub(super) fn load_kept_schools(
    conn: &mut DbConn,
    year: i32,
    t: Threshold,
    own: bool,
    clusters: Option<&Groups>,
) -> QueryResult<KeptSchools> {
    let params = [Param::Int(i64::from(year)), Param::Int(i64::from(t.get()))];
    let marked = marked_schools(conn, year)?;
    let loaded: Vec<KeptRow> = match clusters {
        Some(groups) => newest_school_rows(conn, year, groups, &marked)?,
        None => load(
            conn,
            &format!(
                "SELECT t.school_key, {KIND_INDEX}, t.responses, t.entries
                   FROM report_school_tails t
                  WHERE t.course_year = $1{}",
                if own { " AND t.responses % $2 > 0" } else { "" }
            ),
            if own { &params } else { &params[..1] },
        )?,
    };
    let mut rows: FastMap<String, SchoolRows> = FastMap::default();
    rows.reserve(loaded.len());
    for r in loaded {
        let key = if r.school_key.is_empty() {
            NONE_KEY.to_string()
        } else {
            r.school_key
        };
        let i = usize::from(r.kind != 0);
        rows.entry(key).or_default()[i] = Some((r.responses, r.entries));
    }
    Ok(KeptSchools { marked, rows })
}

/// The tails of the schools of `units` as far as the kept rows answer for them, per school
/// and kind (entries borrowed from `kept`, newest first), and the units left to look up in
/// the responses' index: the schools marked since their rows were worked out, and those
/// whose kept rows do not reach as deep as asked (a threshold above the smallest) or cannot
/// be read. With `own` (the report is by school), a school whose kept count of responses is
/// not the cells' is looked up too. With `by_cluster`, a school whose rows were not read
/// holds nothing of its cluster's tail.
pub(super) fn kept_school_tails<'a, 'k, C: Figures>(
    kept: &'k KeptSchools,
    units: Units<'a>,
    own: Option<&BTreeMap<String, C>>,
    by_cluster: bool,
) -> (FastMap<&'a str, [Vec<EntryRef<'k>>; 2]>, Units<'a>) {
    let mut lists: FastMap<&str, [Vec<EntryRef<'k>>; 2]> = FastMap::default();
    lists.reserve(units.len());
    let mut left = Vec::new();
    for (u, d) in units {
        let Some(rows) = kept.unmarked_rows(u) else {
            left.push((u, d));
            continue;
        };
        let rows = match rows {
            Some(rows) => rows,
            // By cluster, a school whose rows were not read cannot hold its cluster's tail.
            None if by_cluster => continue,
            None => &NO_ROWS,
        };
        // The kept count is the cells' for a school nothing has marked since; a difference
        // would mean rows out of date, which the index answers for.
        let cells = own.and_then(|o| o.get(u)).map(|c| c.responses());
        let mut unit_lists = Default::default();
        if unit_tails(rows, d, cells, &mut unit_lists) {
            lists.insert(u, unit_lists);
        } else {
            left.push((u, d));
        }
    }
    (lists, left)
}

/// A school's kept rows when none were read: none counted.
const NO_ROWS: SchoolRows = [None, None];

impl KeptSchools {
    /// The kept rows of `school` (`NONE_KEY` for responses without a school), if nothing has
    /// marked it since they were worked out: `Some(None)` where none were read, `None` where
    /// it is marked and only the responses' index can answer for it.
    fn unmarked_rows(&self, school: &str) -> Option<Option<&SchoolRows>> {
        let key = if school == NONE_KEY { "" } else { school };
        (!self.marked.contains(key)).then(|| self.rows.get(school))
    }

    /// One school's tail of each kind, `d` deep, into `lists` (emptied first, entries newest
    /// first, borrowed from the kept rows), as [`kept_school_tails`] reads it for a report by
    /// school whose cells count `cells` responses of each kind for the school; `false` where
    /// the kept rows cannot answer for it (marked, out of date or not deep enough) and the
    /// responses' index must.
    pub(super) fn school_tail<'k>(
        &'k self,
        school: &str,
        d: [usize; 2],
        cells: [i64; 2],
        lists: &mut [Vec<EntryRef<'k>>; 2],
    ) -> bool {
        match self.unmarked_rows(school) {
            Some(rows) => unit_tails(rows.unwrap_or(&NO_ROWS), d, Some(cells), lists),
            None => false,
        }
    }
}

/// The kept school rows of academic year `year` that can hold their cluster's tail (`groups`:
/// each cluster's tail lengths and schools, `NONE_KEY` for responses without a school), read
/// as `pair_rows` reads a cluster's pairs: every row's newest time first (on PostgreSQL from
/// the key's index alone), then in full only the schools with a row among their cluster's
/// `d` newest of its kind, ties kept, or whose newest time is not known. A school left out
/// holds nothing among its cluster's latest; marked schools are left out here and looked up.
fn newest_school_rows(
    conn: &mut DbConn,
    year: i32,
    groups: &Groups,
    marked: &FastSet<String>,
) -> QueryResult<Vec<KeptRow>> {
    let year_param = Param::Int(i64::from(year));
    let heads: Vec<KeptSchoolHead> = load(
        conn,
        &format!(
            "SELECT school_key, {KIND_INDEX}, newest
               FROM report_school_tails WHERE course_year = $1"
        ),
        std::slice::from_ref(&year_param),
    )?;
    // Each school's cluster, by number, and the cluster's tail lengths (schools as kept: ''
    // for none).
    let mut cluster_of: FastMap<&str, (usize, [usize; 2])> = FastMap::default();
    for (number, (lens, schools)) in groups.values().enumerate() {
        for school in schools {
            let key = if school == NONE_KEY {
                ""
            } else {
                school.as_str()
            };
            cluster_of.insert(key, (number, *lens));
        }
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for (row, h) in heads.iter().enumerate() {
        if marked.contains(&h.school_key) {
            continue;
        }
        let Some(&(number, lens)) = cluster_of.get(h.school_key.as_str()) else {
            continue;
        };
        let i = usize::from(h.kind != 0);
        if lens[i] > 0 {
            candidates.push(Candidate {
                row,
                tail: 2 * number + i,
                d: lens[i],
                newest: h.newest,
            });
        }
    }
    let mut wanted: Vec<&str> = newest_rows(&candidates, 2 * groups.len())
        .map(|c| heads[c.row].school_key.as_str())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // Each school as `[key]`, as `json_elements` lists them.
    let wanted: Vec<[&str; 1]> = wanted.into_iter().map(|w| [w]).collect();
    let json = Param::Text(serde_json::to_string(&wanted).unwrap_or_default());
    // Both kinds of each school wanted, by primary key.
    let sql = format!(
        "SELECT t.school_key, {KIND_INDEX}, t.responses, t.entries
           FROM {elements} u
           JOIN report_school_tails t ON t.course_year = $2 AND t.school_key = u.value->>0",
        elements = json_elements(conn.backend()),
    );
    load(conn, &sql, &[json, year_param])
}

/// The head of a kept row of one school: which it is, and its newest entry's time.
#[derive(QueryableByName)]
struct KeptSchoolHead {
    #[diesel(sql_type = Text)]
    school_key: String,
    /// The index into `KINDS`.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    /// In microseconds; `None` where it was not known when the row was kept.
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    newest: Option<i64>,
}

/// A kept row that may hold its tail: the row (its place in the heads read), its tail (a
/// cluster's or a pair's number and kind, as `2 * number + kind`), the tail's length `d` and
/// the row's newest time (`None`: not known).
pub(super) struct Candidate {
    pub(super) row: usize,
    pub(super) tail: usize,
    pub(super) d: usize,
    pub(super) newest: Option<i64>,
}

/// The candidates that can hold their tail (each below `tails`): the rows whose newest time
/// is among the `d` newest of their tail's rows, ties kept, and every row whose newest time
/// is not known.
pub(super) fn newest_rows(
    candidates: &[Candidate],
    tails: usize,
) -> impl Iterator<Item = &Candidate> {
    // Per tail, its `d` newest rows' newest times, newest first.
    let mut tops: Vec<Vec<i64>> = vec![Vec::new(); tails];
    for c in candidates {
        let Some(m) = c.newest else { continue };
        let top = &mut tops[c.tail];
        if top.len() < c.d || top.last().is_some_and(|&last| m > last) {
            let at = top.partition_point(|&t| t >= m);
            top.insert(at, m);
            top.truncate(c.d);
        }
    }
    candidates.iter().filter(move |c| match c.newest {
        None => true,
        Some(m) => {
            let top = &tops[c.tail];
            top.len() < c.d || top.last().is_some_and(|&last| m >= last)
        }
    })
}

/// A unit's tail of each kind, as deep as `d` asks, from its kept rows (per kind, the count
/// of counted responses and the packed entries; none kept: none counted), borrowed from them
/// into `lists` (emptied first); `false` where they cannot answer for it: unreadable, not as
/// deep as asked while the unit has more responses, or a count that is not the cells'
/// (`cells`, when known).
fn unit_tails<'k>(
    rows: &'k SchoolRows,
    d: [usize; 2],
    cells: Option<[i64; 2]>,
    lists: &mut [Vec<EntryRef<'k>>; 2],
) -> bool {
    for list in lists.iter_mut() {
        list.clear();
    }
    for i in 0..2 {
        if d[i] == 0 {
            continue;
        }
        let (responses, entries) = match &rows[i] {
            Some((n, e)) => (*n, e.as_str()),
            None => (0, ""),
        };
        let Some(read) = unpack_into(entries, d[i], &mut lists[i]) else {
            return false;
        };
        if !deep_enough(read, d[i], responses) || cells.is_some_and(|n| n[i] != responses) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairs_newest_rows_are_read_and_the_rest_left() {
        let rows = |list: &[(char, usize, Option<i64>)]| {
            let candidates: Vec<Candidate> = list
                .iter()
                .enumerate()
                .map(|(row, &(c, d, newest))| Candidate {
                    row,
                    tail: usize::from(c == 'b'),
                    d,
                    newest,
                })
                .collect();
            let kept: Vec<usize> = newest_rows(&candidates, 2).map(|c| c.row).collect();
            (0..list.len())
                .map(|r| kept.contains(&r))
                .collect::<Vec<_>>()
        };
        // Two deep: the two newest rows, and a row as new as the second.
        assert_eq!(
            rows(&[
                ('a', 2, Some(10)),
                ('a', 2, Some(30)),
                ('a', 2, Some(20)),
                ('a', 2, Some(30))
            ]),
            [false, true, false, true]
        );
        assert_eq!(
            rows(&[
                ('a', 2, Some(30)),
                ('a', 2, Some(20)),
                ('a', 2, Some(20)),
                ('a', 2, Some(10))
            ]),
            [true, true, true, false]
        );
        // Fewer rows than the tail is long: all of them.
        assert_eq!(rows(&[('a', 3, Some(5)), ('a', 3, Some(6))]), [true, true]);
        // A row whose newest time is not known is read, and does not push another out.
        assert_eq!(
            rows(&[('a', 1, None), ('a', 1, Some(5)), ('a', 1, Some(7))]),
            [true, false, true]
        );
        // Each tail on its own.
        assert_eq!(
            rows(&[
                ('a', 1, Some(5)),
                ('b', 1, Some(3)),
                ('a', 1, Some(4)),
                ('b', 1, Some(2))
            ]),
            [true, true, false, false]
        );
        // Negative times (before 1970) order as times.
        assert_eq!(
            rows(&[('a', 1, Some(-5)), ('a', 1, Some(-7))]),
            [true, false]
        );
    }
}
