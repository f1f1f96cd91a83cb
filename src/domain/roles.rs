//! The roles a person may hold.

use serde::{Deserialize, Serialize};

/// A role. A person may hold several; everyone signed in acts as `staff` for themselves.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Books courses and sees their own record.
    Staff,
    /// Books for and approves requests of the staff of their own school.
    SchoolLead,
    /// Takes registers and reads evaluation summaries of the courses they lead.
    CourseLead,
    /// Member of the CPD Working Group or Networking Group: reads all reports.
    CpdGroup,
    /// Runs the service.
    Admin,
}

impl Role {
    /// Every role, in order of increasing reach.
    pub const ALL: [Role; 5] = [
        Role::Staff,
        Role::SchoolLead,
        Role::CourseLead,
        Role::CpdGroup,
        Role::Admin,
    ];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::SchoolLead => "school_lead",
            Role::CourseLead => "course_lead",
            Role::CpdGroup => "cpd_group",
            Role::Admin => "admin",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}
