//! Time: stored as naive UTC, exchanged as RFC 3339, shown in Europe/London.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The time zone the alliance works in.
pub const LONDON: chrono_tz::Tz = chrono_tz::Europe::London;

/// Now, in UTC, at microsecond precision (what both databases keep), as stored.
pub fn now() -> NaiveDateTime {
    let t = Utc::now().naive_utc();
    // Drop nanoseconds so a value read back compares equal to the one written.
    t.with_nanosecond_micro()
}

trait MicroPrecision {
    fn with_nanosecond_micro(self) -> Self;
}

impl MicroPrecision for NaiveDateTime {
    fn with_nanosecond_micro(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1000 * 1000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

/// A stored UTC time as an RFC 3339 UTC timestamp.
pub fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// Serde helpers: a stored naive UTC time travels as RFC 3339 with `Z`.
pub mod rfc3339 {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `2027-01-14T09:00:00Z`.
    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_utc(*t).to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    /// Reads RFC 3339 with an offset and converts it to UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc).naive_utc())
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{s:?} is not an RFC 3339 time with an offset, such as 2027-01-14T09:00:00Z"
                ))
            })
    }

    /// The same for optional times.
    pub mod option {
        use super::*;

        /// Writes an optional time, or null.
        pub fn serialize<S: Serializer>(
            t: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(
                    &super::super::to_utc(*t).to_rfc3339_opts(SecondsFormat::AutoSi, true),
                ),
                None => s.serialize_none(),
            }
        }

        /// Reads an optional RFC 3339 time.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<NaiveDateTime>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            match s {
                None => Ok(None),
                Some(s) => DateTime::parse_from_rfc3339(&s)
                    .map(|t| Some(t.with_timezone(&Utc).naive_utc()))
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "{s:?} is not an RFC 3339 time with an offset, such as 2027-01-14T09:00:00Z"
                        ))
                    }),
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_utc(_: DateTime<Utc>) {}
