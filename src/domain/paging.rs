//! Paging of lists: `limit`/`offset` in, `{"items", "total"}` out.

use serde::{Deserialize, Serialize};

/// The largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 1000;
/// The page size when none is given.
pub const DEFAULT_LIMIT: i64 = 50;

/// A checked page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// How many items at most.
    pub limit: i64,
    /// How many to skip.
    pub offset: i64,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl Paging {
    /// Checks raw query values; the error names the field and the rule.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Paging, (&'static str, String)> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(("limit", format!("must be from 1 to {MAX_LIMIT}")));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(("offset", "must be 0 or more".into()));
        }
        Ok(Paging { limit, offset })
    }
}

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: i64,
}
