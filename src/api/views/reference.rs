//! Reference data: clusters, staff groups, priorities, providers and schools.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;
use crate::domain::gias::Rejected;
use crate::domain::provider::ProviderKind;
use crate::domain::school::Phase;

view! {
    /// A geographic cluster of schools.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Cluster from crate::store::reference::Cluster {
        /// Opaque id.
        pub id: String,
        /// Unique name, e.g. "Penistone".
        pub name: String,
        /// Free description.
        pub description: String,
        /// When it was created.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// A staff group: who a course is for, and how bookings are counted in reports.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct StaffGroup from crate::store::reference::StaffGroup {
        /// Opaque id.
        pub id: String,
        /// Unique, stable slug, e.g. `teaching_assistant` (fixed once created).
        pub key: String,
        /// Unique display name.
        pub name: String,
        /// Order in lists (lowest first).
        pub position: i32,
        /// When it was created.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// A strategy priority of the alliance, which courses are tagged with.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Priority from crate::store::reference::Priority {
        /// Opaque id.
        pub id: String,
        /// Unique, stable slug, e.g. `send` (fixed once created).
        pub key: String,
        /// Unique display name.
        pub name: String,
        /// What the priority covers.
        pub description: String,
        /// Order in lists (lowest first).
        pub position: i32,
        /// When it was created.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// Who delivers courses.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Provider from crate::store::reference::Provider {
        /// Opaque id.
        pub id: String,
        /// Unique name.
        pub name: String,
        /// What kind of organisation it is.
        pub kind: ProviderKind,
        /// Where to write to them.
        pub email: Option<String>,
        /// Their website.
        pub website: Option<String>,
        /// When it was created.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// A cluster as shown inside another record.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct ClusterRef from crate::store::schools::ClusterRef {
        /// The cluster's id.
        pub id: String,
        /// The cluster's name.
        pub name: String,
    }

    /// A school, with its cluster's id and name so a list needs no further request.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct School from crate::store::schools::School {
        /// Opaque id.
        pub id: String,
        /// The DfE unique reference number.
        #[schema(example = 106600)]
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
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// What an import did.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct ImportReport from crate::store::schools::ImportReport {
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
}
