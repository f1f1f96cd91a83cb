//! What a read of the sums asks for and gets back: the method, the row of every summed column,
//! the columns wanted, and the numbered parameters the SQL is built with.

use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use crate::reports::metrics::{EngagementCounts, GroupBy, ImpactCounts};

use crate::store::report_cells::{Param, COLUMNS};

/// The backend of a pooled connection (either database).
type Backend = <crate::db::DbConn as diesel::Connection>::Backend;

// ---------------------------------------------------------------------------------------------
// Reading the report cells

/// How a report is worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// From the report cells (`store::report_cells`), with the courses marked since they were
    /// last summed (or whose held sessions have changed with time) worked out live. The
    /// alliance's reports use it.
    Cells,
    /// Straight from the bookings and their marks, invitations and answers, with the same
    /// per-booking sums the cells are made of: a school's own view (a few hundred bookings,
    /// found by the school's index), and the reference the kept sums are checked against.
    Bookings,
}

/// One row of sums read through the cells: its keys, and the columns of
/// [`report_cells::COLUMNS`](crate::store::report_cells::COLUMNS) the query selected (a column
/// it leaves out reads 0).
pub(super) struct CellRow {
    pub(super) course_id: Option<String>,
    pub(super) month: Option<i32>,
    pub(super) p1: Option<String>,
    pub(super) p2: Option<String>,
    /// By the place of each column in `COLUMNS`.
    sums: [i64; COLUMNS.len()],
}

/// The place of `name` in `COLUMNS`, worked out when compiling (a name that is not a column
/// fails the build).
const fn place(name: &str) -> usize {
    const fn same(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < COLUMNS.len() {
        if same(COLUMNS[i].as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a column of the report cells");
}

/// Rows of sums are read column by column, each by its own name: a query of the sums selects
/// the keys, then the columns it wants in the order of `COLUMNS`, so each is found where the
/// last one left off. diesel's derived read looks every field up by name in the row, a scan
/// of the row's column names (each read from the database's client library) per field: at
/// national size that was about a tenth of a report's time in the service.
impl diesel::deserialize::QueryableByName<Backend> for CellRow {
    fn build<'a>(
        row: &impl diesel::row::NamedRow<'a, Backend>,
    ) -> diesel::deserialize::Result<Self> {
        use diesel::deserialize::FromSql;
        use diesel::row::{Field, Row};
        let mut r = CellRow {
            course_id: None,
            month: None,
            p1: None,
            p2: None,
            sums: [0; COLUMNS.len()],
        };
        // Where in `COLUMNS` the next column is expected: the query selects those it wants
        // in that order.
        let mut next = 0;
        for i in 0..row.field_count() {
            let field = Row::get(row, i).ok_or("a column of the row cannot be read")?;
            let name = field
                .field_name()
                .ok_or("a column of the row has no name")?;
            let value = field.value();
            match name {
                "course_id" => {
                    r.course_id =
                        <Option<String> as FromSql<Nullable<Text>, Backend>>::from_nullable_sql(
                            value,
                        )?
                }
                "month" => {
                    r.month =
                        <Option<i32> as FromSql<Nullable<Integer>, Backend>>::from_nullable_sql(
                            value,
                        )?
                }
                "p1" => {
                    r.p1 = <Option<String> as FromSql<Nullable<Text>, Backend>>::from_nullable_sql(
                        value,
                    )?
                }
                "p2" => {
                    r.p2 = <Option<String> as FromSql<Nullable<Text>, Backend>>::from_nullable_sql(
                        value,
                    )?
                }
                _ => {
                    let j = COLUMNS[next..]
                        .iter()
                        .position(|c| *c == name)
                        .map(|k| next + k)
                        .or_else(|| COLUMNS.iter().position(|c| *c == name))
                        .ok_or_else(|| format!("unexpected column `{name}` in a row of sums"))?;
                    r.sums[j] = <i64 as FromSql<BigInt, Backend>>::from_nullable_sql(value)?;
                    next = j + 1;
                }
            }
        }
        Ok(r)
    }
}

impl CellRow {
    /// The sum of column `c` (a place in `COLUMNS`).
    fn s(&self, c: usize) -> i64 {
        self.sums[c]
    }

    pub(super) fn engagement(&self) -> EngagementCounts {
        EngagementCounts {
            bookings: self.s(const { place("bookings") }),
            confirmed: self.s(const { place("confirmed") }),
            waitlisted: self.s(const { place("waitlisted") }),
            cancelled: self.s(const { place("cancelled") }),
            late_cancellations: self.s(const { place("late_cancellations") }),
            expected_attendances: self.s(const { place("expected_attendances") }),
            attendances: self.s(const { place("attendances") }),
            completed: self.s(const { place("completed") }),
            no_shows: self.s(const { place("no_shows") }),
            evaluations_sent: self.s(const { place("evaluations_sent") }),
            evaluations_completed: self.s(const { place("evaluations_completed") }),
            satisfaction_sum: self.s(const { place("satisfaction_sum") }),
            satisfaction_n: self.s(const { place("satisfaction_n") }),
            impact_positive: self.s(const { place("impact_positive") }),
            impact_n: self.s(const { place("impact_n") }),
            no_show_cost_pence: self.s(const { place("no_show_cost_pence") }),
            late_cancellation_cost_pence: self.s(const { place("late_cancellation_cost_pence") }),
            responses: [
                self.s(const { place("post_responses") }),
                self.s(const { place("follow_responses") }),
            ],
            // Filled in by the released sums (`super::released`).
            satisfaction_counted: None,
            impact_counted: None,
        }
    }

    pub(super) fn impact(&self) -> ImpactCounts {
        const ANSWERS: [usize; 5] = [
            place("g1"),
            place("g2"),
            place("g3"),
            place("g4"),
            place("g5"),
        ];
        const RESPONDENTS: [usize; 5] = [
            place("g1_n"),
            place("g2_n"),
            place("g3_n"),
            place("g4_n"),
            place("g5_n"),
        ];
        ImpactCounts {
            evaluated: self.s(const { place("evaluated") }),
            post_sent: self.s(const { place("post_sent") }),
            post_completed: self.s(const { place("post_completed") }),
            follow_sent: self.s(const { place("follow_sent") }),
            follow_completed: self.s(const { place("follow_completed") }),
            satisfaction_sum: self.s(const { place("satisfaction_sum") }),
            satisfaction_n: self.s(const { place("satisfaction_n") }),
            confidence_shift_sum: self.s(const { place("confidence_shift_sum") }),
            confidence_pairs: self.s(const { place("confidence_pairs") }),
            confidence_n: self.s(const { place("confidence_n") }),
            impact_positive: self.s(const { place("impact_positive") }),
            impact_n: self.s(const { place("impact_n") }),
            guskey_answers: ANSWERS.map(|c| self.s(c)),
            guskey_respondents: RESPONDENTS.map(|c| self.s(c)),
            responses: [
                self.s(const { place("post_responses") }),
                self.s(const { place("follow_responses") }),
            ],
            satisfaction_counted: None,
            impact_counted: None,
        }
    }
}

/// Which report the sums are for: each needs about half of the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    Engagement,
    Impact,
}

impl Wanted {
    pub(super) fn needs(self, column: &str) -> bool {
        let shared = matches!(
            column,
            "satisfaction_sum"
                | "satisfaction_n"
                | "impact_positive"
                | "impact_n"
                | "post_responses"
                | "follow_responses"
        );
        let engagement = crate::store::report_cells::COLUMNS
            .iter()
            .position(|c| *c == column)
            .is_some_and(|i| i < 17);
        match self {
            Wanted::Engagement => engagement || shared,
            Wanted::Impact => shared || !engagement,
        }
    }
}

/// Which kept sums a grouping reads: the smallest that has its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// `report_courses`: course, priority and term (and the totals alone).
    Courses,
    /// `report_school_years` and `report_school_cells`: the school, alone or with the cluster
    /// or the term.
    SchoolCells,
    /// `report_group_cells`: cluster and staff group, alone or with each other or the term.
    GroupCells,
    /// `report_facts`: every other pair (a course-level grouping with a person-level one).
    Facts,
}

impl Source {
    pub(super) fn of(levels: &[GroupBy]) -> Source {
        let person: Vec<GroupBy> = levels
            .iter()
            .copied()
            .filter(|l| !l.is_course_level())
            .collect();
        let term_only = levels
            .iter()
            .filter(|l| l.is_course_level())
            .all(|l| *l == GroupBy::Term);
        if person.is_empty() {
            Source::Courses
        } else if term_only
            && person
                .iter()
                .all(|l| matches!(l, GroupBy::StaffGroup | GroupBy::Cluster))
        {
            Source::GroupCells
        } else if term_only
            && person
                .iter()
                .all(|l| matches!(l, GroupBy::School | GroupBy::Cluster))
        {
            Source::SchoolCells
        } else {
            Source::Facts
        }
    }
}

/// Bound parameters numbered as they are added.
#[derive(Default)]
pub(super) struct Binder {
    pub(super) params: Vec<Param>,
}

impl Binder {
    pub(super) fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> diesel::QueryResult<Vec<CellRow>> {
        let mut conn = crate::db::Manager::new("sqlite::memory:")
            .unwrap()
            .open()
            .unwrap();
        crate::store::report_cells::load(&mut conn, sql, &[])
    }

    #[test]
    fn a_row_of_sums_reads_its_columns_by_name_and_the_rest_as_zero() {
        // The keys, then columns in the order of `COLUMNS` with gaps, then one out of order.
        let rows = read(
            "SELECT 'c1' AS course_id, 202611 AS month, 's1' AS p1, NULL AS p2,
                    3 AS bookings, 2 AS confirmed, 11 AS g2, 4 AS g5_n,
                    6 AS follow_responses, 9 AS waitlisted",
        )
        .unwrap();
        let r = &rows[0];
        assert_eq!(r.course_id.as_deref(), Some("c1"));
        assert_eq!(r.month, Some(202611));
        assert_eq!((r.p1.as_deref(), r.p2.as_deref()), (Some("s1"), None));
        let e = r.engagement();
        assert_eq!((e.bookings, e.confirmed, e.waitlisted), (3, 2, 9));
        assert_eq!((e.cancelled, e.no_shows, e.responses), (0, 0, [0, 6]));
        let i = r.impact();
        assert_eq!(i.guskey_answers, [0, 11, 0, 0, 0]);
        assert_eq!(i.guskey_respondents, [0, 0, 0, 0, 4]);
        assert_eq!((i.evaluated, i.responses), (0, [0, 6]));
    }

    #[test]
    fn a_column_that_is_not_a_sum_is_an_error() {
        let err = read("SELECT 'c1' AS course_id, 1 AS bookings, 2 AS bookingz")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("bookingz"), "{err}");
    }
}
