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

/// A stored UTC time as the wall-clock time in Europe/London.
pub fn london_local(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::TimeZone;
    LONDON.from_utc_datetime(&t).naive_local()
}

/// A wall-clock time in Europe/London (as people type it into a form) as the UTC instant to
/// store. When the clocks go back the hour happens twice: the first is taken. When they go
/// forward the hour does not happen at all: an error saying so.
pub fn london_to_utc(local: NaiveDateTime) -> Result<NaiveDateTime, String> {
    use chrono::TimeZone;
    match LONDON.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.naive_utc()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.naive_utc()),
        chrono::LocalResult::None => Err(format!(
            "{} does not happen in London: the clocks go forward an hour then",
            local.format("%H:%M on %-d %B %Y")
        )),
    }
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

#[cfg(test)]
mod london_tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn wall_clock_times_in_london_become_utc_and_back() {
        // Winter: London is UTC; summer: an hour ahead.
        assert_eq!(
            london_to_utc(at("2027-01-14 09:00")),
            Ok(at("2027-01-14 09:00"))
        );
        assert_eq!(
            london_to_utc(at("2027-06-14 09:00")),
            Ok(at("2027-06-14 08:00"))
        );
        assert_eq!(london_local(at("2027-06-14 08:00")), at("2027-06-14 09:00"));
        // The clocks go back on 31 October 2027: 01:30 happens twice, the first is taken.
        assert_eq!(
            london_to_utc(at("2027-10-31 01:30")),
            Ok(at("2027-10-31 00:30"))
        );
        // They go forward on 28 March 2027: 01:30 never happens.
        let err = london_to_utc(at("2027-03-28 01:30")).unwrap_err();
        assert!(err.contains("clocks go forward"), "{err}");
    }
}
