//! Schools: listing, creating, changing, and the bulk import of a DfE "Get Information about
//! Schools" (GIAS) CSV. The JSON handlers (`api::schools`) and the admin's school pages
//! (`web::admin_schools`) both call these, so a school changed on a page and one changed
//! through the API pass the same policy, the same checks and the same transaction.

use chrono::NaiveDateTime;
use serde::Deserialize;
use validator::Validate;

use crate::app::policy::{require, Action};
use crate::app::reference::{not_blank, nullable};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::school::Phase;
use crate::domain::term::academic_year_of;
use crate::domain::text::normalise_postcode;
use crate::error::{AppError, AppResult};
use crate::store::schools::{
    self as store, ImportOptions, ImportReport, School, SchoolChanges, SchoolData, SchoolFilter,
};

/// A new school.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchool {
    /// The DfE unique reference number (unique here too).
    #[validate(range(min = 1, max = 99_999_999))]
    #[schema(example = 106600)]
    #[schema(minimum = 1, maximum = 99999999)]
    pub urn: i64,
    /// The school's name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(example = "Hoyland Common Primary School")]
    pub name: String,
    /// The phase.
    pub phase: Phase,
    /// The type of establishment, as GIAS names it.
    #[validate(length(max = 120))]
    #[serde(default)]
    #[schema(example = "Community school")]
    #[schema(max_length = 120)]
    pub school_type: String,
    /// The cluster it belongs to.
    pub cluster_id: Option<String>,
    /// The local authority.
    #[validate(length(max = 120))]
    #[serde(default)]
    #[schema(example = "Barnsley")]
    #[schema(max_length = 120)]
    pub local_authority: String,
    /// A UK postcode; stored normalised.
    #[validate(length(max = 16))]
    #[serde(default)]
    #[schema(example = "S74 9AB")]
    #[schema(max_length = 16)]
    pub postcode: String,
    /// Whether it is open (default true).
    #[serde(default = "open")]
    pub is_open: bool,
}

fn open() -> bool {
    true
}

/// Changes to a school; absent fields stay as they are, `"cluster_id": null` takes the school
/// out of its cluster.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchoolPatch {
    /// New URN.
    #[validate(range(min = 1, max = 99_999_999))]
    #[schema(minimum = 1, maximum = 99999999)]
    pub urn: Option<i64>,
    /// New name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New phase.
    pub phase: Option<Phase>,
    /// New type of establishment.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    pub school_type: Option<String>,
    /// New cluster, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cluster_id: Option<Option<String>>,
    /// New local authority.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    pub local_authority: Option<String>,
    /// New postcode (empty for none).
    #[validate(length(max = 16))]
    #[schema(max_length = 16)]
    pub postcode: Option<String>,
    /// Open or closed.
    pub is_open: Option<bool>,
}

/// Checks a postcode and returns it normalised (`s702hz` -> `S70 2HZ`); empty stays empty.
fn postcode(raw: &str) -> AppResult<String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    normalise_postcode(raw)
        .ok_or_else(|| AppError::invalid("postcode", "must be a UK postcode, such as S70 2HZ"))
}

/// Schools matching `filter`, by name, with their clusters (anyone signed in).
pub async fn list_schools(
    state: &AppState,
    caller: &Caller,
    filter: SchoolFilter,
    paging: Paging,
) -> AppResult<Page<School>> {
    require(caller, Action::ReadReference)?;
    state
        .db(move |c| store::list_schools(c, &filter, paging))
        .await
}

/// The schools' list response for `filter` and `paging`, kept under the reference generation
/// (`app::reference::kept_list`).
pub async fn list_schools_json(
    state: &AppState,
    caller: &Caller,
    filter: SchoolFilter,
    paging: Paging,
    encode: impl FnOnce(Page<School>) -> actix_web::web::Bytes + Send + 'static,
) -> AppResult<actix_web::web::Bytes> {
    let key = format!("schools {filter:?} {} {}", paging.limit, paging.offset);
    let read = move |c: &mut crate::db::DbConn| store::list_schools(c, &filter, paging);
    crate::app::reference::kept_list(state, caller, key, read, encode).await
}

/// One school (anyone signed in; 404 when there is none).
pub async fn get_school(state: &AppState, caller: &Caller, id: &str) -> AppResult<School> {
    require(caller, Action::ReadReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_school(c, &id)).await
}

/// Creates a school (admin): 422 naming each bad field (checked here too, so every front door
/// gives the same answers), 409 `duplicate_urn`, 422 `cluster_id` for an unknown cluster.
pub async fn create_school(state: &AppState, caller: &Caller, new: NewSchool) -> AppResult<School> {
    require(caller, Action::WriteReference)?;
    new.validate()?;
    let data = SchoolData {
        urn: new.urn,
        name: new.name,
        phase: new.phase,
        school_type: new.school_type.trim().to_string(),
        cluster_id: new.cluster_id,
        local_authority: new.local_authority.trim().to_string(),
        postcode: postcode(&new.postcode)?,
        is_open: new.is_open,
    };
    state.db(move |c| store::create_school(c, data)).await
}

/// Changes a school (admin): absent fields stay as they are; 404, 409 `duplicate_urn`, 422
/// as [`create_school`].
pub async fn update_school(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: SchoolPatch,
) -> AppResult<School> {
    require(caller, Action::WriteReference)?;
    patch.validate()?;
    let changes = SchoolChanges {
        urn: patch.urn,
        name: patch.name,
        phase: patch.phase,
        school_type: patch.school_type.map(|t| t.trim().to_string()),
        cluster_id: patch.cluster_id,
        local_authority: patch.local_authority.map(|l| l.trim().to_string()),
        postcode: patch.postcode.as_deref().map(postcode).transpose()?,
        is_open: patch.is_open,
    };
    let id = id.to_string();
    state
        .db(move |c| store::update_school(c, &id, changes))
        .await
}

/// Where an import came from, as its audit entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    /// `POST /api/v1/schools/import`.
    Api,
    /// The upload form at `/admin/schools/import`.
    Page,
}

impl ImportSource {
    fn as_str(self) -> &'static str {
        match self {
            ImportSource::Api => "api",
            ImportSource::Page => "page",
        }
    }
}

/// Imports a GIAS establishment CSV (admin): upserts by URN, each bad line rejected with its
/// line number and reason, one `schools.import` audit entry naming the admin and the counts.
/// `create_clusters`: clusters named in a `Cluster` column that do not exist yet are created
/// (otherwise such lines are rejected). A file that cannot be used at all is a 422 on `file`.
pub async fn import_schools(
    state: &AppState,
    caller: &Caller,
    bytes: actix_web::web::Bytes,
    create_clusters: bool,
    source: ImportSource,
) -> AppResult<ImportReport> {
    require(caller, Action::WriteReference)?;
    let options = ImportOptions {
        create_clusters,
        actor_id: Some(caller.person_id.clone()),
        source: source.as_str(),
    };
    state
        .db(move |c| store::import_gias(c, &bytes, None, &options, &mut |_, _| {}))
        .await
}

/// A school in the admin's list, with its bookings this academic year.
#[derive(Debug, Clone)]
pub struct AdminSchool {
    /// The school and its cluster.
    pub school: School,
    /// Bookings made by its staff (any status but declined) since 1 September of the academic
    /// year `now` falls in.
    pub bookings_this_year: i64,
}

/// The start of the academic year `now` (UTC) falls in, as a UTC time: midnight on
/// 1 September in London.
pub fn academic_year_start(now: NaiveDateTime) -> NaiveDateTime {
    let london = crate::domain::time::london_local(now).date();
    let year = academic_year_of(london);
    let first = chrono::NaiveDate::from_ymd_opt(year, 9, 1)
        .expect("1 September exists")
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    // Midnight in London on 1 September always exists (no clock change then).
    crate::domain::time::london_to_utc(first).unwrap_or(first)
}

/// Schools matching `filter` for the admin's list (admin), each with how many bookings its
/// staff made this academic year (the year `now` falls in). Two queries a page.
pub async fn admin_schools(
    state: &AppState,
    caller: &Caller,
    filter: SchoolFilter,
    paging: Paging,
    now: NaiveDateTime,
) -> AppResult<Page<AdminSchool>> {
    require(caller, Action::WriteReference)?;
    let since = academic_year_start(now);
    state
        .db(move |c| {
            let page = store::list_schools(c, &filter, paging)?;
            let ids: Vec<String> = page.items.iter().map(|s| s.id.clone()).collect();
            let mut counts = store::bookings_since(c, &ids, since, now)?;
            Ok(Page {
                total: page.total,
                items: page
                    .items
                    .into_iter()
                    .map(|school| AdminSchool {
                        bookings_this_year: counts.remove(&school.id).unwrap_or(0),
                        school,
                    })
                    .collect(),
            })
        })
        .await
}

/// One school for the admin's edit page (admin; 404 when there is none).
pub async fn admin_school(state: &AppState, caller: &Caller, id: &str) -> AppResult<School> {
    require(caller, Action::WriteReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_school(c, &id)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn the_academic_year_starts_at_midnight_on_1_september_in_london() {
        // 1 September is in British Summer Time: midnight in London is 23:00 UTC the day before.
        assert_eq!(
            academic_year_start(at(2027, 3, 10, 12)),
            at(2026, 8, 31, 23)
        );
        assert_eq!(academic_year_start(at(2026, 12, 1, 0)), at(2026, 8, 31, 23));
        // 23:30 UTC on 31 August is already 1 September in London: the new year.
        let late = at(2027, 8, 31, 23) + chrono::Duration::minutes(30);
        assert_eq!(academic_year_start(late), at(2027, 8, 31, 23));
        assert_eq!(
            academic_year_start(at(2027, 8, 31, 22)),
            at(2026, 8, 31, 23)
        );
    }
}
