//! The one error type of cpd-hub and its written mapping to HTTP problem responses (RFC 7807).
//!
//! | variant            | status | body                                                   |
//! |--------------------|--------|--------------------------------------------------------|
//! | `Malformed`        | 400    | what could not be read                                 |
//! | `Unauthenticated`  | 401    | how to sign in                                         |
//! | `Forbidden`        | 403    | what is not allowed                                    |
//! | `NotFound`         | 404    | also for records the caller may not see                |
//! | `Conflict`         | 409    | a machine-readable `code` and a plain sentence         |
//! | `Gone`             | 410    | a machine-readable `code` and a plain sentence         |
//! | `PayloadTooLarge`  | 413    | the largest body the endpoint reads                    |
//! | `UnsupportedMedia` | 415    | the content type expected                              |
//! | `Validation`       | 422    | `errors: {field: [message, ...]}`                      |
//! | `TooManyRequests`  | 429    | with `Retry-After`                                     |
//! | `Unavailable`      | 503    | the database is unreachable, every connection is busy, |
//! |                    |        | or PostgreSQL ended the transaction to break a deadlock|
//! | `Internal`         | 500    | a plain message; the whole cause chain goes to the log |

use std::collections::BTreeMap;
use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Field name -> messages, as carried by a 422 problem.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Anything that can go wrong while serving a request or running a command.
#[derive(thiserror::Error)]
pub enum AppError {
    /// The request could not be read (malformed JSON, a bad query string).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No credentials, or credentials that are not valid.
    #[error("not signed in")]
    Unauthenticated,
    /// Signed in, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such record, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state.
    #[error("conflict ({code}): {detail}")]
    Conflict {
        /// A stable, machine-readable reason such as `already_booked`.
        code: &'static str,
        /// A plain sentence for people.
        detail: String,
    },
    /// The request body is larger than the endpoint reads.
    #[error("payload too large: more than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body, in bytes.
        limit: usize,
    },
    /// The request body is not of a type this endpoint reads.
    #[error("unsupported media type: expected {0}")]
    UnsupportedMedia(&'static str),
    /// One or more fields failed validation.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// Too many requests; try again after the given number of seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The database cannot be reached or every connection is busy.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    /// The thing existed but is no longer usable (an expired link).
    #[error("gone ({code}): {detail}")]
    Gone {
        /// A stable, machine-readable reason such as `expired`.
        code: &'static str,
        /// A plain sentence for people.
        detail: String,
    },
}

impl fmt::Debug for AppError {
    // The full cause chain, so the log says where an internal error came from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{self}")?;
        let mut current = std::error::Error::source(self);
        while let Some(cause) = current {
            writeln!(f, "Caused by:\n\t{cause}")?;
            current = cause.source();
        }
        Ok(())
    }
}

impl AppError {
    /// A 422 with a single field and message.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), vec![message.into()]);
        AppError::Validation(errors)
    }

    /// A 409 with a code and a sentence.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

/// A problem document (RFC 7807).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened, for people.
    pub detail: String,
    /// Machine-readable reason for a 409.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Field -> messages for a 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Malformed(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Gone { .. } => StatusCode::GONE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (slug, title, detail) = match self {
            AppError::Malformed(m) => ("malformed", "Malformed request", m.clone()),
            AppError::Unauthenticated => (
                "unauthenticated",
                "Not signed in",
                "Sign in, or send an API token as 'Authorization: Bearer <token>'.".to_string(),
            ),
            AppError::Forbidden(m) => ("forbidden", "Not allowed", m.clone()),
            AppError::NotFound => (
                "not-found",
                "Not found",
                "There is no such record, or you may not see it.".to_string(),
            ),
            AppError::Conflict { detail, .. } => ("conflict", "Conflict", detail.clone()),
            AppError::PayloadTooLarge { limit } => (
                "payload-too-large",
                "Payload too large",
                format!("The body is larger than {}.", human_size(*limit)),
            ),
            AppError::UnsupportedMedia(expected) => (
                "unsupported-media-type",
                "Unsupported media type",
                format!("This endpoint reads {expected}."),
            ),
            AppError::Validation(errors) => ("validation", "Validation failed", summarise(errors)),
            AppError::TooManyRequests { retry_after } => (
                "too-many-requests",
                "Too many requests",
                format!("Try again in {retry_after} seconds."),
            ),
            AppError::Unavailable(_) => (
                "unavailable",
                "Service unavailable",
                "The service is busy or its database cannot be reached; try again shortly."
                    .to_string(),
            ),
            AppError::Internal(_) => (
                "internal",
                "Internal error",
                "Something went wrong on our side. It has been logged.".to_string(),
            ),
            AppError::Gone { detail, .. } => ("gone", "Gone", detail.clone()),
        };
        match self {
            AppError::Internal(_) => tracing::error!(error = ?self, "internal error"),
            AppError::Unavailable(_) => tracing::warn!(error = ?self, "unavailable"),
            _ => {}
        }
        let body = Problem {
            kind: format!("https://cpd-hub.invalid/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code: match self {
                AppError::Conflict { code, .. } | AppError::Gone { code, .. } => {
                    Some(code.to_string())
                }
                _ => None,
            },
            errors: match self {
                AppError::Validation(e) => Some(e.clone()),
                _ => None,
            },
        };
        let mut resp = HttpResponse::build(status);
        resp.content_type("application/problem+json");
        match self {
            AppError::TooManyRequests { retry_after } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            AppError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "2"));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// `1 MiB`, `256 KiB` or `100 bytes`.
fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn summarise(errors: &FieldErrors) -> String {
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    format!("Check these fields: {}.", fields.join(", "))
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                // Store functions check the unique fields they know about and answer with a
                // precise message; this is the backstop for a race between check and insert.
                AppError::conflict(
                    "duplicate",
                    format!(
                        "A record with the same unique value already exists ({}).",
                        info.message()
                    ),
                )
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => AppError::conflict(
                "in_use_or_missing",
                "The record refers to something that does not exist, or is still referred to.",
            ),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                AppError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                AppError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(_, ref info) if info.message().contains("database is locked") => {
                AppError::Unavailable("database is locked".into())
            }
            // PostgreSQL chose this transaction to end a deadlock: nothing was written, and
            // the same request again succeeds, so the client is told to try again.
            Error::DatabaseError(_, ref info) if info.message().contains("deadlock detected") => {
                AppError::Unavailable("deadlock detected".into())
            }
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("the blocking thread pool failed: {e}"))
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(e: validator::ValidationErrors) -> Self {
        AppError::Validation(flatten_validation(&e, ""))
    }
}

/// Flattens nested `validator` errors into `field` / `parent.child` / `list[2].field` names.
fn flatten_validation(errors: &validator::ValidationErrors, prefix: &str) -> FieldErrors {
    use validator::ValidationErrorsKind;
    let mut out = FieldErrors::new();
    for (field, kind) in errors.errors() {
        let name = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                let messages = list
                    .iter()
                    .map(|e| match &e.message {
                        Some(m) => m.to_string(),
                        None => describe_validation(e),
                    })
                    .collect();
                out.insert(name, messages);
            }
            ValidationErrorsKind::Struct(inner) => out.extend(flatten_validation(inner, &name)),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    out.extend(flatten_validation(inner, &format!("{name}[{i}]")));
                }
            }
        }
    }
    out
}

fn describe_validation(e: &validator::ValidationError) -> String {
    let param = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has the wrong length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be from {min} to {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be an email address".into(),
        "url" => "must be a URL".into(),
        "required" => "is required".into(),
        other => format!("is not valid ({other})"),
    }
}

/// Result type of handlers and store functions.
pub type AppResult<T> = Result<T, AppError>;

/// The problem+json error responses of the OpenAPI document, declared once.
///
/// A handler lists the common ones by name in its `#[utoipa::path]`, e.g.
/// `responses((status = 200, body = Booking), NotFound, Invalid)`; each adds its status with a
/// [`Problem`] body as `application/problem+json`. An error whose description only that
/// operation can give is written out in place as
/// `(status = 409, description = "...", body = Problem, content_type = PROBLEM_JSON)`.
pub mod responses {
    use utoipa::IntoResponses;

    pub use super::Problem;

    /// The content type of every error response.
    pub const PROBLEM_JSON: &str = "application/problem+json";

    /// Not signed in: no valid API token or session.
    #[derive(IntoResponses)]
    #[response(status = 401, content_type = PROBLEM_JSON)]
    pub struct Unauthorized(pub Problem);

    /// The caller may not do this.
    #[derive(IntoResponses)]
    #[response(status = 403, content_type = PROBLEM_JSON)]
    pub struct Forbidden(pub Problem);

    /// A form posted from another site, refused by the CSRF check.
    #[derive(IntoResponses)]
    #[response(
        status = 403,
        description = "Posted from another site",
        content_type = PROBLEM_JSON
    )]
    pub struct CrossSite(pub Problem);

    /// No such record, or one the caller may not see.
    #[derive(IntoResponses)]
    #[response(status = 404, content_type = PROBLEM_JSON)]
    pub struct NotFound(pub Problem);

    /// Refused because of the record's state; `code` says why.
    #[derive(IntoResponses)]
    #[response(status = 409, content_type = PROBLEM_JSON)]
    pub struct Conflict(pub Problem);

    /// The request could not be read: malformed JSON or a body that could not be read.
    #[derive(IntoResponses)]
    #[response(status = 400, content_type = PROBLEM_JSON)]
    pub struct Malformed(pub Problem);

    /// The body is larger than the endpoint reads.
    #[derive(IntoResponses)]
    #[response(status = 413, content_type = PROBLEM_JSON)]
    pub struct TooLarge(pub Problem);

    /// The body is not of the type the endpoint reads.
    #[derive(IntoResponses)]
    #[response(status = 415, content_type = PROBLEM_JSON)]
    pub struct Unsupported(pub Problem);

    /// Validation failed; `errors` names each field with its messages.
    #[derive(IntoResponses)]
    #[response(status = 422, content_type = PROBLEM_JSON)]
    pub struct Invalid(pub Problem);
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn from_database(message: &'static str) -> AppError {
        AppError::from(Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(Info(message)),
        ))
    }

    #[test]
    fn a_deadlock_or_a_lock_asks_the_client_to_try_again() {
        assert!(matches!(
            from_database("deadlock detected"),
            AppError::Unavailable(_)
        ));
        assert!(matches!(
            from_database("database is locked"),
            AppError::Unavailable(_)
        ));
        assert!(matches!(
            from_database("syntax error at or near \"SELEC\""),
            AppError::Internal(_)
        ));
    }
}
