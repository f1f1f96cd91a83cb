//! What a read of the sums asks for and gets back: the method, the row of every summed column,
//! the columns wanted, and the numbered parameters the SQL is built with.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use crate::reports::metrics::{EngagementCounts, GroupBy, ImpactCounts};

use crate::store::report_cells::Param;

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

/// One row of sums read through the cells, with every column of
/// [`report_cells::COLUMNS`](crate::store::report_cells::COLUMNS).
#[derive(QueryableByName)]
pub(super) struct CellRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) course_id: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub(super) month: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) p1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) p2: Option<String>,
    #[diesel(sql_type = BigInt)]
    bookings: i64,
    #[diesel(sql_type = BigInt)]
    confirmed: i64,
    #[diesel(sql_type = BigInt)]
    waitlisted: i64,
    #[diesel(sql_type = BigInt)]
    cancelled: i64,
    #[diesel(sql_type = BigInt)]
    late_cancellations: i64,
    #[diesel(sql_type = BigInt)]
    expected_attendances: i64,
    #[diesel(sql_type = BigInt)]
    attendances: i64,
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    no_shows: i64,
    #[diesel(sql_type = BigInt)]
    evaluations_sent: i64,
    #[diesel(sql_type = BigInt)]
    evaluations_completed: i64,
    #[diesel(sql_type = BigInt)]
    satisfaction_sum: i64,
    #[diesel(sql_type = BigInt)]
    satisfaction_n: i64,
    #[diesel(sql_type = BigInt)]
    impact_positive: i64,
    #[diesel(sql_type = BigInt)]
    impact_n: i64,
    #[diesel(sql_type = BigInt)]
    no_show_cost_pence: i64,
    #[diesel(sql_type = BigInt)]
    late_cancellation_cost_pence: i64,
    #[diesel(sql_type = BigInt)]
    evaluated: i64,
    #[diesel(sql_type = BigInt)]
    post_sent: i64,
    #[diesel(sql_type = BigInt)]
    post_completed: i64,
    #[diesel(sql_type = BigInt)]
    follow_sent: i64,
    #[diesel(sql_type = BigInt)]
    follow_completed: i64,
    #[diesel(sql_type = BigInt)]
    confidence_shift_sum: i64,
    #[diesel(sql_type = BigInt)]
    confidence_pairs: i64,
    #[diesel(sql_type = BigInt)]
    confidence_n: i64,
    #[diesel(sql_type = BigInt)]
    g1: i64,
    #[diesel(sql_type = BigInt)]
    g2: i64,
    #[diesel(sql_type = BigInt)]
    g3: i64,
    #[diesel(sql_type = BigInt)]
    g4: i64,
    #[diesel(sql_type = BigInt)]
    g5: i64,
    #[diesel(sql_type = BigInt)]
    g1_n: i64,
    #[diesel(sql_type = BigInt)]
    g2_n: i64,
    #[diesel(sql_type = BigInt)]
    g3_n: i64,
    #[diesel(sql_type = BigInt)]
    g4_n: i64,
    #[diesel(sql_type = BigInt)]
    g5_n: i64,
    #[diesel(sql_type = BigInt)]
    post_responses: i64,
    #[diesel(sql_type = BigInt)]
    follow_responses: i64,
}

impl CellRow {
    pub(super) fn engagement(&self) -> EngagementCounts {
        EngagementCounts {
            bookings: self.bookings,
            confirmed: self.confirmed,
            waitlisted: self.waitlisted,
            cancelled: self.cancelled,
            late_cancellations: self.late_cancellations,
            expected_attendances: self.expected_attendances,
            attendances: self.attendances,
            completed: self.completed,
            no_shows: self.no_shows,
            evaluations_sent: self.evaluations_sent,
            evaluations_completed: self.evaluations_completed,
            satisfaction_sum: self.satisfaction_sum,
            satisfaction_n: self.satisfaction_n,
            impact_positive: self.impact_positive,
            impact_n: self.impact_n,
            no_show_cost_pence: self.no_show_cost_pence,
            late_cancellation_cost_pence: self.late_cancellation_cost_pence,
            responses: [self.post_responses, self.follow_responses],
            // Filled in by the released sums (`super::released`).
            satisfaction_counted: None,
            impact_counted: None,
        }
    }

    pub(super) fn impact(&self) -> ImpactCounts {
        ImpactCounts {
            evaluated: self.evaluated,
            post_sent: self.post_sent,
            post_completed: self.post_completed,
            follow_sent: self.follow_sent,
            follow_completed: self.follow_completed,
            satisfaction_sum: self.satisfaction_sum,
            satisfaction_n: self.satisfaction_n,
            confidence_shift_sum: self.confidence_shift_sum,
            confidence_pairs: self.confidence_pairs,
            confidence_n: self.confidence_n,
            impact_positive: self.impact_positive,
            impact_n: self.impact_n,
            guskey_answers: [self.g1, self.g2, self.g3, self.g4, self.g5],
            guskey_respondents: [self.g1_n, self.g2_n, self.g3_n, self.g4_n, self.g5_n],
            responses: [self.post_responses, self.follow_responses],
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
