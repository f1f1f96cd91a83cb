//! `/admin/schools/import`: uploading a DfE "Get Information about Schools" (GIAS) CSV from
//! a form (`multipart/form-data`, so it works without a script), imported by the use case
//! behind `POST /api/v1/schools/import` (the same checks, batches and `schools.import` audit
//! entry); the page then shows the import's report: how many schools were created, updated
//! and unchanged, and each rejected line with its number and reason.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use minijinja::context;

use crate::app::policy::{require, Action};
use crate::app::schools::{self as schools, ImportSource};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::schools::ImportReport;
use crate::web::{page, sign_in_first};

use super::{error_views, problem, Problems};

/// The largest file the page takes: a local authority's or a region's GIAS extract is well
/// under a megabyte; the whole of England (about 70 MiB) goes through the API or
/// `cpd-hub import-schools`, which read files that large.
pub const UPLOAD_LIMIT: usize = 16 << 20;

/// What is read of a too-large upload before answering, so the browser has sent its request
/// and reads the answer (a connection closed mid-upload shows the person a network error).
const DRAIN_LIMIT: usize = 4 * UPLOAD_LIMIT;

/// Rejected lines listed on the page; the rest are counted, so a file of thousands of bad
/// lines still gives a page of a readable length.
const REJECTED_SHOWN: usize = 30;

/// The form's fields: `file` (the CSV) and `create_clusters` (`true` when ticked).
#[derive(utoipa::ToSchema)]
pub struct ImportFormFields {
    /// The GIAS establishment CSV.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// `true`: create the clusters named in a `Cluster` column that do not exist yet.
    pub create_clusters: Option<String>,
}

/// What the upload form sent.
#[derive(Default)]
struct Upload {
    file: Option<(String, web::Bytes)>,
    create_clusters: bool,
    too_large: bool,
}

/// Reads the form's parts: the file up to [`UPLOAD_LIMIT`] (past it, the rest is read and
/// dropped up to [`DRAIN_LIMIT`]), the tick box, and nothing else.
async fn read_upload(mut parts: Multipart) -> AppResult<Upload> {
    let mut upload = Upload::default();
    let mut read = 0usize;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(unreadable)?;
        let name = part.name().unwrap_or_default().to_string();
        let file_name = part
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or_default()
            .to_string();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(unreadable)?;
            read += chunk.len();
            if read > DRAIN_LIMIT {
                return Err(AppError::Malformed(format!(
                    "the upload is larger than {} MiB",
                    DRAIN_LIMIT >> 20
                )));
            }
            if upload.too_large || body.len() + chunk.len() > UPLOAD_LIMIT {
                upload.too_large = true;
                body.clear();
                continue;
            }
            body.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" if !upload.too_large => upload.file = Some((file_name, body.freeze())),
            "create_clusters" => upload.create_clusters = body.as_ref() == b"true",
            _ => {}
        }
    }
    Ok(upload)
}

fn unreadable(e: actix_multipart::MultipartError) -> AppError {
    AppError::Malformed(format!("the upload could not be read: {e}"))
}

/// Why these bytes are not a CSV file, if they plainly are not: a spreadsheet or document
/// saved in its own format, or binary data. (What is left is text, and the GIAS reader says
/// what it lacks.)
fn not_csv(file_name: &str, bytes: &[u8]) -> Option<String> {
    let name = file_name.to_ascii_lowercase();
    let looks_binary = bytes.iter().take(4096).any(|b| *b == 0);
    if bytes.starts_with(b"PK\x03\x04") || name.ends_with(".xlsx") || name.ends_with(".ods") {
        return Some(
            "must be a CSV file: this is a spreadsheet; save it as \"CSV (comma delimited)\" and upload that"
                .into(),
        );
    }
    if bytes.starts_with(b"\xD0\xCF\x11\xE0") || name.ends_with(".xls") {
        return Some(
            "must be a CSV file: this is an Excel 97-2003 workbook; save it as \"CSV (comma delimited)\" and upload that"
                .into(),
        );
    }
    if looks_binary {
        return Some("must be a CSV file: this file is not text".into());
    }
    None
}

fn render_page(
    status: StatusCode,
    problems: &Problems,
    create_clusters: bool,
    report: Option<(&str, &ImportReport)>,
) -> AppResult<HttpResponse> {
    let (summary, field_errors) = error_views(problems);
    let report = report.map(|(file_name, r)| {
        let shown: Vec<_> = r
            .rejected
            .iter()
            .take(REJECTED_SHOWN)
            .map(|x| context! { line => x.line, urn => x.urn, reason => x.reason })
            .collect();
        context! {
            file_name,
            created => r.created,
            updated => r.updated,
            unchanged => r.unchanged,
            rejected_count => r.rejected.len(),
            rejected => shown,
            more_rejected => r.rejected.len().saturating_sub(REJECTED_SHOWN),
            clusters_created => r.clusters_created,
        }
    });
    page(
        status,
        "admin_schools_import.html",
        context! {
            signed_in => true,
            errors => summary,
            field_errors,
            create_clusters,
            report,
            limit_mib => UPLOAD_LIMIT >> 20,
        },
    )
}

/// The upload form (admins).
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The GIAS upload form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/schools/import")]
pub async fn import_form(caller: MaybeCaller) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    require(&caller, Action::WriteReference)?;
    render_page(StatusCode::OK, &Problems::new(), true, None)
}

/// Imports the uploaded GIAS CSV (`app::schools::import_schools`, as
/// `POST /api/v1/schools/import`) and shows its report; a file that is missing, too large,
/// not a CSV or without GIAS's columns is named beside the file field and changes nothing.
#[utoipa::path(tag = "web",
    request_body(content = ImportFormFields, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The import's report", content_type = "text/html", body = String),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 413, description = "The file is larger than the page takes: the form, saying so", content_type = "text/html", body = String),
        (status = 422, description = "No file, not a CSV, or not a GIAS file: the form, saying so", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/schools/import")]
pub async fn import_upload(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    // The policy before the upload is read: someone else's file is never looked at.
    require(&caller, Action::WriteReference)?;
    let upload = read_upload(Multipart::new(req.headers(), payload)).await?;
    let mut problems = Problems::new();
    let status = if upload.too_large {
        problem(
            &mut problems,
            "file",
            format!(
                "must be smaller than {} MB; import a larger file with the API or `cpd-hub import-schools`",
                UPLOAD_LIMIT >> 20
            ),
        );
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let file = match upload.file {
        Some((name, bytes)) if problems.is_empty() => {
            if bytes.is_empty() && name.is_empty() {
                problem(&mut problems, "file", "choose a CSV file to upload");
                None
            } else if let Some(why) = not_csv(&name, &bytes) {
                problem(&mut problems, "file", why);
                None
            } else {
                Some((name, bytes))
            }
        }
        Some(_) => None,
        None => {
            if problems.is_empty() {
                problem(&mut problems, "file", "choose a CSV file to upload");
            }
            None
        }
    };
    let Some((name, bytes)) = file else {
        return render_page(status, &problems, upload.create_clusters, None);
    };
    match schools::import_schools(
        &state,
        &caller,
        bytes,
        upload.create_clusters,
        ImportSource::Page,
    )
    .await
    {
        Ok(report) => render_page(
            StatusCode::OK,
            &problems,
            upload.create_clusters,
            Some((&name, &report)),
        ),
        Err(AppError::Validation(found)) => {
            let problems: Problems = found.into_iter().collect();
            render_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &problems,
                upload.create_clusters,
                None,
            )
        }
        Err(e) => Err(e),
    }
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(import_form).service(import_upload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheets_and_binary_files_are_not_csv() {
        assert!(not_csv("schools.csv", b"URN,EstablishmentName\r\n1,A\r\n").is_none());
        // Excel on Windows sends a CSV as application/vnd.ms-excel: the name and bytes decide.
        assert!(not_csv("export.txt", b"URN,EstablishmentName\r\n").is_none());
        let xlsx = not_csv("schools.xlsx", b"PK\x03\x04rest").unwrap();
        assert!(xlsx.contains("save it as"), "{xlsx}");
        assert!(not_csv("schools.csv", b"PK\x03\x04rest").is_some());
        assert!(not_csv("old.xls", b"\xD0\xCF\x11\xE0").is_some());
        assert!(not_csv("photo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").is_some());
    }
}
