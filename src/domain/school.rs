//! Schools: phases and the reading of DfE "Get Information about Schools" (GIAS) values.

use serde::{Deserialize, Serialize};

/// The largest DfE unique reference number cpd-hub accepts. URNs have six digits today; the
/// headroom lets a longer series through without accepting obvious nonsense.
pub const URN_MAX: i64 = 99_999_999;

/// A school's phase, as courses target it. GIAS's phases, with special schools and alternative
/// provision told apart because the alliance plans CPD for them separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nursery schools.
    Nursery,
    /// Primary, infant and junior schools.
    Primary,
    /// Middle schools (deemed primary or secondary).
    Middle,
    /// Secondary schools.
    Secondary,
    /// All-through schools.
    AllThrough,
    /// Sixth-form and 16 plus.
    Post16,
    /// Special schools.
    Special,
    /// Pupil referral units and alternative provision.
    AlternativeProvision,
    /// Anything else (e.g. a central team).
    Other,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 9] = [
        Phase::Nursery,
        Phase::Primary,
        Phase::Middle,
        Phase::Secondary,
        Phase::AllThrough,
        Phase::Post16,
        Phase::Special,
        Phase::AlternativeProvision,
        Phase::Other,
    ];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Nursery => "nursery",
            Phase::Primary => "primary",
            Phase::Middle => "middle",
            Phase::Secondary => "secondary",
            Phase::AllThrough => "all_through",
            Phase::Post16 => "post_16",
            Phase::Special => "special",
            Phase::AlternativeProvision => "alternative_provision",
            Phase::Other => "other",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The phase for GIAS's `PhaseOfEducation (name)` and `TypeOfEstablishment (name)`:
    /// a special school or a pupil referral unit is known by its type, whatever its phase.
    pub fn from_gias(phase: &str, establishment_type: &str) -> Phase {
        let t = establishment_type.to_ascii_lowercase();
        if t.contains("special") {
            return Phase::Special;
        }
        if t.contains("pupil referral") || t.contains("alternative provision") {
            return Phase::AlternativeProvision;
        }
        let p = phase.trim().to_ascii_lowercase();
        match p.as_str() {
            "nursery" => Phase::Nursery,
            "primary" => Phase::Primary,
            "middle deemed primary" | "middle deemed secondary" | "middle" => Phase::Middle,
            "secondary" => Phase::Secondary,
            "all-through" | "all through" | "all_through" => Phase::AllThrough,
            "16 plus" | "post_16" | "post-16" => Phase::Post16,
            _ => Phase::parse(&p).unwrap_or(Phase::Other),
        }
    }
}

/// Whether a GIAS `EstablishmentStatus (name)` means the school is open.
/// "Open, but proposed to close" is still open.
pub fn gias_is_open(status: &str) -> bool {
    let s = status.trim().to_ascii_lowercase();
    s.is_empty() || s.starts_with("open")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gias_phases() {
        assert_eq!(
            Phase::from_gias("Primary", "Academy converter"),
            Phase::Primary
        );
        assert_eq!(
            Phase::from_gias("Not applicable", "Community special school"),
            Phase::Special
        );
        assert_eq!(
            Phase::from_gias("Secondary", "Academy special sponsor led"),
            Phase::Special
        );
        assert_eq!(
            Phase::from_gias("Not applicable", "Pupil referral unit"),
            Phase::AlternativeProvision
        );
        assert_eq!(
            Phase::from_gias("Middle deemed secondary", "Foundation school"),
            Phase::Middle
        );
        assert_eq!(
            Phase::from_gias("16 plus", "Further education"),
            Phase::Post16
        );
        assert_eq!(
            Phase::from_gias("All-through", "Free schools"),
            Phase::AllThrough
        );
        assert_eq!(
            Phase::from_gias("Not applicable", "Other independent school"),
            Phase::Other
        );
    }

    #[test]
    fn gias_status() {
        assert!(gias_is_open("Open"));
        assert!(gias_is_open("Open, but proposed to close"));
        assert!(!gias_is_open("Closed"));
    }
}
