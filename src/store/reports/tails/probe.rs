//! A unit's latest counted responses, looked up in the responses' indexes: for the units the
//! kept rows cannot answer for, and for groupings with no kept rows.

use super::*;

/// The latest responses of each unit (as many of each kind as `units` asks, at most
/// `threshold - 1`) that the reports count (`counted`: of published courses, of bookings not
/// declined, kept on the response by triggers), in academic year `year` when given. Within a
/// year they are the first entries of a partial index of counted responses alone. A unit
/// `NONE_KEY` stands for responses with no school or staff group.
pub(super) fn probe(
    conn: &mut DbConn,
    by: By,
    year: Option<i32>,
    units: &[(&str, [usize; 2])],
    t: Threshold,
) -> QueryResult<Vec<TailRow>> {
    let mut out = Vec::new();
    let (none, keyed): (Vec<_>, Vec<_>) = units.iter().partition(|(u, _)| match by {
        By::Year => false,
        By::SchoolGroup => split_pair(u).0 == NONE_KEY,
        _ => *u == NONE_KEY,
    });
    for (list, is_none) in [(keyed, false), (none, true)] {
        if list.is_empty() {
            continue;
        }
        // Per unit and kind with a tail: its key, the kind, how many, and for a school's
        // staff group the school and the staff group ('' for none) apart.
        let mut rows: Vec<UnitRow> = Vec::new();
        for (u, d) in &list {
            for (i, kind) in KINDS.iter().enumerate() {
                if d[i] > 0 {
                    let (school, group) = split_pair(u);
                    let group = if group == NONE_KEY { "" } else { group };
                    rows.push((u, kind, d[i], school, group));
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        out.extend(probe_sql(conn, by, year, is_none, &rows, t)?);
    }
    Ok(out)
}

/// A unit a probe looks up, for one kind: its key, the kind, how many, the school and the
/// staff group.
type UnitRow<'a> = (&'a str, &'a str, usize, &'a str, &'a str);

/// What joins a column's values for PostgreSQL: a control character no key holds (not the
/// one that joins a pair of keys, `pair_key`, as a unit may be a pair).
const SEP: &str = "\u{1e}";

/// The units' values of one column, joined by `SEP`, for `string_to_array`.
fn joined<'a, T: std::fmt::Display>(
    units: &[UnitRow<'a>],
    column: impl Fn(&UnitRow<'a>) -> T,
) -> Param {
    use std::fmt::Write;
    let mut out = String::new();
    for (i, u) in units.iter().enumerate() {
        if i > 0 {
            out.push_str(SEP);
        }
        let _ = write!(out, "{}", column(u));
    }
    Param::Text(out)
}

fn probe_sql(
    conn: &mut DbConn,
    by: By,
    year: Option<i32>,
    is_none: bool,
    units: &[UnitRow],
    t: Threshold,
) -> QueryResult<Vec<TailRow>> {
    // The units as a relation `u(unit, kind, depth, school, grp)`. On PostgreSQL from five
    // arrays: reading them costs about two thirds of taking each value out of a JSON array
    // (`->>` parses the element again at each use), over thousands of look-ups.
    let (relation, mut params) = match conn.backend() {
        Backend::Postgres => (
            // An empty string is an empty array, so a lone unit's '' (the year's unit, no
            // school or staff group) reads NULL: read back.
            "(SELECT COALESCE(unit, '') AS unit, kind, depth, COALESCE(school, '') AS school,
                     COALESCE(grp, '') AS grp
                FROM unnest(string_to_array($1, chr(30)), string_to_array($2, chr(30)),
                            CAST(string_to_array($3, chr(30)) AS integer[]),
                            string_to_array($4, chr(30)), string_to_array($5, chr(30)))
                     AS v(unit, kind, depth, school, grp)) u",
            vec![
                joined(units, |u| u.0),
                joined(units, |u| u.1),
                joined(units, |u| u.2),
                joined(units, |u| u.3),
                joined(units, |u| u.4),
            ],
        ),
        Backend::Sqlite => (
            "(SELECT value->>0 AS unit, value->>1 AS kind, CAST(value->>2 AS INTEGER) AS depth,
                     value->>3 AS school, value->>4 AS grp FROM json_each($1)) u",
            // Each unit as `[key, kind, how many, school, staff group]`.
            vec![Param::Text(
                serde_json::to_string(units).unwrap_or_default(),
            )],
        ),
    };
    let unit = |r: &str| match (by, by.column()) {
        (_, None) => String::new(),
        // Found through the school's index, the staff group matched besides.
        (By::SchoolGroup, Some(col)) => {
            let school = if is_none {
                format!("{r}.{col} IS NULL")
            } else {
                format!("{r}.{col} = u.school")
            };
            format!(
                "{school} AND ({r}.staff_group_id = u.grp \
                 OR (u.grp = '' AND {r}.staff_group_id IS NULL)) AND "
            )
        }
        (_, Some(col)) if is_none => format!("{r}.{col} IS NULL AND "),
        (_, Some(col)) => format!("{r}.{col} = u.unit AND "),
    };
    let in_year = |r: &str, params: &mut Vec<Param>| match (by, year) {
        (By::Course, _) | (_, None) => String::new(),
        (_, Some(y)) => {
            params.push(Param::Int(i64::from(y)));
            format!(" AND {r}.course_year = ${}", params.len())
        }
    };
    let cols = |r: &str| {
        format!(
            "{r}.submitted_at AS submitted_at, {r}.id AS id, {r}.satisfaction AS satisfaction, \
             {r}.impact AS impact, {r}.confidence_shift AS shift, {r}.confidence_pairs AS pairs, \
             {r}.guskey1_answers AS g1, {r}.guskey2_answers AS g2, {r}.guskey3_answers AS g3, \
             {r}.guskey4_answers AS g4, {r}.guskey5_answers AS g5"
        )
    };
    let sql = match conn.backend() {
        // One index scan per unit and kind, as deep as the unit needs. Ids order as bytes, as
        // the indexes keep them (`COLLATE "C"`) and as SQLite compares them.
        Backend::Postgres => {
            let year = in_year("r", &mut params);
            format!(
                "SELECT u.unit AS unit, u.kind AS kind, t.*
                   FROM {relation}
                  CROSS JOIN LATERAL (
                        SELECT {cols}
                          FROM evaluation_responses r
                         WHERE {unit}r.kind = u.kind{year} AND r.counted
                         ORDER BY r.submitted_at DESC, r.id COLLATE \"C\" DESC
                         LIMIT u.depth) t",
                cols = cols("r"),
                unit = unit("r"),
            )
        }
        // SQLite has no lateral join; a correlated list of each unit's latest ids does the
        // same, one index scan per unit (its limit must be a constant: the deepest tail).
        Backend::Sqlite => {
            let year = in_year("r2", &mut params);
            format!(
                "SELECT u.unit AS unit, u.kind AS kind, {cols}
                   FROM {relation}
                   JOIN evaluation_responses r ON r.id IN (
                        SELECT r2.id FROM evaluation_responses r2
                         WHERE {unit}r2.kind = u.kind{year} AND r2.counted
                         ORDER BY r2.submitted_at DESC, r2.id DESC
                         LIMIT {limit})",
                cols = cols("r"),
                unit = unit("r2"),
                limit = t.get().saturating_sub(1).max(1),
            )
        }
    };
    let mut rows: Vec<TailRow> = load(conn, &sql, &params)?;
    if is_none && by != By::SchoolGroup {
        for r in &mut rows {
            r.unit = NONE_KEY.to_string();
        }
    }
    Ok(rows)
}
