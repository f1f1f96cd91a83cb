//! Providers: who delivers a course.

use serde::{Deserialize, Serialize};

/// The kind of organisation that provides a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// A teaching school alliance or hub (delivers most of the programme).
    TeachingAlliance,
    /// The local authority's own teams.
    LocalAuthority,
    /// One of the alliance's schools.
    School,
    /// Anyone else: consultants, charities, universities.
    External,
}

impl ProviderKind {
    /// Every kind.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::TeachingAlliance,
        ProviderKind::LocalAuthority,
        ProviderKind::School,
        ProviderKind::External,
    ];

    /// The stored and exchanged name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::TeachingAlliance => "teaching_alliance",
            ProviderKind::LocalAuthority => "local_authority",
            ProviderKind::School => "school",
            ProviderKind::External => "external",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether a string is an absolute `http` or `https` address with a host, as a provider's
/// website must be.
pub fn is_web_address(raw: &str) -> bool {
    match url::Url::parse(raw.trim()) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ProviderKind::parse("agency"), None);
    }

    #[test]
    fn web_addresses() {
        assert!(is_web_address("https://alliance.example.org/cpd"));
        assert!(is_web_address("http://example.org"));
        assert!(!is_web_address("example.org"));
        assert!(!is_web_address("mailto:a@b.org"));
        assert!(!is_web_address("ftp://example.org"));
    }
}
