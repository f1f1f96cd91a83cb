//! Sign-in rules: rate limits on link requests and the lifetimes of links and sessions.

use chrono::{Duration, NaiveDateTime};

/// The window over which sign-in link requests are counted.
pub const RATE_WINDOW_MINUTES: i64 = 15;

/// A browser session's `last_seen_at` is written at most this often: a write on every request
/// would queue reads behind SQLite's single writer for a figure that only needs to be close.
pub const SESSION_TOUCH_MINUTES: i64 = 5;

/// Sign-in link requests are kept this long (for the rate limits), then pruned.
pub const LINK_RETENTION_HOURS: i64 = 24;

/// Ended sessions (revoked or past their absolute expiry) are kept this long, so a person's
/// data export shows recent sign-ins, then pruned.
pub const SESSION_RETENTION_DAYS: i64 = 30;

/// The start of the rate-limit window that ends at `now`.
pub fn window_start(now: NaiveDateTime) -> NaiveDateTime {
    now - Duration::minutes(RATE_WINDOW_MINUTES)
}

/// Whether one more request is allowed, given how many were made in the window and when the
/// oldest of them was. `Err(seconds)`: refuse, and the caller may retry after that many seconds
/// (when the oldest request leaves the window; at least 1).
pub fn check_rate(
    made: i64,
    limit: u32,
    oldest: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), u64> {
    if made < i64::from(limit) {
        return Ok(());
    }
    let frees_at = oldest.unwrap_or(now) + Duration::minutes(RATE_WINDOW_MINUTES);
    let wait = (frees_at - now).num_milliseconds();
    // Round up, so a client that waits exactly this long is let through.
    let seconds = (wait.max(0) as u64).div_ceil(1000).max(1);
    Err(seconds)
}

/// Whether a session is still live at `now`: not revoked, before its absolute end, and used
/// within the idle limit.
pub fn session_live(
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    revoked: bool,
    idle_minutes: u32,
    now: NaiveDateTime,
) -> bool {
    !revoked && now < expires_at && now < last_seen_at + Duration::minutes(i64::from(idle_minutes))
}

/// Until when a live session's answer holds by time alone: its absolute end, its idle end, or
/// the moment its `last_seen_at` is next written ([`session_needs_touch`]), whichever is first.
pub fn session_holds_until(
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    idle_minutes: u32,
) -> NaiveDateTime {
    let idle_end = last_seen_at + Duration::minutes(i64::from(idle_minutes));
    let next_touch = last_seen_at + Duration::minutes(SESSION_TOUCH_MINUTES);
    expires_at.min(idle_end).min(next_touch)
}

/// Whether a live session's `last_seen_at` is old enough to be written again.
pub fn session_needs_touch(last_seen_at: NaiveDateTime, now: NaiveDateTime) -> bool {
    now - last_seen_at >= Duration::minutes(SESSION_TOUCH_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
            + Duration::minutes(min)
    }

    #[test]
    fn under_the_limit_is_allowed() {
        assert_eq!(check_rate(0, 5, None, t(0)), Ok(()));
        assert_eq!(check_rate(4, 5, Some(t(-14)), t(0)), Ok(()));
    }

    #[test]
    fn at_the_limit_waits_for_the_oldest_to_leave_the_window() {
        assert_eq!(check_rate(5, 5, Some(t(-14)), t(0)), Err(60));
        assert_eq!(check_rate(5, 5, Some(t(0)), t(0)), Err(15 * 60));
        // Never "retry after 0 seconds".
        assert_eq!(check_rate(9, 5, Some(t(-20)), t(0)), Err(1));
    }

    #[test]
    fn sessions_end_when_idle_revoked_or_past_their_end() {
        let idle = 8 * 60;
        assert!(session_live(t(0), t(100), false, idle, t(1)));
        assert!(!session_live(t(0), t(100), true, idle, t(1)));
        assert!(!session_live(t(0), t(100), false, idle, t(100)));
        assert!(!session_live(t(0), t(10_000), false, idle, t(idle as i64)));
        assert!(session_live(
            t(0),
            t(10_000),
            false,
            idle,
            t(idle as i64 - 1)
        ));
    }

    #[test]
    fn touches_are_spaced() {
        assert!(!session_needs_touch(t(0), t(4)));
        assert!(session_needs_touch(t(0), t(5)));
    }
}
