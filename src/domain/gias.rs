//! Reading a DfE "Get Information about Schools" (GIAS) establishment CSV into school records,
//! line by line, with a plain reason for every line that cannot be used.
//!
//! GIAS downloads are Windows-1252; files saved again by a spreadsheet are often UTF-8 with a
//! byte-order mark. Both are read. Columns are found by their GIAS header names, in any order;
//! the rest of GIAS's several hundred columns are ignored.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;

use super::school::{gias_is_open, Phase, URN_MAX};
use super::text::normalise_postcode;

/// The GIAS columns an import needs, spelled exactly as GIAS spells them.
pub const COLUMNS: [&str; 7] = [
    "URN",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (name)",
    "LA (name)",
    "Postcode",
];

/// An optional extra column naming each school's cluster (not a GIAS column: the alliance adds it).
pub const CLUSTER_COLUMN: &str = "Cluster";

/// The longest school name cpd-hub keeps (the API has the same rule).
pub const NAME_MAX: usize = 200;
/// The longest cluster name (the API has the same rule).
pub const CLUSTER_NAME_MAX: usize = 120;
/// The longest establishment type or local authority name.
pub const LABEL_MAX: usize = 120;

/// One school as a GIAS line describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchoolRecord {
    /// The DfE unique reference number.
    pub urn: i64,
    /// The establishment's name.
    pub name: String,
    /// The phase, with special schools and alternative provision told apart.
    pub phase: Phase,
    /// GIAS's type of establishment, e.g. "Academy converter".
    pub school_type: String,
    /// The local authority's name.
    pub local_authority: String,
    /// The normalised postcode, or empty when GIAS has none.
    pub postcode: String,
    /// Whether the establishment is open.
    pub is_open: bool,
    /// The cluster's name, when the file or the mapping gives one.
    pub cluster: Option<String>,
}

/// A line that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// The line number as a spreadsheet shows it (the header is line 1).
    pub line: u64,
    /// The URN as written on the line, if there is one.
    pub urn: Option<String>,
    /// Why the line was not imported.
    pub reason: String,
}

/// A whole file read: the usable lines (with their line numbers) and the rejected ones.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Line number and school, in file order.
    pub records: Vec<(u64, SchoolRecord)>,
    /// The lines that cannot be used, in file order.
    pub rejected: Vec<Rejected>,
}

/// URN -> cluster name, from a `URN,cluster` mapping file.
pub type ClusterMap = HashMap<i64, String>;

/// The text of a file: UTF-8 (a byte-order mark is dropped) when the bytes are valid UTF-8,
/// otherwise Windows-1252, which GIAS downloads use and which decodes any byte sequence.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// Where each needed column is in a file.
struct Columns {
    urn: usize,
    name: usize,
    school_type: usize,
    status: usize,
    phase: usize,
    local_authority: usize,
    postcode: usize,
    cluster: Option<usize>,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, String> {
        let position = |name: &str| header.iter().position(|h| h.trim() == name);
        let missing: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| position(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the header line lacks the GIAS column{} {}; a GIAS establishment download has them all",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let at = |name: &str| position(name).unwrap_or_default();
        Ok(Columns {
            urn: at(COLUMNS[0]),
            name: at(COLUMNS[1]),
            school_type: at(COLUMNS[2]),
            status: at(COLUMNS[3]),
            phase: at(COLUMNS[4]),
            local_authority: at(COLUMNS[5]),
            postcode: at(COLUMNS[6]),
            cluster: position(CLUSTER_COLUMN),
        })
    }
}

/// Line breaks inside quoted fields: a spreadsheet shows such a record on one row, so they must
/// not push later line numbers on.
fn inner_line_breaks(record: &csv::StringRecord) -> u64 {
    record.iter().map(|f| f.matches('\n').count() as u64).sum()
}

/// Turns the byte offsets csv reports into line numbers, counting forward only once. (csv's own
/// line numbers miscount CRLF files and blank lines.)
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The physical line of a record csv says starts at `byte`: csv points at the line
    /// breaks it skipped before the record, so skip them here too.
    fn line_of(&mut self, byte: u64) -> u64 {
        let mut start = (byte as usize).min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.at {
            self.line += self.text[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = start;
        }
        self.line
    }
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        // A short or long line is that line's problem, not the file's.
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// Reads a GIAS file. `Err` only when the file as a whole cannot be used (empty, or a needed
/// column missing); a bad line is rejected with its reason and the others are kept. A cluster in
/// `clusters` wins over the file's own `Cluster` column.
pub fn parse(bytes: &[u8], clusters: Option<&ClusterMap>) -> Result<Parsed, String> {
    let text = decode(bytes);
    let mut reader = csv_reader(&text);
    let mut rows = reader.records();
    let header = match rows.next() {
        None => return Err("the file is empty".into()),
        Some(Err(e)) => return Err(format!("the header line cannot be read: {e}")),
        Some(Ok(h)) => h,
    };
    let columns = Columns::find(&header)?;
    let mut lines = LineCounter::new(&text);
    let mut extra_breaks = inner_line_breaks(&header);
    let mut first_line_of: HashMap<i64, u64> = HashMap::new();
    let mut parsed = Parsed::default();
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = lines.line_of(e.position().map_or(0, |p| p.byte())) - extra_breaks;
                parsed.rejected.push(Rejected {
                    line,
                    urn: None,
                    reason: format!("the line cannot be read as CSV: {e}"),
                });
                continue;
            }
        };
        let line = lines.line_of(row.position().map_or(0, |p| p.byte())) - extra_breaks;
        extra_breaks += inner_line_breaks(&row);
        match read_row(&columns, &row, clusters) {
            Ok(record) => {
                if let Some(first) = first_line_of.get(&record.urn) {
                    parsed.rejected.push(Rejected {
                        line,
                        urn: Some(record.urn.to_string()),
                        reason: format!("URN {} is already on line {first}", record.urn),
                    });
                } else {
                    first_line_of.insert(record.urn, line);
                    parsed.records.push((line, record));
                }
            }
            Err((urn, reason)) => parsed.rejected.push(Rejected { line, urn, reason }),
        }
    }
    Ok(parsed)
}

/// One line to a school, or the URN as written and the reason it cannot be used.
fn read_row(
    columns: &Columns,
    row: &csv::StringRecord,
    clusters: Option<&ClusterMap>,
) -> Result<SchoolRecord, (Option<String>, String)> {
    let field = |i: usize| row.get(i).unwrap_or("").trim();
    let raw_urn = field(columns.urn);
    if raw_urn.is_empty() {
        return Err((None, "the URN is missing".into()));
    }
    let urn_text = Some(raw_urn.to_string());
    let urn = match parse_urn(raw_urn) {
        Some(urn) => urn,
        None => {
            return Err((
                urn_text,
                format!("the URN {raw_urn:?} is not a number from 1 to {URN_MAX}"),
            ))
        }
    };
    let name = field(columns.name);
    if name.is_empty() {
        return Err((urn_text, "the establishment name is empty".into()));
    }
    if name.chars().count() > NAME_MAX {
        return Err((
            urn_text,
            format!("the establishment name is longer than {NAME_MAX} characters"),
        ));
    }
    let raw_postcode = field(columns.postcode);
    let postcode = if raw_postcode.is_empty() {
        String::new()
    } else {
        match normalise_postcode(raw_postcode) {
            Some(p) => p,
            None => {
                return Err((
                    urn_text,
                    format!("the postcode {raw_postcode:?} is not a UK postcode"),
                ))
            }
        }
    };
    let school_type = field(columns.school_type);
    let local_authority = field(columns.local_authority);
    for (what, value) in [
        ("type of establishment", school_type),
        ("local authority", local_authority),
    ] {
        if value.chars().count() > LABEL_MAX {
            return Err((
                urn_text,
                format!("the {what} is longer than {LABEL_MAX} characters"),
            ));
        }
    }
    let cluster = clusters
        .and_then(|m| m.get(&urn).cloned())
        .or_else(|| columns.cluster.map(|i| field(i).to_string()))
        .filter(|c| !c.is_empty());
    if cluster
        .as_ref()
        .is_some_and(|c| c.chars().count() > CLUSTER_NAME_MAX)
    {
        return Err((
            urn_text,
            format!("the cluster name is longer than {CLUSTER_NAME_MAX} characters"),
        ));
    }
    Ok(SchoolRecord {
        urn,
        name: name.to_string(),
        phase: Phase::from_gias(field(columns.phase), school_type),
        school_type: school_type.to_string(),
        local_authority: local_authority.to_string(),
        postcode,
        is_open: gias_is_open(field(columns.status)),
        cluster,
    })
}

/// A URN: digits only, from 1 to [`URN_MAX`].
pub fn parse_urn(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>()
        .ok()
        .filter(|u| (1..=URN_MAX).contains(u))
}

/// Reads a cluster mapping file: CSV lines `URN,cluster`, with or without a header line.
/// Any bad line makes the whole mapping unusable (it is a small file the user writes), and
/// the error names the line.
pub fn parse_cluster_map(bytes: &[u8]) -> Result<ClusterMap, String> {
    let text = decode(bytes);
    let mut reader = csv_reader(&text);
    let mut lines = LineCounter::new(&text);
    let mut map = ClusterMap::new();
    let mut first = true;
    for row in reader.records() {
        let row = row.map_err(|e| format!("the mapping cannot be read as CSV: {e}"))?;
        let line = lines.line_of(row.position().map_or(0, |p| p.byte()));
        let raw_urn = row.get(0).unwrap_or("").trim();
        let cluster = row.get(1).unwrap_or("").trim();
        let is_first = std::mem::replace(&mut first, false);
        if is_first && raw_urn.eq_ignore_ascii_case("urn") {
            continue;
        }
        if row.len() != 2 {
            return Err(format!("line {line}: expected two values, URN and cluster"));
        }
        let urn = parse_urn(raw_urn)
            .ok_or_else(|| format!("line {line}: the URN {raw_urn:?} is not a number"))?;
        if cluster.is_empty() {
            return Err(format!("line {line}: the cluster name is empty"));
        }
        if cluster.chars().count() > CLUSTER_NAME_MAX {
            return Err(format!(
                "line {line}: the cluster name is longer than {CLUSTER_NAME_MAX} characters"
            ));
        }
        if let Some(before) = map.get(&urn) {
            if !before.eq_ignore_ascii_case(cluster) {
                return Err(format!(
                    "line {line}: URN {urn} is already mapped to {before:?}"
                ));
            }
        }
        map.insert(urn, cluster.to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "URN,LA (name),EstablishmentName,TypeOfEstablishment (name),EstablishmentStatus (name),PhaseOfEducation (name),Postcode,Website";

    fn file(lines: &[&str]) -> Vec<u8> {
        let mut s = String::from(HEADER);
        for l in lines {
            s.push_str("\r\n");
            s.push_str(l);
        }
        s.into_bytes()
    }

    #[test]
    fn reads_a_good_line_with_columns_in_any_order() {
        let p = parse(
            &file(&[
                "106600,Barnsley,Hoyland Common Primary,Community school,Open,Primary,s749 ab ,x",
            ]),
            None,
        )
        .unwrap();
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let (line, r) = &p.records[0];
        assert_eq!(*line, 2);
        assert_eq!(r.urn, 106600);
        assert_eq!(r.name, "Hoyland Common Primary");
        assert_eq!(r.phase, Phase::Primary);
        assert_eq!(r.school_type, "Community school");
        assert_eq!(r.local_authority, "Barnsley");
        assert_eq!(r.postcode, "S74 9AB");
        assert!(r.is_open);
        assert_eq!(r.cluster, None);
    }

    #[test]
    fn rejects_bad_lines_with_their_line_and_reason() {
        let p = parse(
            &file(&[
                ",Barnsley,No URN,Community school,Open,Primary,S70 2HZ,",
                "12a,Barnsley,Letters,Community school,Open,Primary,S70 2HZ,",
                "106601,Barnsley,,Community school,Open,Primary,S70 2HZ,",
                "106602,Barnsley,Bad Postcode,Community school,Open,Primary,NOT A POSTCODE,",
                "106603,Barnsley,Good,Community school,Closed,Primary,,",
                "106603,Barnsley,Twice,Community school,Open,Primary,,",
                "106604",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].0, 6);
        assert!(!p.records[0].1.is_open);
        let got: Vec<(u64, Option<&str>)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.urn.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, None),
                (3, Some("12a")),
                (4, Some("106601")),
                (5, Some("106602")),
                (7, Some("106603")),
                (8, Some("106604")),
            ]
        );
        assert!(p.rejected[0].reason.contains("URN is missing"));
        assert!(p.rejected[1].reason.contains("not a number"));
        assert!(p.rejected[2].reason.contains("name is empty"));
        assert!(p.rejected[3].reason.contains("postcode"));
        assert!(p.rejected[4].reason.contains("already on line 6"));
        assert!(p.rejected[5].reason.contains("name is empty"));
    }

    #[test]
    fn line_numbers_follow_spreadsheet_rows() {
        // A quoted name with a line break is one row; a blank line is a row of its own.
        let bytes = file(&[
            "1,LA,\"Two\nLines\",T,Open,Primary,,",
            "",
            "2,LA,,T,Open,Primary,,",
            "3,LA,Three,T,Open,Primary,,",
        ]);
        let p = parse(&bytes, None).unwrap();
        assert_eq!(p.records[0].0, 2);
        assert_eq!(p.rejected[0].line, 4);
        assert_eq!(p.records[1].0, 5);
        // The same with LF line ends.
        let lf = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
        let p = parse(lf.as_bytes(), None).unwrap();
        assert_eq!(p.rejected[0].line, 4);
        assert_eq!(p.records[1].0, 5);
    }

    #[test]
    fn a_missing_column_rejects_the_file() {
        let e = parse(b"URN,EstablishmentName\n1,A\n", None).unwrap_err();
        assert!(e.contains("\"Postcode\""), "{e}");
        assert!(e.contains("\"LA (name)\""), "{e}");
        assert_eq!(parse(b"", None).unwrap_err(), "the file is empty");
    }

    #[test]
    fn decodes_utf8_with_bom_and_windows_1252() {
        assert_eq!(decode("\u{feff}Brontë".as_bytes()), "Brontë");
        // 0x92 is the right single quote and 0xEB is ë in Windows-1252.
        assert_eq!(decode(b"St Mary\x92s Bront\xeb"), "St Mary\u{2019}s Brontë");
    }

    #[test]
    fn special_schools_are_known_by_type() {
        let p = parse(
            &file(&["106610,Barnsley,Greenacre School,Community special school,Open,Not applicable,S75 2EW,"]),
            None,
        )
        .unwrap();
        assert_eq!(p.records[0].1.phase, Phase::Special);
    }

    #[test]
    fn clusters_from_column_and_mapping() {
        let head = format!("{HEADER},Cluster");
        let bytes = format!(
            "{head}\n1,LA,A,T,Open,Primary,,,Dearne\n2,LA,B,T,Open,Primary,,,\n3,LA,C,T,Open,Primary,,,Dearne\n"
        );
        let p = parse(bytes.as_bytes(), None).unwrap();
        let clusters: Vec<Option<&str>> = p
            .records
            .iter()
            .map(|(_, r)| r.cluster.as_deref())
            .collect();
        assert_eq!(clusters, vec![Some("Dearne"), None, Some("Dearne")]);
        let map = parse_cluster_map(b"URN,cluster\n3,CARM\n").unwrap();
        let p = parse(bytes.as_bytes(), Some(&map)).unwrap();
        let clusters: Vec<Option<&str>> = p
            .records
            .iter()
            .map(|(_, r)| r.cluster.as_deref())
            .collect();
        assert_eq!(clusters, vec![Some("Dearne"), None, Some("CARM")]);
    }

    #[test]
    fn cluster_maps() {
        let m = parse_cluster_map(b"106600,Hoyland\r\n106601, Dearne \r\n").unwrap();
        assert_eq!(m.get(&106600).map(String::as_str), Some("Hoyland"));
        assert_eq!(m.get(&106601).map(String::as_str), Some("Dearne"));
        assert!(parse_cluster_map(b"URN,cluster\nx,Dearne\n")
            .unwrap_err()
            .starts_with("line 2:"));
        assert!(parse_cluster_map(b"1,\n").unwrap_err().contains("empty"));
        assert!(parse_cluster_map(b"1,A,B\n").is_err());
        assert!(parse_cluster_map(b"1,A\n1,B\n")
            .unwrap_err()
            .contains("already mapped"));
    }

    #[test]
    fn urns() {
        assert_eq!(parse_urn(" 106600 "), Some(106600));
        assert_eq!(parse_urn("0"), None);
        assert_eq!(parse_urn("-5"), None);
        assert_eq!(parse_urn("1e5"), None);
        assert_eq!(parse_urn("999999999"), None);
    }
}
