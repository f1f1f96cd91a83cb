//! Every CSV the service produces is encoded here: UTF-8 behind a byte-order mark (so Excel
//! reads it as UTF-8), CRLF line ends, and no cell that a spreadsheet would run as a formula.

use std::borrow::Cow;

/// The byte-order mark a CSV file starts with.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A cell as a spreadsheet will not run it: text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be read as a formula (OWASP's CSV injection), so it gets a leading
/// apostrophe, which Excel hides. Numbers (a negative change, say) stay numbers.
pub fn cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.trim().parse::<f64>().is_err() {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One record, every field made safe by [`cell`], quoted as needed and ended with CRLF.
pub fn record<I, T>(fields: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    // A report by school writes tens of thousands of records: each field is written as it
    // comes (no copy of it), through a writer whose buffer is a record's size, not the
    // default 8 KiB.
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .buffer_capacity(256)
        .from_writer(Vec::with_capacity(256));
    // Writing to a Vec cannot fail.
    for f in fields {
        let _ = w.write_field(cell(f.as_ref()).as_bytes());
    }
    // An empty record ends the one written field by field.
    let _ = w.write_record(None::<&[u8]>);
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x.example\",\"y\")"),
            "'=HYPERLINK(\"http://x.example\",\"y\")"
        );
        for text in ["+44 1226", "-x", "@SUM(A1)", "\tnote", "\rnote"] {
            assert!(cell(text).starts_with('\''), "{text:?}");
        }
        for text in ["-3", "-0.25", "+1", "Hoyland Common Primary", "", "0.5"] {
            assert_eq!(cell(text), text);
        }
        assert_eq!(
            record(["a,b", "=1+1", "-2"]),
            b"\"a,b\",'=1+1,-2\r\n".to_vec()
        );
        assert_eq!(
            record(["say \"hi\"", "", "two\nlines", "x"]),
            b"\"say \"\"hi\"\"\",,\"two\nlines\",x\r\n".to_vec()
        );
        // A record of one empty field is written as one, not as an empty line.
        assert_eq!(record([""]), b"\"\"\r\n".to_vec());
    }
}
