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
        // [key, kind, how many] per unit and kind with a tail.
        let mut json = Vec::new();
        for (u, d) in &list {
            for (i, kind) in KINDS.iter().enumerate() {
                if d[i] > 0 {
                    // A school's staff group also gives the school and the staff group ('' for
                    // none) apart.
                    let (school, group) = split_pair(u);
                    let group = if group == NONE_KEY { "" } else { group };
                    json.push(serde_json::json!([u, kind, d[i], school, group]));
                }
            }
        }
        if json.is_empty() {
            continue;
        }
        let json = serde_json::Value::Array(json).to_string();
        out.extend(probe_sql(conn, by, year, is_none, &json, t)?);
    }
    Ok(out)
}

fn probe_sql(
    conn: &mut DbConn,
    by: By,
    year: Option<i32>,
    is_none: bool,
    json: &str,
    t: Threshold,
) -> QueryResult<Vec<TailRow>> {
    let mut params = vec![Param::Text(json.to_string())];
    let unit = |r: &str| match (by, by.column()) {
        (_, None) => String::new(),
        // Found through the school's index, the staff group matched besides.
        (By::SchoolGroup, Some(col)) => {
            let school = if is_none {
                format!("{r}.{col} IS NULL")
            } else {
                format!("{r}.{col} = u.value->>3")
            };
            format!(
                "{school} AND ({r}.staff_group_id = u.value->>4 \
                 OR (u.value->>4 = '' AND {r}.staff_group_id IS NULL)) AND "
            )
        }
        (_, Some(col)) if is_none => format!("{r}.{col} IS NULL AND "),
        (_, Some(col)) => format!("{r}.{col} = u.value->>0 AND "),
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
    let elements = json_elements(conn.backend());
    let sql = match conn.backend() {
        // One index scan per unit and kind, as deep as the unit needs. Ids order as bytes, as
        // the indexes keep them (`COLLATE "C"`) and as SQLite compares them.
        Backend::Postgres => {
            let year = in_year("r", &mut params);
            format!(
                "SELECT CAST(u.value->>0 AS TEXT) AS unit, CAST(u.value->>1 AS TEXT) AS kind, t.*
                   FROM {elements} u
                  CROSS JOIN LATERAL (
                        SELECT {cols}
                          FROM evaluation_responses r
                         WHERE {unit}r.kind = u.value->>1{year} AND r.counted
                         ORDER BY r.submitted_at DESC, r.id COLLATE \"C\" DESC
                         LIMIT CAST(u.value->>2 AS INTEGER)) t",
                cols = cols("r"),
                unit = unit("r"),
            )
        }
        // SQLite has no lateral join; a correlated list of each unit's latest ids does the
        // same, one index scan per unit (its limit must be a constant: the deepest tail).
        Backend::Sqlite => {
            let year = in_year("r2", &mut params);
            format!(
                "SELECT u.value->>0 AS unit, u.value->>1 AS kind, {cols}
                   FROM {elements} u
                   JOIN evaluation_responses r ON r.id IN (
                        SELECT r2.id FROM evaluation_responses r2
                         WHERE {unit}r2.kind = u.value->>1{year} AND r2.counted
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
