//! Small text rules shared by several records.

/// Trims and lower-cases an email address, the form in which it is stored and compared.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plain check that a string looks like an email address: one `@`, something before it and
/// a dotted domain after it, no spaces. Deliverability is proven by the sign-in email.
pub fn is_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254
}

/// A lower-case key from a display name: `Teaching assistant` -> `teaching_assistant`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// Normalises a UK postcode to upper case with one space before the inward code
/// (`s702hz` -> `S70 2HZ`); returns `None` when it cannot be a postcode.
pub fn normalise_postcode(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(5..=7).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = inward.as_bytes()[0].is_ascii_digit()
        && inward.as_bytes()[1..].iter().all(u8::is_ascii_alphabetic);
    let outward_ok = outward.as_bytes()[0].is_ascii_alphabetic();
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

/// Fields whose text may run over several lines (a course summary, a reason, a note, an
/// address, the free-text answers of an evaluation): only these may hold a tab, a line feed or
/// a carriage return. A field is named by the last key of its path (`venue.address`), or by
/// any key above it (every answer under `answers`).
pub const MULTI_LINE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "reason",
    "cancel_reason",
    "note",
    "address",
    "help",
    "prompt",
    "answers",
];

/// Whether a field, named by its path (`sessions[0].venue.address`, `items[2].note`, a form's
/// `q-confidence`), may hold several lines: see [`MULTI_LINE_FIELDS`]. Evaluation forms name
/// their free-text answers `q-<key>`.
pub fn is_multi_line_field(path: &str) -> bool {
    path.starts_with("q-")
        || path
            .split(['.', '['])
            .map(|part| part.trim_end_matches(']'))
            .any(|part| MULTI_LINE_FIELDS.contains(&part))
}

/// Why a piece of text cannot be accepted, or `None` when it can. Control characters (C0,
/// DEL and C1) are refused everywhere: NUL cannot be stored by PostgreSQL at all, and the
/// others only hide or garble what people read; tab, line feed and carriage return are
/// accepted in multi-line fields only.
pub fn text_problem(text: &str, multi_line: bool) -> Option<&'static str> {
    let refused = |c: char| c.is_control() && !(multi_line && matches!(c, '\t' | '\n' | '\r'));
    if !text.chars().any(refused) {
        None
    } else if multi_line {
        Some("must not contain control characters (only tabs and line breaks)")
    } else {
        Some("must not contain control characters or line breaks")
    }
}

/// Whether a string is a record id as cpd-hub makes them: a UUID in its hyphenated form.
/// Anything else cannot name a record, so it is answered "not found" without a query.
pub fn is_record_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("a.b@school.sch.uk"));
        assert!(!is_email("nobody"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.uk"));
        assert_eq!(
            normalise_email("  Jo.Smith@Example.ORG "),
            "jo.smith@example.org"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Teaching assistant"), "teaching_assistant");
        assert_eq!(slug("SEND / Inclusion"), "send_inclusion");
        assert_eq!(slug("  Early-years  "), "early_years");
    }

    #[test]
    fn postcodes() {
        assert_eq!(normalise_postcode("s702hz").as_deref(), Some("S70 2HZ"));
        assert_eq!(normalise_postcode("S70 2HZ").as_deref(), Some("S70 2HZ"));
        assert_eq!(normalise_postcode("SW1A1AA").as_deref(), Some("SW1A 1AA"));
        assert_eq!(normalise_postcode("hello"), None);
        assert_eq!(normalise_postcode("12345"), None);
    }

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_where_text_runs_over_lines() {
        assert_eq!(text_problem("Barnsley Teaching Hub", false), None);
        assert_eq!(text_problem("Zoë Ødegård, Siân", false), None);
        for bad in ["a\u{0}b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}", "a\u{9f}"] {
            assert!(text_problem(bad, false).is_some(), "{bad:?}");
            assert!(text_problem(bad, true).is_some(), "{bad:?}");
        }
        for breaks in ["line 1\nline 2", "a\r\nb", "col\tcol"] {
            assert!(text_problem(breaks, false).is_some(), "{breaks:?}");
            assert_eq!(text_problem(breaks, true), None, "{breaks:?}");
        }
        for field in [
            "summary",
            "reason",
            "items[2].note",
            "venue.address",
            "answers.q1",
            "q-comments",
        ] {
            assert!(is_multi_line_field(field), "{field}");
        }
        for field in [
            "name",
            "email",
            "title",
            "sessions[0].venue.name",
            "q",
            "notes_name",
        ] {
            assert!(!is_multi_line_field(field), "{field}");
        }
    }

    #[test]
    fn record_ids_are_hyphenated_uuids() {
        assert!(is_record_id("0190f000-0000-7000-8000-000000000000"));
        for bad in [
            "",
            "abc",
            "a\u{0}b",
            "0190f0000000700080000000000000000",
            "{0190f000-0000-7000-8000-000000000000}",
        ] {
            assert!(!is_record_id(bad), "{bad:?}");
        }
    }
}
