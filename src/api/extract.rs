//! Request extractors that turn bad input into clear problem responses.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::{AppError, FieldErrors};

/// The largest JSON body cpd-hub reads.
const JSON_LIMIT: usize = 1 << 20;

/// A JSON body that has been parsed and validated: 415 for another content type, 400 for
/// malformed JSON, 422 naming the field for a missing or mistyped field or a failed rule.
pub struct ValidJson<T>(pub T);

impl<T> ValidJson<T> {
    /// The validated value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = has_json_body(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMedia("application/json"));
            }
            let bytes = body
                .await
                .map_err(|e| AppError::Malformed(format!("the body could not be read: {e}")))?;
            if bytes.len() > JSON_LIMIT {
                return Err(AppError::Malformed("the body is larger than 1 MiB".into()));
            }
            let value = parse_json::<T>(&bytes)?;
            value.validate()?;
            Ok(ValidJson(value))
        })
    }
}

/// The media type of one entry of a `Content-Type` or `Accept` header, without its
/// parameters, in lower case: `Application/JSON; charset=utf-8` gives `application/json`.
pub fn media_essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type (as [`media_essence`] gives it) is JSON: `application/json` or a
/// `+json` type such as `application/problem+json`.
pub fn is_json_media(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Whether the request says its body is JSON.
pub fn has_json_body(req: &HttpRequest) -> bool {
    content_type(req).is_some_and(|ct| is_json_media(&media_essence(ct)))
}

/// Parses JSON, telling syntax errors (400) from data errors such as a missing or mistyped
/// field (422, naming the field by its path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = if inner.classify() == serde_json::error::Category::Data {
                inner.to_string()
            } else if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                // serde_json calls a number or a list where an enum is expected a syntax
                // error, although the document is valid JSON: it is the field's fault.
                "has the wrong type".to_string()
            } else {
                return Err(AppError::Malformed(format!(
                    "the body is not valid JSON: {inner}"
                )));
            };
            // serde puts the missing field's name in its message, not in the path.
            let (field, text) = match message.strip_prefix("missing field `") {
                Some(rest) => {
                    let name = rest.split('`').next().unwrap_or_default();
                    let field = if path == "." || path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{path}.{name}")
                    };
                    (field, "is required".to_string())
                }
                None => {
                    let field = if path == "." || path.is_empty() {
                        "body".to_string()
                    } else {
                        path
                    };
                    (field, strip_position(&message))
                }
            };
            let mut errors = FieldErrors::new();
            errors.insert(field, vec![text]);
            Err(AppError::Validation(errors))
        }
    }
}

/// Drops serde's " at line 1 column 20" suffix, which means nothing to a form user.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A query string that has been parsed and validated: 422 naming the field for a value that
/// cannot be read (`limit=x` -> `errors.limit`) or a failed rule. Unknown parameters are
/// ignored, as browsers and caches add their own.
pub struct ValidQuery<T>(pub T);

impl<T> ValidQuery<T> {
    /// The validated value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ValidQuery<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidQuery<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query::<T>(req.query_string()).and_then(|value| {
            value.validate()?;
            Ok(ValidQuery(value))
        }))
    }
}

/// Parses a query string, naming the parameter whose value cannot be read.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // serde names a missing or repeated parameter in its message, not in the path.
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .map(|rest| rest.split('`').next().unwrap_or_default().to_string())
        };
        let (field, text) = if let Some(field) = named("missing field `") {
            (field, "is required".to_string())
        } else if let Some(field) = named("duplicate field `") {
            (field, "is given more than once".to_string())
        } else if path == "." || path.is_empty() {
            ("query".to_string(), message)
        } else {
            (path, describe_query_error(&message))
        };
        let mut errors = FieldErrors::new();
        errors.insert(field, vec![text]);
        AppError::Validation(errors)
    })
}

/// serde's messages for a text value that is not a number or a boolean name the Rust error
/// ("invalid digit found in string"); say what was expected instead.
fn describe_query_error(message: &str) -> String {
    match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "must be a whole number".into()
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "is out of range".into()
        }
        "provided string was not `true` or `false`" => "must be true or false".into(),
        other => other.to_string(),
    }
}

/// The largest CSV body cpd-hub reads: a full GIAS download of every establishment in England
/// with all its columns is about 70 MiB.
pub const CSV_LIMIT: usize = 128 << 20;

/// A `text/csv` body as bytes, in whatever encoding it came: 415 for another content type,
/// 400 when it is larger than [`CSV_LIMIT`].
pub struct CsvBody(pub web::Bytes);

impl FromRequest for CsvBody {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_csv = content_type(req).is_some_and(|ct| media_essence(ct) == "text/csv");
        let mut payload = payload.take();
        Box::pin(async move {
            use futures_util::StreamExt;
            if !is_csv {
                return Err(AppError::UnsupportedMedia("text/csv"));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| AppError::Malformed(format!("the body could not be read: {e}")))?;
                if body.len() + chunk.len() > CSV_LIMIT {
                    return Err(AppError::Malformed(format!(
                        "the body is larger than {} MiB",
                        CSV_LIMIT >> 20
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(CsvBody(body.freeze()))
        })
    }
}

/// Answers query-string errors with a problem document instead of actix's plain text.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    let message = err.to_string();
    let field = message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "query".to_string());
    let mut errors = FieldErrors::new();
    errors.insert(field, vec![strip_position(&message)]);
    AppError::Validation(errors).into()
}

/// Answers path errors (an id that cannot be read) with a 404 problem.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::NotFound.into()
}
