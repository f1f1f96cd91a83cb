//! People and their API tokens.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;
use crate::domain::roles::Role;

view! {
    /// A related record as a response shows it: its id and name.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Ref from crate::store::people::Ref {
        /// Opaque id.
        pub id: String,
        /// Display name.
        pub name: String,
    }

    /// A person as the API shows them.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Person from crate::store::people::Person {
        /// Opaque id.
        pub id: String,
        /// Full name.
        pub name: String,
        /// Email address (stored trimmed and lower-cased; unique).
        pub email: String,
        /// Their school, if they belong to one.
        pub school: Option<Ref>,
        /// Their staff group, if known.
        pub staff_group: Option<Ref>,
        /// Their roles; always includes `staff`.
        pub roles: Vec<Role>,
        /// When the record was created.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When the record last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// A token as listed (never with its secret).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct TokenInfo from crate::store::tokens::TokenInfo {
        /// The token's id.
        pub id: String,
        /// A name to recognise it by.
        pub name: String,
        /// When it was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it stops working, if ever.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub expires_at: Option<NaiveDateTime>,
        /// When it was last used (to the hour).
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub last_used_at: Option<NaiveDateTime>,
    }

    /// A token just made, with its secret: the only time the secret is shown.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct NewToken from crate::store::tokens::NewToken {
        /// The token's id (for listing and revoking).
        pub id: String,
        /// A name to recognise it by.
        pub name: String,
        /// The secret, to send as `Authorization: Bearer <token>`. It is not stored and cannot
        /// be shown again.
        pub token: String,
        /// When it was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it stops working, if ever.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub expires_at: Option<NaiveDateTime>,
    }
}
