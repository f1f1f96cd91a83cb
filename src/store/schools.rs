//! Schools: the alliance's schools and academies, each in at most one cluster, and their bulk
//! import from a DfE "Get Information about Schools" (GIAS) file.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{like_pattern, lower, new_id};
use crate::db::schema::{bookings, clusters, schools};
use crate::db::DbConn;
use crate::domain::gias::{self, ClusterMap, Rejected, SchoolRecord};
use crate::domain::paging::{Page, Paging};
use crate::domain::school::Phase;
use crate::domain::time;
use crate::error::{AppError, AppResult};

/// A cluster as shown inside another record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterRef {
    /// The cluster's id.
    pub id: String,
    /// The cluster's name.
    pub name: String,
}

/// A school, with its cluster's id and name so a list needs no further request.
#[derive(Debug, Clone, Serialize)]
pub struct School {
    /// Opaque id.
    pub id: String,
    /// The DfE unique reference number.
    pub urn: i64,
    /// The school's name.
    pub name: String,
    /// The phase, as courses target it.
    pub phase: Phase,
    /// GIAS's type of establishment, e.g. "Academy converter".
    pub school_type: String,
    /// The cluster it belongs to, if any.
    pub cluster: Option<ClusterRef>,
    /// The local authority's name.
    pub local_authority: String,
    /// The postcode, normalised (`S70 2HZ`), or empty.
    pub postcode: String,
    /// Whether it is open.
    pub is_open: bool,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schools)]
struct SchoolRow {
    id: String,
    urn: i64,
    name: String,
    phase: String,
    school_type: String,
    cluster_id: Option<String>,
    local_authority: String,
    postcode: String,
    is_open: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl SchoolRow {
    fn into_school(self, cluster: Option<(String, String)>) -> School {
        School {
            id: self.id,
            urn: self.urn,
            name: self.name,
            // Only this module writes the column, always from a Phase.
            phase: Phase::parse(&self.phase).unwrap_or(Phase::Other),
            school_type: self.school_type,
            cluster: cluster.map(|(id, name)| ClusterRef { id, name }),
            local_authority: self.local_authority,
            postcode: self.postcode,
            is_open: self.is_open,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A school's fields, checked and normalised, as written on create.
#[derive(Debug, Clone)]
pub struct SchoolData {
    /// The DfE URN.
    pub urn: i64,
    /// The name.
    pub name: String,
    /// The phase.
    pub phase: Phase,
    /// The type of establishment.
    pub school_type: String,
    /// The cluster's id; must exist.
    pub cluster_id: Option<String>,
    /// The local authority.
    pub local_authority: String,
    /// The normalised postcode, or empty.
    pub postcode: String,
    /// Whether it is open.
    pub is_open: bool,
}

/// Changes to a school: `None` leaves a field as it is; `cluster_id: Some(None)` takes the
/// school out of its cluster.
#[derive(Debug, Default)]
pub struct SchoolChanges {
    /// New URN.
    pub urn: Option<i64>,
    /// New name.
    pub name: Option<String>,
    /// New phase.
    pub phase: Option<Phase>,
    /// New type of establishment.
    pub school_type: Option<String>,
    /// New cluster, or none.
    pub cluster_id: Option<Option<String>>,
    /// New local authority.
    pub local_authority: Option<String>,
    /// New postcode (normalised), or empty.
    pub postcode: Option<String>,
    /// Open or closed.
    pub is_open: Option<bool>,
}

/// What to list.
#[derive(Debug, Default)]
pub struct SchoolFilter {
    /// Words in the name, a URN, or the start of a postcode.
    pub q: Option<String>,
    /// Only schools in this cluster.
    pub cluster_id: Option<String>,
    /// Only schools of this phase.
    pub phase: Option<Phase>,
    /// Only open (or only closed) schools.
    pub is_open: Option<bool>,
}

/// Lists schools by name with their clusters, in one query per page.
pub fn list_schools(
    conn: &mut DbConn,
    filter: &SchoolFilter,
    paging: Paging,
) -> AppResult<Page<School>> {
    let filtered = || {
        let mut query = schools::table.left_join(clusters::table).into_boxed();
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let by_name = lower(schools::name).like(like_pattern(q)).escape('\\');
            query = match (gias::parse_urn(q), postcode_prefix(q)) {
                (Some(urn), _) => query.filter(by_name.or(schools::urn.eq(urn))),
                (None, Some(prefix)) => query.filter(
                    by_name.or(replace(schools::postcode, " ", "").like(format!("{prefix}%"))),
                ),
                (None, None) => query.filter(by_name),
            };
        }
        if let Some(cluster_id) = &filter.cluster_id {
            query = query.filter(schools::cluster_id.eq(cluster_id.clone()));
        }
        if let Some(phase) = filter.phase {
            query = query.filter(schools::phase.eq(phase.as_str()));
        }
        if let Some(is_open) = filter.is_open {
            query = query.filter(schools::is_open.eq(is_open));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows: Vec<(SchoolRow, Option<(String, String)>)> = filtered()
        .order((schools::name.asc(), schools::urn.asc()))
        .limit(paging.limit)
        .offset(paging.offset)
        .select((
            SchoolRow::as_select(),
            (clusters::id, clusters::name).nullable(),
        ))
        .load(conn)?;
    Ok(Page {
        items: rows.into_iter().map(|(s, c)| s.into_school(c)).collect(),
        total,
    })
}

diesel::define_sql_function! {
    /// SQL `replace(text, from, to)`, the same on both backends.
    fn replace(
        x: diesel::sql_types::Text,
        from: diesel::sql_types::Text,
        to: diesel::sql_types::Text,
    ) -> diesel::sql_types::Text;
}

/// The start of a postcode that `q` could be (`s70`, `S70 2H`), upper-case without spaces, to
/// match stored postcodes (normalised, so upper-case) with their space taken out; `None` when
/// `q` cannot be one: postcodes are letters and digits only, start with a letter and hold a
/// digit within their first four characters.
fn postcode_prefix(q: &str) -> Option<String> {
    let p: String = q.split_whitespace().collect::<String>().to_uppercase();
    let starts_right = p.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let has_digit = p.chars().take(4).any(|c| c.is_ascii_digit());
    let plain = p.chars().all(|c| c.is_ascii_alphanumeric());
    (starts_right && has_digit && plain && (2..=7).contains(&p.len())).then_some(p)
}

/// How many bookings (any status but declined) the staff of each of `school_ids` made in
/// `[from, to]`; schools without any are left out.
pub fn bookings_since(
    conn: &mut DbConn,
    school_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> AppResult<HashMap<String, i64>> {
    if school_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, i64)> = bookings::table
        .filter(bookings::school_id.eq_any(school_ids))
        .filter(bookings::status.ne("declined"))
        .filter(bookings::requested_at.ge(from))
        .filter(bookings::requested_at.le(to))
        .group_by(bookings::school_id)
        .select((bookings::school_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect())
}

/// One school with its cluster.
pub fn get_school(conn: &mut DbConn, id: &str) -> AppResult<School> {
    let (row, cluster): (SchoolRow, Option<(String, String)>) = schools::table
        .left_join(clusters::table)
        .filter(schools::id.eq(id))
        .select((
            SchoolRow::as_select(),
            (clusters::id, clusters::name).nullable(),
        ))
        .first(conn)?;
    Ok(row.into_school(cluster))
}

/// 422 naming `cluster_id` when the cluster does not exist.
fn check_cluster(conn: &mut DbConn, cluster_id: Option<&str>) -> AppResult<()> {
    if let Some(id) = cluster_id {
        let found = clusters::table.find(id).count().get_result::<i64>(conn)?;
        if found == 0 {
            return Err(AppError::invalid("cluster_id", "no cluster has this id"));
        }
    }
    Ok(())
}

/// 409 `duplicate_urn` when another school has this URN.
fn check_urn(conn: &mut DbConn, urn: i64, except: Option<&str>) -> AppResult<()> {
    let other: Option<String> = schools::table
        .filter(schools::urn.eq(urn))
        .select(schools::id)
        .first(conn)
        .optional()?;
    match other {
        Some(other) if Some(other.as_str()) != except => Err(AppError::conflict(
            "duplicate_urn",
            format!("A school with URN {urn} already exists."),
        )),
        _ => Ok(()),
    }
}

/// Creates a school; 409 `duplicate_urn`, 422 `cluster_id` for an unknown cluster.
pub fn create_school(conn: &mut DbConn, data: SchoolData) -> AppResult<School> {
    crate::db::write_tx(conn, |conn| {
        check_urn(conn, data.urn, None)?;
        check_cluster(conn, data.cluster_id.as_deref())?;
        let id = new_id();
        insert_school(conn, &id, &data)?;
        get_school(conn, &id)
    })
}

fn insert_school(conn: &mut DbConn, id: &str, data: &SchoolData) -> QueryResult<()> {
    let now = time::now();
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(id),
            schools::urn.eq(data.urn),
            schools::name.eq(data.name.trim()),
            schools::phase.eq(data.phase.as_str()),
            schools::school_type.eq(&data.school_type),
            schools::cluster_id.eq(&data.cluster_id),
            schools::local_authority.eq(&data.local_authority),
            schools::postcode.eq(&data.postcode),
            schools::is_open.eq(data.is_open),
            schools::created_at.eq(now),
            schools::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Changes a school; 404 when there is none, 409 `duplicate_urn`, 422 `cluster_id`.
pub fn update_school(conn: &mut DbConn, id: &str, changes: SchoolChanges) -> AppResult<School> {
    crate::db::write_tx(conn, |conn| {
        let current: SchoolRow = schools::table
            .find(id)
            .select(SchoolRow::as_select())
            .first(conn)?;
        if let Some(urn) = changes.urn {
            check_urn(conn, urn, Some(id))?;
        }
        if let Some(cluster_id) = &changes.cluster_id {
            check_cluster(conn, cluster_id.as_deref())?;
        }
        diesel::update(schools::table.find(id))
            .set((
                schools::urn.eq(changes.urn.unwrap_or(current.urn)),
                schools::name.eq(changes
                    .name
                    .map(|n| n.trim().to_string())
                    .unwrap_or(current.name)),
                schools::phase.eq(changes.phase.map(Phase::as_str).unwrap_or(&current.phase)),
                schools::school_type.eq(changes.school_type.unwrap_or(current.school_type)),
                schools::cluster_id.eq(changes.cluster_id.unwrap_or(current.cluster_id)),
                schools::local_authority
                    .eq(changes.local_authority.unwrap_or(current.local_authority)),
                schools::postcode.eq(changes.postcode.unwrap_or(current.postcode)),
                schools::is_open.eq(changes.is_open.unwrap_or(current.is_open)),
                schools::updated_at.eq(time::now()),
            ))
            .execute(conn)?;
        get_school(conn, id)
    })
}

// ---------------------------------------------------------------------------------------------
// Import

/// Lines written per transaction: large enough that a 25,000-line file is a few dozen commits,
/// small enough that one transaction never holds SQLite's write lock for long.
const IMPORT_BATCH: usize = 500;

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Create clusters named in the file that do not exist yet (otherwise such lines are
    /// rejected).
    pub create_clusters: bool,
    /// The person importing, for the audit log (`None` for the command line).
    pub actor_id: Option<String>,
    /// Where the import came from, for the audit log (`api`, `page`, `command line`).
    pub source: &'static str,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    /// Schools added.
    pub created: u64,
    /// Schools whose details changed.
    pub updated: u64,
    /// Schools already exactly as in the file.
    pub unchanged: u64,
    /// Lines not imported, with their line numbers (the header is line 1) and reasons.
    pub rejected: Vec<Rejected>,
    /// Clusters the import created.
    pub clusters_created: Vec<String>,
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Imports a GIAS establishment file (UTF-8 or Windows-1252): each school is created or
/// updated by URN. A line that cannot be used is reported with its reason and never stops the
/// others; lines are checked before any is written, and written in batches, each batch in one
/// transaction, so no school is ever half-written. `progress(done, total)` is called after
/// each batch. A file that cannot be read at all is a 422 naming `file`.
pub fn import_gias(
    conn: &mut DbConn,
    bytes: &[u8],
    cluster_map: Option<&ClusterMap>,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> AppResult<ImportReport> {
    let parsed = gias::parse(bytes, cluster_map).map_err(|m| AppError::invalid("file", m))?;
    let mut report = ImportReport {
        rejected: parsed.rejected,
        ..ImportReport::default()
    };
    let (cluster_ids, created, unknown) =
        resolve_clusters(conn, &parsed.records, options.create_clusters)?;
    report.clusters_created = created;
    let mut records = Vec::with_capacity(parsed.records.len());
    for (line, record) in parsed.records {
        match record.cluster.as_deref().map(cluster_key) {
            Some(key) if unknown.contains(&key) => report.rejected.push(Rejected {
                line,
                urn: Some(record.urn.to_string()),
                reason: format!(
                    "there is no cluster named {:?}",
                    record.cluster.unwrap_or_default()
                ),
            }),
            _ => records.push((line, record)),
        }
    }

    let total = records.len() as u64;
    let mut done = 0;
    progress(done, total);
    for batch in records.chunks(IMPORT_BATCH) {
        match crate::db::write_tx(conn, |conn| write_batch(conn, batch, &cluster_ids)) {
            Ok(outcomes) => outcomes.iter().for_each(|o| count(&mut report, o)),
            Err(e @ AppError::Unavailable(_)) => return Err(e),
            // Something no check foresaw (such as another import adding the same URN meanwhile):
            // write this batch line by line so only the line at fault is lost.
            Err(_) => {
                for item in batch {
                    match crate::db::write_tx(conn, |conn| {
                        write_batch(conn, std::slice::from_ref(item), &cluster_ids)
                    }) {
                        Ok(outcomes) => outcomes.iter().for_each(|o| count(&mut report, o)),
                        Err(e @ AppError::Unavailable(_)) => return Err(e),
                        Err(e) => {
                            tracing::warn!(line = item.0, error = ?e, "school import line not saved");
                            report.rejected.push(Rejected {
                                line: item.0,
                                urn: Some(item.1.urn.to_string()),
                                reason: match e {
                                    AppError::Conflict { detail, .. } => detail,
                                    _ => "the line could not be saved".into(),
                                },
                            });
                        }
                    }
                }
            }
        }
        done += batch.len() as u64;
        progress(done, total);
    }
    report.rejected.sort_by_key(|r| r.line);

    crate::db::write_tx(conn, |conn| {
        super::audit::record(
            conn,
            options.actor_id.as_deref(),
            "schools.import",
            "school",
            None,
            serde_json::json!({
                "source": options.source,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected.len(),
                "clusters_created": report.clusters_created.len(),
            }),
        )
    })?;
    Ok(report)
}

fn count(report: &mut ImportReport, outcome: &Outcome) {
    match outcome {
        Outcome::Created => report.created += 1,
        Outcome::Updated => report.updated += 1,
        Outcome::Unchanged => report.unchanged += 1,
    }
}

/// Cluster names match case-insensitively and ignoring surrounding space.
fn cluster_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Finds the clusters the file names: a map from [`cluster_key`] to id, the names of the
/// clusters created, and the keys of those that do not exist and were not created.
#[allow(clippy::type_complexity)]
fn resolve_clusters(
    conn: &mut DbConn,
    records: &[(u64, SchoolRecord)],
    create: bool,
) -> AppResult<(HashMap<String, String>, Vec<String>, Vec<String>)> {
    // First spelling seen, in file order, so created clusters are named as the file names them.
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (_, r) in records {
        if let Some(name) = &r.cluster {
            let key = cluster_key(name);
            if !wanted.iter().any(|(k, _)| *k == key) {
                wanted.push((key, name.trim().to_string()));
            }
        }
    }
    if wanted.is_empty() {
        return Ok((HashMap::new(), Vec::new(), Vec::new()));
    }
    crate::db::write_tx(conn, |conn| {
        let existing: Vec<(String, String)> = clusters::table
            .select((clusters::id, clusters::name))
            .load(conn)?;
        let mut ids: HashMap<String, String> = existing
            .into_iter()
            .map(|(id, name)| (cluster_key(&name), id))
            .collect();
        let (mut created, mut unknown) = (Vec::new(), Vec::new());
        for (key, name) in wanted {
            if ids.contains_key(&key) {
                continue;
            }
            if !create {
                unknown.push(key);
                continue;
            }
            let id = new_id();
            let now = time::now();
            diesel::insert_into(clusters::table)
                .values((
                    clusters::id.eq(&id),
                    clusters::name.eq(&name),
                    clusters::description.eq(""),
                    clusters::created_at.eq(now),
                    clusters::updated_at.eq(now),
                ))
                .execute(conn)?;
            ids.insert(key, id);
            created.push(name);
        }
        Ok((ids, created, unknown))
    })
}

/// Writes checked lines (inside the caller's transaction): a new URN is inserted, a known one
/// updated when anything differs. A line without a cluster leaves the school's cluster alone.
fn write_batch(
    conn: &mut DbConn,
    batch: &[(u64, SchoolRecord)],
    cluster_ids: &HashMap<String, String>,
) -> AppResult<Vec<Outcome>> {
    let urns: Vec<i64> = batch.iter().map(|(_, r)| r.urn).collect();
    let existing: HashMap<i64, SchoolRow> = schools::table
        .filter(schools::urn.eq_any(&urns))
        .select(SchoolRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| (row.urn, row))
        .collect();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (_, r) in batch {
        let cluster_id = r
            .cluster
            .as_deref()
            .and_then(|name| cluster_ids.get(&cluster_key(name)).cloned());
        let outcome = match existing.get(&r.urn) {
            None => {
                let data = SchoolData {
                    urn: r.urn,
                    name: r.name.clone(),
                    phase: r.phase,
                    school_type: r.school_type.clone(),
                    cluster_id,
                    local_authority: r.local_authority.clone(),
                    postcode: r.postcode.clone(),
                    is_open: r.is_open,
                };
                insert_school(conn, &new_id(), &data)?;
                Outcome::Created
            }
            Some(row) => {
                let cluster_id = cluster_id.or_else(|| row.cluster_id.clone());
                let same = row.name == r.name
                    && row.phase == r.phase.as_str()
                    && row.school_type == r.school_type
                    && row.local_authority == r.local_authority
                    && row.postcode == r.postcode
                    && row.is_open == r.is_open
                    && row.cluster_id == cluster_id;
                if same {
                    Outcome::Unchanged
                } else {
                    diesel::update(schools::table.find(&row.id))
                        .set((
                            schools::name.eq(&r.name),
                            schools::phase.eq(r.phase.as_str()),
                            schools::school_type.eq(&r.school_type),
                            schools::cluster_id.eq(&cluster_id),
                            schools::local_authority.eq(&r.local_authority),
                            schools::postcode.eq(&r.postcode),
                            schools::is_open.eq(r.is_open),
                            schools::updated_at.eq(time::now()),
                        ))
                        .execute(conn)?;
                    Outcome::Updated
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_may_be_the_start_of_a_postcode() {
        assert_eq!(postcode_prefix("s70 2hz").as_deref(), Some("S702HZ"));
        assert_eq!(postcode_prefix(" S75 4h ").as_deref(), Some("S754H"));
        assert_eq!(postcode_prefix("S7").as_deref(), Some("S7"));
        // Names, URNs and other words are not postcodes.
        for q in ["Primary", "106600", "St John's", "S", "AB12 3CDE9"] {
            assert_eq!(postcode_prefix(q), None, "{q}");
        }
    }
}
