//! The dashboard's parameters and the view model the templates print, with every figure
//! already written out as text so the templates hold no arithmetic.

use minijinja::Value;
use serde::{Deserialize, Serialize};

use crate::domain::suppression::Cell;
use crate::reports::metrics::{EngagementMetrics, GroupBy};
use crate::reports::summary::{self as summary, count, percent, Figure, NO_DATA};
use crate::web::filter_query;

/// The dashboard's filters (a GET form, so a filtered view can be bookmarked and shared).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// First day of the window, `YYYY-MM-DD`. Default: 1 September of this academic year.
    pub from: Option<String>,
    /// Last day of the window, included. Default: 31 August of this academic year.
    pub to: Option<String>,
    /// The grouping of the tables: `school` (default on the dashboard; `term` on a school's
    /// view), `cluster`, `staff_group`, `priority`, `course` or `term`.
    pub group_by: Option<String>,
    /// An optional second grouping, for a cross-table (e.g. `staff_group` within clusters).
    pub then_by: Option<String>,
    /// What the term trend line shows: `attendance_rate` (default) or `bookings`.
    pub trend: Option<String>,
    /// School view only, for the CPD group and admins: which school.
    pub school: Option<String>,
    /// Only the rows whose name contains this (any case), in the tables by the grouping and
    /// the lists of schools: a school, cluster or course found among thousands. The totals
    /// still count every row. At most 100 characters.
    pub find: Option<String>,
    /// The page of the engagement table, from 1, when it has more rows than a page shows
    /// (`REPORT_TABLE_ROWS`). Absent or unreadable: the first; past the end: the last.
    pub engagement_page: Option<String>,
    /// The page of the impact table, as `engagement_page`.
    pub impact_page: Option<String>,
    /// The page of the cold spots' table, as `engagement_page`.
    pub cold_page: Option<String>,
    /// The page of the costs' table, as `engagement_page`.
    pub costs_page: Option<String>,
}

impl DashboardParams {
    /// Every parameter by its name in the address, in the order the links give them.
    fn pairs(&self) -> [(&'static str, Option<&str>); 11] {
        [
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("group_by", self.group_by.as_deref()),
            ("then_by", self.then_by.as_deref()),
            ("trend", self.trend.as_deref()),
            ("school", self.school.as_deref()),
            ("find", self.find.as_deref()),
            ("engagement_page", self.engagement_page.as_deref()),
            ("impact_page", self.impact_page.as_deref()),
            ("cold_page", self.cold_page.as_deref()),
            ("costs_page", self.costs_page.as_deref()),
        ]
    }

    /// The page asked for with `param` (one of the pages), as the address gave it.
    pub(super) fn page(&self, param: &str) -> Option<&str> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| *k == param)
            .and_then(|(_, v)| v)
    }

    /// The address of this view with `param` (one of the pages) set to `page`, every other
    /// filter and page kept as asked. The first page is the address without `param`: one
    /// address for it.
    pub(super) fn with_page(&self, path: &str, param: &str, page: usize) -> String {
        let page = (page > 1).then(|| page.to_string());
        let pairs: Vec<(&str, &str)> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| {
                let v = if k == param { page.as_deref() } else { v };
                (k, v.map(str::trim).unwrap_or_default())
            })
            .collect();
        match filter_query(&pairs) {
            qs if qs.is_empty() => path.to_string(),
            qs => format!("{path}?{qs}"),
        }
    }
}

/// The groupings as the filter offers them.
pub(super) const GROUPINGS: [(&str, &str); 6] = [
    ("school", "School"),
    ("cluster", "Cluster"),
    ("staff_group", "Staff group"),
    ("priority", "Strategic priority"),
    ("course", "Course"),
    ("term", "Term"),
];

/// A school sees its own bookings, so groupings by school or cluster say nothing more.
pub(super) const SCHOOL_GROUPINGS: [&str; 4] = ["term", "staff_group", "priority", "course"];

/// The most characters `find` may have.
pub(super) const FIND_MAX: usize = 100;

/// How many courses the dashboard's best-rated and largest-impact tables list.
pub(super) const TOP_COURSES: usize = 5;

// ---------------------------------------------------------------------------------------------
// The view model: everything the templates print, already written out.

/// A table as the templates lay it out: `<caption>`, `<th scope="col">` per column,
/// `<th scope="row">` per row.
#[derive(Debug, Serialize)]
pub(super) struct Table {
    pub(super) id: String,
    pub(super) caption: String,
    /// The first column's heading (what the rows are).
    pub(super) row_heading: String,
    pub(super) columns: Vec<Column>,
    pub(super) rows: Vec<Row>,
    /// A totals row, in `<tfoot>`.
    pub(super) totals: Option<Row>,
    /// The links to the table's other pages, when it has more rows than one page shows.
    pub(super) pager: Option<Pager>,
    /// What an empty table says, when not "No figures for this window."
    pub(super) empty: Option<String>,
}

/// Which page of a long table is shown, and the links to the pages beside it.
#[derive(Debug, Serialize)]
pub(super) struct Pager {
    /// The navigation's name for screen readers ("Pages of the engagement table").
    pub(super) label: String,
    /// What this page holds, e.g. "Schools 101 to 200 of 24,000".
    pub(super) shown: String,
    pub(super) page_no: usize,
    pub(super) pages: usize,
    pub(super) previous: Option<String>,
    pub(super) next: Option<String>,
}

/// How a long table is cut into pages.
pub(super) struct Paging<'a> {
    /// The page asked for, as the address gave it.
    pub(super) asked: Option<&'a str>,
    /// The most rows a page shows (`REPORT_TABLE_ROWS`).
    pub(super) rows: usize,
    /// What the table's groups are, one and several ("school", "schools").
    pub(super) noun: (&'a str, &'a str),
    /// The table's name in the pager's label ("the engagement table").
    pub(super) name: &'a str,
    /// The address of page n (the table's id is added, so the page opens at the table).
    pub(super) link: &'a dyn Fn(usize) -> String,
}

impl Table {
    /// Only the groups whose name contains `find` (ignoring case; nothing to find keeps them
    /// all), each with its subgroups; the caption says so. The totals row still counts every
    /// group, as on every page, and says so.
    pub(super) fn named(mut self, find: &str) -> Table {
        let find = find.trim();
        if find.is_empty() {
            return self;
        }
        let needle = find.to_lowercase();
        let mut keep = false;
        self.rows.retain(|r| {
            if !r.sub {
                keep = r.label.to_lowercase().contains(&needle);
            }
            keep
        });
        self.caption = format!("{}, names containing \u{201c}{find}\u{201d}", self.caption);
        self.empty = Some(format!("No name contains \u{201c}{find}\u{201d}."));
        if let Some(t) = &mut self.totals {
            t.label = format!("{}, not only those listed", t.label);
        }
        self
    }

    /// The table cut to the page asked for: whole groups only (a group's subgroups stay on
    /// its page), as many as fit in `rows` rows, and a group longer than that on a page of its
    /// own. A table that fits on one page is left as it is, with no pager. The caption says
    /// which groups the page holds, so it is read out with the table.
    pub(super) fn paged(mut self, paging: &Paging) -> Table {
        // Each page's first row and its groups, walked once: (first row, first group).
        let mut starts: Vec<(usize, usize)> = Vec::new();
        let (mut on_page, mut groups) = (0usize, 0usize);
        let mut i = 0;
        while i < self.rows.len() {
            let end = i + 1 + self.rows[i + 1..].iter().take_while(|r| r.sub).count();
            let len = end - i;
            if starts.is_empty() || (on_page > 0 && on_page + len > paging.rows) {
                starts.push((i, groups));
                on_page = 0;
            }
            on_page += len;
            groups += 1;
            i = end;
        }
        if starts.len() <= 1 {
            return self;
        }
        let pages = starts.len();
        let page_no = super::super::page_number(paging.asked).clamp(1, pages as i64) as usize;
        let (first_row, first_group) = starts[page_no - 1];
        let (end_row, end_group) = starts
            .get(page_no)
            .copied()
            .unwrap_or((self.rows.len(), groups));
        self.rows.truncate(end_row);
        self.rows.drain(..first_row);
        let of = summary::count(groups as f64);
        let shown = if end_group == first_group + 1 {
            let n = summary::count(end_group as f64);
            format!("{} {n} of {of}", paging.noun.0)
        } else {
            let (a, b) = (first_group + 1, end_group);
            let (a, b) = (summary::count(a as f64), summary::count(b as f64));
            format!("{} {a} to {b} of {of}", paging.noun.1)
        };
        self.caption = format!("{} ({shown}, page {page_no} of {pages})", self.caption);
        let shown = capitalised(&shown);
        let link = |n: usize| format!("{}#{}", (paging.link)(n), self.id);
        let previous = (page_no > 1).then(|| link(page_no - 1));
        let next = (page_no < pages).then(|| link(page_no + 1));
        self.pager = Some(Pager {
            label: format!("Pages of {}", paging.name),
            shown,
            page_no,
            pages,
            previous,
            next,
        });
        self
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What a table's rows are, one and several, for the pager ("Schools 1 to 100 of 24,000").
pub(super) fn grouping_noun(g: GroupBy) -> (&'static str, &'static str) {
    match g {
        GroupBy::School => ("school", "schools"),
        GroupBy::Cluster => ("cluster", "clusters"),
        GroupBy::StaffGroup => ("staff group", "staff groups"),
        GroupBy::Priority => ("priority", "priorities"),
        GroupBy::Course => ("course", "courses"),
        GroupBy::Term => ("term", "terms"),
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Column {
    /// The metric's API name (`data-metric`), so a column can be matched with the JSON.
    key: String,
    label: String,
    /// Numbers are right-aligned.
    numeric: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct Row {
    pub(super) key: String,
    pub(super) label: String,
    /// A link on the row heading, if any.
    pub(super) href: Option<String>,
    /// A subgroup of the row above (a cross-table's second level).
    pub(super) sub: bool,
    /// The group a subgroup belongs to, read out before its label (it is shown indented).
    pub(super) parent: Option<String>,
    pub(super) cells: Vec<String>,
}

impl Row {
    /// A row of its own: no link, not a subgroup.
    pub(super) fn plain(key: String, label: String, cells: Vec<String>) -> Row {
        Row {
            key,
            label,
            href: None,
            sub: false,
            parent: None,
            cells,
        }
    }
}

pub(super) fn col(key: &str, label: &str, numeric: bool) -> Column {
    Column {
        key: key.into(),
        label: label.into(),
        numeric,
    }
}

/// A chart with the table of its figures.
#[derive(Debug, Serialize)]
pub(super) struct ChartView {
    pub(super) id: String,
    pub(super) heading: String,
    /// The SVG (rendered as is: it is built by `charts`, which escapes every label).
    #[serde(skip)]
    pub(super) svg: String,
    pub(super) table: Table,
}

impl ChartView {
    pub(super) fn to_value(&self) -> Value {
        Value::from(
            [
                ("id", Value::from(self.id.clone())),
                ("heading", Value::from(self.heading.clone())),
                ("svg", Value::from_safe_string(self.svg.clone())),
                ("table", Value::from_serialize(&self.table)),
            ]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
        )
    }
}

#[derive(Debug, Serialize)]
pub(super) struct FigureView {
    key: &'static str,
    label: &'static str,
    value: String,
    detail: Option<String>,
    missing: bool,
    /// The same figure for the same window a year earlier.
    previous: Option<String>,
}

pub(super) fn figures(now: &EngagementMetrics, before: &EngagementMetrics) -> Vec<FigureView> {
    let earlier = summary::headline(before);
    summary::headline(now)
        .into_iter()
        .zip(earlier)
        .map(|(f, e): (Figure, Figure)| FigureView {
            key: f.key,
            label: f.label,
            value: f.value,
            detail: f.detail,
            missing: f.missing,
            previous: Some(e.value),
        })
        .collect()
}

/// The form's current values and choices.
#[derive(Debug, Serialize)]
pub(super) struct Filters {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) group_by: String,
    pub(super) then_by: String,
    pub(super) trend: String,
    pub(super) groupings: Vec<(String, String)>,
    pub(super) school: Option<String>,
    pub(super) find: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Link {
    pub(super) label: String,
    pub(super) href: String,
}

// ---------------------------------------------------------------------------------------------
// Writing figures.

pub(super) fn rate(v: Option<f64>) -> String {
    v.map(percent).unwrap_or_else(|| NO_DATA.into())
}

pub(super) fn num(n: i64) -> String {
    count(n as f64)
}

pub(super) fn per_school(v: Option<f64>) -> String {
    match v {
        None => NO_DATA.into(),
        Some(v) => {
            let r = (v * 10.0).round() / 10.0;
            if r.fract() == 0.0 {
                count(r)
            } else {
                format!(
                    "{}.{}",
                    count(r.trunc()),
                    ((r.fract() * 10.0).round() as i64).abs()
                )
            }
        }
    }
}

pub(super) fn cell_count(c: &Cell<i64>) -> String {
    match c {
        Cell::Shown(n) => num(*n),
        Cell::Suppressed(s) => s.reason.clone(),
    }
}

pub(super) fn grouping_label(g: GroupBy) -> &'static str {
    GROUPINGS
        .iter()
        .find(|(k, _)| *k == g.as_str())
        .map(|(_, l)| *l)
        .unwrap_or("Group")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(groups: &[usize]) -> Table {
        let mut rows = Vec::new();
        for (g, subs) in groups.iter().enumerate() {
            rows.push(Row::plain(format!("g{g}"), format!("Group {g}"), vec![]));
            for s in 0..*subs {
                rows.push(Row {
                    key: format!("g{g}/{s}"),
                    label: format!("Sub {s}"),
                    href: None,
                    sub: true,
                    parent: Some(format!("Group {g}")),
                    cells: vec![],
                });
            }
        }
        Table {
            id: "t".into(),
            caption: "Engagement by school".into(),
            row_heading: "School".into(),
            columns: vec![],
            rows,
            totals: None,
            pager: None,
            empty: None,
        }
    }

    fn page_of(t: Table, asked: Option<&str>, rows: usize) -> Table {
        t.paged(&Paging {
            asked,
            rows,
            noun: ("school", "schools"),
            name: "the engagement table",
            link: &|n| format!("/reports?page={n}"),
        })
    }

    fn keys(t: &Table) -> Vec<&str> {
        t.rows.iter().map(|r| r.key.as_str()).collect()
    }

    #[test]
    fn a_long_table_shows_one_page_of_its_rows() {
        let t = page_of(table(&[0; 250]), Some("2"), 100);
        assert_eq!(t.rows.len(), 100);
        assert_eq!(
            (t.rows[0].key.as_str(), t.rows[99].key.as_str()),
            ("g100", "g199")
        );
        let p = t.pager.as_ref().unwrap();
        assert_eq!((p.page_no, p.pages), (2, 3));
        assert_eq!(p.shown, "Schools 101 to 200 of 250");
        assert_eq!(p.label, "Pages of the engagement table");
        assert_eq!(p.previous.as_deref(), Some("/reports?page=1#t"));
        assert_eq!(p.next.as_deref(), Some("/reports?page=3#t"));
        assert_eq!(
            t.caption,
            "Engagement by school (schools 101 to 200 of 250, page 2 of 3)"
        );

        // Unreadable is the first page, past the end the last.
        let first = page_of(table(&[0; 250]), Some("x"), 100);
        assert_eq!(keys(&first)[0], "g0");
        assert!(first.pager.as_ref().unwrap().previous.is_none());
        let last = page_of(table(&[0; 250]), Some("40"), 100);
        assert_eq!(last.rows.len(), 50);
        let p = last.pager.unwrap();
        assert_eq!((p.page_no, p.next.is_none()), (3, true));
        assert_eq!(p.shown, "Schools 201 to 250 of 250");

        // A table that fits is left alone.
        let fits = page_of(table(&[0; 100]), Some("2"), 100);
        assert_eq!(fits.rows.len(), 100);
        assert!(fits.pager.is_none());
        assert_eq!(fits.caption, "Engagement by school");
    }

    #[test]
    fn a_group_and_its_subgroups_stay_on_one_page() {
        // Groups of 5 rows in pages of 12: two groups a page, never a subgroup cut from its
        // group; a group longer than a page has one of its own.
        let mut sizes = vec![4; 5];
        sizes.insert(2, 20);
        let all = table(&sizes);
        let total = all.rows.len();
        let mut seen = Vec::new();
        let mut pages = 0;
        for n in 1..=10 {
            let t = page_of(table(&sizes), Some(&n.to_string()), 12);
            pages = t.pager.as_ref().unwrap().pages;
            if n > pages {
                break;
            }
            assert!(!t.rows[0].sub, "page {n} starts with a subgroup");
            assert!(
                t.rows.len() <= 12 || t.rows.len() == 21,
                "page {n}: {}",
                t.rows.len()
            );
            seen.extend(t.rows.into_iter().map(|r| r.key));
        }
        assert_eq!(pages, 4);
        assert_eq!(seen.len(), total, "every row on exactly one page");
        assert_eq!(
            seen,
            all.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
        );
        let third = page_of(table(&sizes), Some("3"), 12);
        assert_eq!(third.pager.unwrap().shown, "Schools 4 to 5 of 6");
        let second = page_of(table(&sizes), Some("2"), 12);
        assert_eq!(second.pager.unwrap().shown, "School 3 of 6");
    }

    #[test]
    fn only_the_names_asked_for_with_their_subgroups() {
        let t = table(&[1, 2, 0]).named("  GROUP 1 ");
        assert_eq!(keys(&t), ["g1", "g1/0", "g1/1"]);
        assert_eq!(
            t.caption,
            "Engagement by school, names containing \u{201c}GROUP 1\u{201d}"
        );
        let mut totalled = table(&[1]);
        totalled.totals = Some(Row::plain("total".into(), "All".into(), vec![]));
        let totalled = totalled.named("1");
        assert_eq!(totalled.totals.unwrap().label, "All, not only those listed");
        let none = table(&[1, 2, 0]).named("Oak");
        assert!(none.rows.is_empty());
        assert_eq!(
            none.empty.as_deref(),
            Some("No name contains \u{201c}Oak\u{201d}.")
        );
        // A subgroup's name alone does not keep it, and nothing to find keeps every row.
        assert!(table(&[1]).named("Sub 0").rows.is_empty());
        let all = table(&[1, 2, 0]).named(" ");
        assert_eq!(all.rows.len(), 6);
        assert!(all.empty.is_none());
        // Found, then paged: the pages count what was found.
        let found = page_of(table(&[0; 30]).named("group 1"), Some("2"), 5);
        assert_eq!(keys(&found), ["g14", "g15", "g16", "g17", "g18"]);
        assert_eq!(found.pager.unwrap().shown, "Schools 6 to 10 of 11");
    }

    #[test]
    fn page_links_keep_the_filters_and_the_other_tables_pages() {
        let p = DashboardParams {
            from: Some("2025-09-01".into()),
            group_by: Some("school".into()),
            then_by: Some("".into()),
            impact_page: Some("3".into()),
            engagement_page: Some("2".into()),
            find: Some("Oak & Ash".into()),
            ..Default::default()
        };
        assert_eq!(
            p.with_page("/reports", "engagement_page", 4),
            "/reports?from=2025-09-01&group_by=school&find=Oak+%26+Ash&engagement_page=4&impact_page=3"
        );
        assert_eq!(
            p.with_page("/reports", "engagement_page", 1),
            "/reports?from=2025-09-01&group_by=school&find=Oak+%26+Ash&impact_page=3"
        );
        assert_eq!(
            DashboardParams::default().with_page("/reports", "cold_page", 1),
            "/reports"
        );
        // The page each table was asked for, by its parameter.
        assert_eq!(
            (
                p.page("engagement_page"),
                p.page("impact_page"),
                p.page("cold_page")
            ),
            (Some("2"), Some("3"), None)
        );
    }

    #[test]
    fn averages_per_school_read_with_one_decimal() {
        assert_eq!(per_school(Some(2.25)), "2.3");
        assert_eq!(per_school(Some(3.0)), "3");
        assert_eq!(per_school(Some(1234.5)), "1,234.5");
        assert_eq!(per_school(None), "no data");
    }
}
