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
}
