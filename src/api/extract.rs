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
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
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

/// Parses JSON, telling syntax errors (400) from data errors such as a missing or mistyped
/// field (422, naming the field by its path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.classify() != serde_json::error::Category::Data {
                return Err(AppError::Malformed(format!(
                    "the body is not valid JSON: {inner}"
                )));
            }
            let message = inner.to_string();
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
