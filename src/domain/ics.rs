//! iCalendar (RFC 5545) output: one VEVENT per course session, written by hand so every rule
//! that calendar programs are strict about is visible here: CRLF line ends, lines folded at 75
//! octets without splitting a UTF-8 character, TEXT values escaped, times in UTC (`...Z`, so
//! no VTIMEZONE is needed and no client guesses the zone).

use chrono::NaiveDateTime;

/// The product identifier every calendar carries.
pub const PRODID: &str = "-//cpd-hub//CPD calendar//EN";

/// A calendar to publish.
#[derive(Clone, Debug)]
pub struct Calendar {
    /// Shown by clients as the calendar's name (`X-WR-CALNAME`).
    pub name: String,
    /// How often subscribers should refresh, in minutes (None: no hint).
    pub refresh_minutes: Option<u32>,
    /// The events.
    pub events: Vec<Event>,
}

/// One event (a course session).
#[derive(Clone, Debug)]
pub struct Event {
    /// Stable unique id, e.g. `<session id>@cpd-hub`.
    pub uid: String,
    /// Rises with each change, so clients replace their copy.
    pub sequence: i32,
    /// When this calendar was produced (UTC).
    pub stamp: NaiveDateTime,
    /// When the course was created (UTC).
    pub created: Option<NaiveDateTime>,
    /// When the course last changed (UTC).
    pub last_modified: Option<NaiveDateTime>,
    /// Start (UTC).
    pub start: NaiveDateTime,
    /// End (UTC).
    pub end: NaiveDateTime,
    /// A cancelled event stays in the feed as `STATUS:CANCELLED` so clients remove it.
    pub cancelled: bool,
    /// The title.
    pub summary: String,
    /// Where.
    pub location: Option<String>,
    /// The course page.
    pub url: Option<String>,
    /// Plain text, may hold newlines.
    pub description: Option<String>,
    /// A reminder this many minutes before the start (None: no reminder; never on a
    /// cancelled event).
    pub alarm_minutes: Option<u32>,
}

/// Writes the calendar as RFC 5545 text.
pub fn render(cal: &Calendar) -> String {
    let mut out = String::with_capacity(512 + cal.events.len() * 700);
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(
        &mut out,
        &format!("X-WR-CALNAME:{}", escape_text(&cal.name)),
    );
    if let Some(m) = cal.refresh_minutes {
        let d = duration(m);
        line(&mut out, &format!("REFRESH-INTERVAL;VALUE=DURATION:{d}"));
        line(&mut out, &format!("X-PUBLISHED-TTL:{d}"));
    }
    for e in &cal.events {
        event(&mut out, e);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

fn event(out: &mut String, e: &Event) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", escape_text(&e.uid)));
    line(out, &format!("SEQUENCE:{}", e.sequence.max(0)));
    line(out, &format!("DTSTAMP:{}", utc(e.stamp)));
    if let Some(t) = e.created {
        line(out, &format!("CREATED:{}", utc(t)));
    }
    if let Some(t) = e.last_modified {
        line(out, &format!("LAST-MODIFIED:{}", utc(t)));
    }
    line(out, &format!("DTSTART:{}", utc(e.start)));
    line(out, &format!("DTEND:{}", utc(e.end)));
    line(
        out,
        if e.cancelled {
            "STATUS:CANCELLED"
        } else {
            "STATUS:CONFIRMED"
        },
    );
    line(out, &format!("SUMMARY:{}", escape_text(&e.summary)));
    if let Some(l) = &e.location {
        line(out, &format!("LOCATION:{}", escape_text(l)));
    }
    if let Some(u) = &e.url {
        // A URI value, not TEXT: it is not escaped, only folded.
        line(out, &format!("URL:{}", strip_controls(u)));
    }
    if let Some(d) = &e.description {
        line(out, &format!("DESCRIPTION:{}", escape_text(d)));
    }
    line(out, "TRANSP:OPAQUE");
    if let (Some(minutes), false) = (e.alarm_minutes, e.cancelled) {
        line(out, "BEGIN:VALARM");
        line(out, "ACTION:DISPLAY");
        line(
            out,
            &format!(
                "DESCRIPTION:{}",
                escape_text(&format!("Reminder: {}", e.summary))
            ),
        );
        line(out, &format!("TRIGGER:-{}", duration(minutes)));
        line(out, "END:VALARM");
    }
    line(out, "END:VEVENT");
}

/// A UTC date-time: `20270114T090000Z`.
fn utc(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A duration in its shortest RFC 5545 form: `P1D`, `PT2H`, `PT90M`, `PT0M`.
pub fn duration(minutes: u32) -> String {
    if minutes > 0 && minutes.is_multiple_of(1440) {
        format!("P{}D", minutes / 1440)
    } else if minutes > 0 && minutes.is_multiple_of(60) {
        format!("PT{}H", minutes / 60)
    } else {
        format!("PT{minutes}M")
    }
}

/// Escapes a TEXT value: backslash, semicolon, comma and newlines; other control characters
/// (which TEXT may not hold) are dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn strip_controls(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Appends one content line, folded so no physical line exceeds 75 octets (the leading space
/// of a continuation counts), never splitting a UTF-8 character, and ended with CRLF.
fn line(out: &mut String, content: &str) {
    const LIMIT: usize = 75;
    let mut used = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if used + len > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc()
    }

    fn event() -> Event {
        Event {
            uid: "s1@cpd-hub".into(),
            sequence: 2,
            stamp: at("2026-11-02T08:00:00Z"),
            created: None,
            last_modified: None,
            start: at("2027-03-28T09:00:00Z"),
            end: at("2027-03-28T11:00:00Z"),
            cancelled: false,
            summary: "Phonics; part 1, with \\ and\nnewline".into(),
            location: Some("Hub, Church St, S70 2HZ".into()),
            url: Some("https://cpd.example.org/courses/c1".into()),
            description: Some("é".repeat(100)),
            alarm_minutes: Some(1440),
        }
    }

    #[test]
    fn escapes_text() {
        assert_eq!(escape_text("a;b,c\\d\ne\r\nf"), "a\\;b\\,c\\\\d\\ne\\nf");
        assert_eq!(escape_text("bell\u{7}"), "bell");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(1440), "P1D");
        assert_eq!(duration(2880), "P2D");
        assert_eq!(duration(120), "PT2H");
        assert_eq!(duration(90), "PT90M");
        assert_eq!(duration(0), "PT0M");
    }

    #[test]
    fn lines_are_crlf_and_folded_at_75_octets_on_character_boundaries() {
        let text = render(&Calendar {
            name: "CPD".into(),
            refresh_minutes: Some(60),
            events: vec![event()],
        });
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        // Unfolding gives back the escaped value exactly (no character was split).
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{}\r\n", "é".repeat(100))));
        assert!(unfolded.contains("SUMMARY:Phonics\\; part 1\\, with \\\\ and\\nnewline\r\n"));
        assert!(unfolded.contains("DTSTART:20270328T090000Z\r\n"));
        assert!(unfolded.contains("TRIGGER:-P1D\r\n"));
        assert!(unfolded.contains("SEQUENCE:2\r\n"));
        assert!(unfolded.contains("REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"));
    }

    #[test]
    fn cancelled_events_have_no_alarm() {
        let mut e = event();
        e.cancelled = true;
        let text = render(&Calendar {
            name: "CPD".into(),
            refresh_minutes: None,
            events: vec![e],
        });
        assert!(text.contains("STATUS:CANCELLED\r\n"));
        assert!(!text.contains("VALARM"));
    }
}
