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

/// A JSON body that has been parsed and validated: 415 for another content type, 413 for a
/// body over 1 MiB, 400 for malformed JSON, 422 naming the field for a missing or mistyped
/// field, text with a control character ([`crate::domain::text::text_problem`]) or a failed
/// rule.
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
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMedia("application/json"));
            }
            let bytes = read_limited(&mut payload, JSON_LIMIT).await?;
            require_object(&bytes)?;
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
/// Text with a control character is refused first ([`check_json_text`]), whatever the type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    check_json_text(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = if inner.to_string().starts_with("recursion limit exceeded") {
                // Not the field's fault: the document is nested deeper than anything cpd-hub
                // reads (serde_json stops at 128 levels rather than exhaust the stack).
                return Err(AppError::Malformed(
                    "the body is not valid JSON: it is nested too deeply".into(),
                ));
            } else if inner.classify() == serde_json::error::Category::Data {
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
/// 413 when it is larger than [`CSV_LIMIT`].
pub struct CsvBody(pub web::Bytes);

impl FromRequest for CsvBody {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_csv = content_type(req).is_some_and(|ct| media_essence(ct) == "text/csv");
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_csv {
                return Err(AppError::UnsupportedMedia("text/csv"));
            }
            Ok(CsvBody(read_limited(&mut payload, CSV_LIMIT).await?))
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

/// Reads a whole body of at most `limit` bytes: 413 as soon as it is longer (a declared
/// `Content-Length` over the limit is refused before anything is read), 400 when the
/// connection fails.
pub async fn read_limited(payload: &mut Payload, limit: usize) -> Result<web::Bytes, AppError> {
    use futures_util::StreamExt;
    let too_large = || AppError::PayloadTooLarge { limit };
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => too_large(),
            e => AppError::Malformed(format!("the body could not be read: {e}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Refuses a JSON document with a control character in any of its strings or keys (tab and
/// line breaks are allowed in multi-line fields only): 422 naming the field by its path, as
/// serde would (`sessions[0].venue.name`). A document that is not JSON passes: the parse that
/// follows answers it.
pub fn check_json_text(bytes: &[u8]) -> Result<(), AppError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    let mut errors = FieldErrors::new();
    walk_json(&value, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn walk_json(value: &serde_json::Value, path: &str, errors: &mut FieldErrors) {
    use crate::domain::text::{is_multi_line_field, text_problem};
    use serde_json::Value;
    let name = |path: &str| {
        if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        }
    };
    match value {
        Value::String(s) => {
            if let Some(problem) = text_problem(s, is_multi_line_field(path)) {
                errors.entry(name(path)).or_default().push(problem.into());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_json(item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if text_problem(key, false).is_some() {
                    // The key itself cannot be named safely: name where it is.
                    errors
                        .entry(name(path))
                        .or_default()
                        .push("has a field name with a control character".into());
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk_json(item, &child, errors);
            }
        }
        _ => {}
    }
}

/// Refuses a query string with a control character in any parameter (after percent-decoding):
/// 422 naming the parameter. Query parameters are all single-line.
pub fn check_query_text(query: &str) -> Result<(), AppError> {
    check_pairs(query.as_bytes(), |_| false)
}

/// Refuses a form body (`application/x-www-form-urlencoded`) with a control character in any
/// field: 422 naming the field; tabs and line breaks are allowed in multi-line fields.
pub fn check_form_text(body: &[u8]) -> Result<(), AppError> {
    check_pairs(body, crate::domain::text::is_multi_line_field)
}

fn check_pairs(encoded: &[u8], multi_line: impl Fn(&str) -> bool) -> Result<(), AppError> {
    use crate::domain::text::text_problem;
    let mut errors = FieldErrors::new();
    for (key, value) in url::form_urlencoded::parse(encoded) {
        if text_problem(&key, false).is_some() {
            errors
                .entry("query".into())
                .or_default()
                .push("has a parameter name with a control character".into());
        } else if let Some(problem) = text_problem(&value, multi_line(&key)) {
            errors
                .entry(key.into_owned())
                .or_default()
                .push(problem.into());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// The largest form body a page posts: the course form with many sessions is a few KiB.
pub const FORM_LIMIT: usize = 256 << 10;

/// Middleware: the text rules of [`check_query_text`] and [`check_form_text`] for every
/// route, API and pages alike, before any handler or database sees the request, and a path
/// with a control character answered 404 (no route or record can have one). PostgreSQL
/// cannot store NUL at all, so without this the same request was a 500 there and stored on
/// SQLite. JSON bodies are checked by [`ValidJson`], which knows their field paths.
pub async fn refuse_control_characters(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let path_ok =
        percent_decoded_text(req.path()).is_some_and(|p| !p.chars().any(char::is_control));
    let checked = if path_ok {
        check_query_text(req.query_string())
    } else {
        Err(AppError::NotFound)
    };
    if let Err(e) = checked {
        return Ok(req.error_response(e).map_into_right_body());
    }
    let is_form = content_type(req.request())
        .is_some_and(|ct| media_essence(ct) == "application/x-www-form-urlencoded");
    if is_form {
        use actix_web::HttpMessage;
        let mut payload = req.take_payload();
        let body = match read_limited(&mut payload, FORM_LIMIT).await {
            Ok(body) => body,
            Err(e) => return Ok(req.error_response(e).map_into_right_body()),
        };
        if let Err(e) = check_form_text(&body) {
            return Ok(req.error_response(e).map_into_right_body());
        }
        // Hand the body on to the handler's extractor as if it had not been read.
        req.set_payload(Payload::from(body));
    }
    next.call(req)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_left_body)
}

/// A path with its percent-escapes decoded (`+` stays a plus), or `None` when the bytes are
/// not UTF-8.
fn percent_decoded_text(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A record id taken from the request's path (`/courses/{id}`): a UUID as cpd-hub makes
/// them, or 404 before any query (anything else cannot name a record, and PostgreSQL refuses
/// some strings SQLite stores, so answering here keeps the two backends alike).
pub struct PathId(pub String);

impl PathId {
    /// The id.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::ops::Deref for PathId {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl FromRequest for PathId {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Every route that takes a PathId has exactly one path parameter.
        let id = req
            .match_info()
            .iter()
            .next()
            .map(|(_, v)| v)
            .filter(|v| crate::domain::text::is_record_id(v));
        std::future::ready(match id {
            Some(id) => Ok(PathId(id.to_string())),
            None => Err(AppError::NotFound),
        })
    }
}

/// A request body read whole for a handler that parses it itself (under an `Idempotency-Key`,
/// or in more than one shape): 413 as a problem over 1 MiB, like [`ValidJson`]. (actix's own
/// `Bytes` extractor stops at 256 KiB with a plain-text answer.)
pub struct BodyBytes(pub web::Bytes);

impl FromRequest for BodyBytes {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(_req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move { Ok(BodyBytes(read_limited(&mut payload, JSON_LIMIT).await?)) })
    }
}

/// Refuses a JSON document that is not an object (422 naming `body`): serde reads a struct
/// from a list too (`[null, null]` as a patch changing nothing), which no request means. A
/// document that is not JSON passes: the parse that follows answers it.
pub fn require_object(bytes: &[u8]) -> Result<(), AppError> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Ok(_) if !bytes.trim_ascii_start().starts_with(b"{") => {
            Err(AppError::invalid("body", "must be a JSON object"))
        }
        _ => Ok(()),
    }
}
