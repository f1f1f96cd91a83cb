//! Swagger UI 5.17.14 as the zip utoipa-swagger-ui's build script unpacks and embeds, trimmed
//! by `scripts/trim-swagger-ui` to the files the docs page loads.

/// The trimmed Swagger UI zip (the name utoipa-swagger-ui's build script reads).
pub const SWAGGER_UI_VENDORED: &[u8] = include_bytes!("../swagger-ui-5.17.14-trimmed.zip");
