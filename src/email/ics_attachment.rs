//! A small iCalendar (RFC 5545) writer for the `.ics` attachments of booking and course emails:
//! CRLF line ends, lines folded at 75 octets (never inside a UTF-8 character), TEXT values
//! escaped. Times are written in UTC (`...Z`), which every calendar client converts to the
//! reader's own zone.

use chrono::NaiveDateTime;

/// What the calendar asks the reader's calendar to do (RFC 5546 iTIP method).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Add or update the events.
    Publish,
    /// Remove the events.
    Cancel,
}

impl Method {
    /// The name written after `METHOD:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Cancel => "CANCEL",
        }
    }

    /// Reads `PUBLISH` or `CANCEL` (any case).
    pub fn parse(s: &str) -> Option<Method> {
        match s.to_ascii_uppercase().as_str() {
            "PUBLISH" => Some(Method::Publish),
            "CANCEL" => Some(Method::Cancel),
            _ => None,
        }
    }
}

/// One session as a calendar event.
#[derive(Clone, Debug)]
pub struct Event {
    /// Stable across updates, so a later email updates or removes the same event.
    pub uid: String,
    /// Start, UTC.
    pub start: NaiveDateTime,
    /// End, UTC.
    pub end: NaiveDateTime,
    /// The course title.
    pub summary: String,
    /// The venue, if any.
    pub location: Option<String>,
    /// Free text (the course link, an online joining link).
    pub description: Option<String>,
    /// The course page.
    pub url: Option<String>,
    /// Whether this event is cancelled (`STATUS:CANCELLED`).
    pub cancelled: bool,
}

/// A whole calendar file.
#[derive(Clone, Debug)]
pub struct Calendar {
    /// PUBLISH or CANCEL.
    pub method: Method,
    /// Raised each time the events change, so clients replace the older copy.
    pub sequence: i64,
    /// When this file was made (`DTSTAMP`), UTC.
    pub stamp: NaiveDateTime,
    /// The organiser's display name and address (required by iTIP for PUBLISH and CANCEL).
    pub organizer_name: String,
    /// The organiser's address.
    pub organizer_email: String,
    /// The events.
    pub events: Vec<Event>,
}

impl Calendar {
    /// The file's text.
    pub fn to_ics(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| push_folded(&mut out, &s);
        line("BEGIN:VCALENDAR".into());
        line("VERSION:2.0".into());
        line("PRODID:-//cpd-hub//CPD bookings//EN".into());
        line("CALSCALE:GREGORIAN".into());
        line(format!("METHOD:{}", self.method.as_str()));
        for e in &self.events {
            let cancelled = e.cancelled || self.method == Method::Cancel;
            line("BEGIN:VEVENT".into());
            line(format!("UID:{}", escape_text(&e.uid)));
            line(format!("DTSTAMP:{}", utc(self.stamp)));
            line(format!("SEQUENCE:{}", self.sequence.max(0)));
            line(format!("DTSTART:{}", utc(e.start)));
            line(format!("DTEND:{}", utc(e.end)));
            line(format!("SUMMARY:{}", escape_text(&e.summary)));
            if let Some(l) = e.location.as_deref().filter(|l| !l.trim().is_empty()) {
                line(format!("LOCATION:{}", escape_text(l)));
            }
            if let Some(d) = e.description.as_deref().filter(|d| !d.trim().is_empty()) {
                line(format!("DESCRIPTION:{}", escape_text(d)));
            }
            if let Some(u) = e.url.as_deref().filter(|u| !u.trim().is_empty()) {
                line(format!("URL:{}", strip_controls(u)));
            }
            line(format!(
                "ORGANIZER;CN={}:mailto:{}",
                param_value(&self.organizer_name),
                strip_controls(&self.organizer_email)
            ));
            line(format!(
                "STATUS:{}",
                if cancelled { "CANCELLED" } else { "CONFIRMED" }
            ));
            line("TRANSP:OPAQUE".into());
            line("END:VEVENT".into());
        }
        line("END:VCALENDAR".into());
        out
    }
}

/// `20270114T090000Z`.
fn utc(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (such as `CN=`): quoted when it holds `:`, `;` or `,`; double quotes
/// cannot appear in one at all, so they are dropped.
fn param_value(s: &str) -> String {
    let clean: String = strip_controls(s).chars().filter(|c| *c != '"').collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

fn strip_controls(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Appends one content line, folded so no physical line exceeds 75 octets (RFC 5545 3.1).
fn push_folded(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            // The leading space counts towards the continuation line's 75 octets.
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 1, 14)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn calendar(summary: &str) -> Calendar {
        Calendar {
            method: Method::Publish,
            sequence: 2,
            stamp: at(8, 0),
            organizer_name: "CPD team".into(),
            organizer_email: "cpd@alliance.test".into(),
            events: vec![Event {
                uid: "course-1-s1".into(),
                start: at(9, 0),
                end: at(15, 30),
                summary: summary.into(),
                location: Some("Barnsley Civic, Hanson Street; S70 2HZ".into()),
                description: Some("Line one\nLine two".into()),
                url: Some("https://cpd.example.org/courses/1".into()),
                cancelled: false,
            }],
        }
    }

    #[test]
    fn lines_end_with_crlf_and_values_are_escaped() {
        let ics = calendar("Maths, mastery; and \\ more").to_ics();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF found");
        assert!(ics.contains("SUMMARY:Maths\\, mastery\\; and \\\\ more\r\n"));
        assert!(ics.contains("LOCATION:Barnsley Civic\\, Hanson Street\\; S70 2HZ\r\n"));
        assert!(ics.contains("DESCRIPTION:Line one\\nLine two\r\n"));
        assert!(ics.contains("DTSTART:20270114T090000Z\r\n"));
        assert!(ics.contains("SEQUENCE:2\r\n"));
        assert!(ics.contains("METHOD:PUBLISH\r\n"));
        assert!(ics.contains("STATUS:CONFIRMED\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let title = "Évaluation – ".repeat(20);
        let ics = calendar(&title).to_ics();
        for physical in ics.split("\r\n") {
            assert!(
                physical.len() <= 75,
                "{} octets: {physical}",
                physical.len()
            );
        }
        // Unfolding gives back the escaped value exactly.
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:{}\r\n", escape_text(&title))));
    }

    #[test]
    fn cancel_marks_every_event_cancelled() {
        let mut c = calendar("Phonics");
        c.method = Method::Cancel;
        let ics = c.to_ics();
        assert!(ics.contains("METHOD:CANCEL\r\n"));
        assert!(ics.contains("STATUS:CANCELLED\r\n"));
    }

    #[test]
    fn organiser_names_with_separators_are_quoted() {
        let mut c = calendar("Phonics");
        c.organizer_name = "Alliance: CPD \"team\"".into();
        assert!(c
            .to_ics()
            .contains("ORGANIZER;CN=\"Alliance: CPD team\":mailto:cpd@alliance.test\r\n"));
    }
}
