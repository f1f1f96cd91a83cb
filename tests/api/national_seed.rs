//! The national benchmark seed (`cpd-hub-bench bench-seed --national`) at a tiny scale: it runs on
//! both backends, makes the same alliance on each, and what it makes holds together the way the
//! service keeps its own data (counters, snapshots, registers, evaluations).

use crate::national::{seed_national, NationalOptions, NationalReport};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::both_backends;
use crate::helpers::{expect_json, TestApp};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut cpd_hub::db::DbConn, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

fn tiny() -> NationalOptions {
    NationalOptions {
        scale: 0.001,
        ..NationalOptions::default()
    }
}

async fn seed(app: &TestApp) -> anyhow::Result<NationalReport> {
    app.with_db(|conn| seed_national(conn, &tiny())).await
}

/// Rows that break a rule, by rule; every one must be 0.
const BROKEN: &[(&str, &str)] = &[
    (
        "course counters differ from the bookings",
        "SELECT COUNT(*) AS n FROM courses c WHERE c.confirmed_count <> \
         (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed') \
         OR c.waitlist_count <> \
         (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'waitlisted')",
    ),
    (
        "more confirmed than places",
        "SELECT COUNT(*) AS n FROM courses WHERE confirmed_count > capacity",
    ),
    (
        "a waiting list on a course with places left",
        "SELECT COUNT(*) AS n FROM courses WHERE waitlist_count > 0 AND confirmed_count < capacity",
    ),
    (
        "two active bookings of one person on one course",
        "SELECT COUNT(*) AS n FROM (SELECT course_id, person_id FROM bookings \
         WHERE status IN ('pending_approval', 'confirmed', 'waitlisted') \
         GROUP BY course_id, person_id HAVING COUNT(*) > 1) d",
    ),
    (
        "booking snapshot differs from the person or the course",
        "SELECT COUNT(*) AS n FROM bookings b JOIN people p ON p.id = b.person_id \
         JOIN courses c ON c.id = b.course_id \
         WHERE b.school_id <> p.school_id OR b.staff_group_id <> p.staff_group_id \
         OR b.school_id IS NULL OR b.price_pence <> c.price_pence",
    ),
    (
        "a late cancellation that is not a cancellation after the deadline",
        "SELECT COUNT(*) AS n FROM bookings b JOIN courses c ON c.id = b.course_id \
         WHERE b.late_cancellation = TRUE AND (b.status <> 'cancelled' \
         OR b.cancelled_at <= c.cancellation_deadline)",
    ),
    (
        "a booking of a draft course",
        "SELECT COUNT(*) AS n FROM bookings b JOIN courses c ON c.id = b.course_id \
         WHERE c.status = 'draft'",
    ),
    (
        "an active booking on a cancelled course",
        "SELECT COUNT(*) AS n FROM bookings b JOIN courses c ON c.id = b.course_id \
         WHERE c.status = 'cancelled' AND b.status IN ('pending_approval', 'confirmed', 'waitlisted')",
    ),
    (
        "attendance of a booking that is not confirmed, or of another course",
        "SELECT COUNT(*) AS n FROM attendance a JOIN bookings b ON b.id = a.booking_id \
         JOIN course_sessions s ON s.id = a.session_id \
         WHERE b.status <> 'confirmed' OR b.course_id <> a.course_id OR s.course_id <> a.course_id",
    ),
    (
        "attendance at a session not held by 20 November 2026, or with no register",
        "SELECT COUNT(*) AS n FROM attendance a JOIN course_sessions s ON s.id = a.session_id \
         WHERE s.start_at >= '2026-11-20 00:00:00' OR s.register_recorded_at IS NULL",
    ),
    (
        "an invitation for someone who attended no session",
        "SELECT COUNT(*) AS n FROM evaluation_invitations i WHERE NOT EXISTS \
         (SELECT 1 FROM attendance a WHERE a.booking_id = i.booking_id \
          AND a.status IN ('present', 'late', 'left_early'))",
    ),
    (
        "a response that does not match its answered invitation",
        "SELECT COUNT(*) AS n FROM evaluation_responses r \
         JOIN evaluation_invitations i ON i.id = r.invitation_id \
         JOIN bookings b ON b.id = r.booking_id JOIN schools s ON s.id = b.school_id \
         WHERE i.answered_at IS NULL OR i.answered_at <> r.submitted_at \
         OR i.booking_id <> r.booking_id OR i.kind <> r.kind \
         OR r.school_id <> b.school_id OR r.staff_group_id <> b.staff_group_id \
         OR r.cluster_id <> s.cluster_id",
    ),
    (
        "an answered invitation without its response",
        "SELECT COUNT(*) AS n FROM evaluation_invitations i WHERE i.answered_at IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM evaluation_responses r WHERE r.invitation_id = i.id)",
    ),
    (
        "a post-course response whose satisfaction is not its overall rating",
        "SELECT COUNT(*) AS n FROM evaluation_responses r WHERE r.kind = 'post_course' \
         AND (r.satisfaction IS NULL OR r.satisfaction <> (SELECT a.rating FROM evaluation_answers a \
         JOIN evaluation_questions q ON q.id = a.question_id \
         WHERE a.response_id = r.id AND q.metric = 'satisfaction'))",
    ),
    (
        "a follow-up response whose impact is not its 'used in practice' rating",
        "SELECT COUNT(*) AS n FROM evaluation_responses r WHERE r.kind = 'follow_up' \
         AND (r.impact IS NULL OR r.impact <> (SELECT a.rating FROM evaluation_answers a \
         JOIN evaluation_questions q ON q.id = a.question_id \
         WHERE a.response_id = r.id AND q.metric = 'impact'))",
    ),
    (
        "a response whose kept sums are not those of its answers",
        "SELECT COUNT(*) AS n FROM evaluation_responses r \
         LEFT JOIN (SELECT a.response_id, \
                           SUM(CASE WHEN a.before_rating IS NOT NULL AND a.after_rating IS NOT NULL THEN a.after_rating - a.before_rating ELSE 0 END) AS shift, \
                           SUM(CASE WHEN a.before_rating IS NOT NULL AND a.after_rating IS NOT NULL THEN 1 ELSE 0 END) AS pairs, \
                           SUM(CASE WHEN a.guskey_level = 1 THEN 1 ELSE 0 END) AS g1, \
                           SUM(CASE WHEN a.guskey_level = 2 THEN 1 ELSE 0 END) AS g2, \
                           SUM(CASE WHEN a.guskey_level = 3 THEN 1 ELSE 0 END) AS g3, \
                           SUM(CASE WHEN a.guskey_level = 4 THEN 1 ELSE 0 END) AS g4, \
                           SUM(CASE WHEN a.guskey_level = 5 THEN 1 ELSE 0 END) AS g5 \
                      FROM evaluation_answers a GROUP BY a.response_id) s ON s.response_id = r.id \
         WHERE r.confidence_shift <> COALESCE(s.shift, 0) OR r.confidence_pairs <> COALESCE(s.pairs, 0) \
            OR r.guskey1_answers <> COALESCE(s.g1, 0) OR r.guskey2_answers <> COALESCE(s.g2, 0) \
            OR r.guskey3_answers <> COALESCE(s.g3, 0) OR r.guskey4_answers <> COALESCE(s.g4, 0) \
            OR r.guskey5_answers <> COALESCE(s.g5, 0)",
    ),
    (
        "an answer whose Guskey level is not its question's",
        "SELECT COUNT(*) AS n FROM evaluation_answers a \
         JOIN evaluation_questions q ON q.id = a.question_id WHERE a.guskey_level <> q.guskey_level",
    ),
    (
        "a row pointing at nothing",
        "SELECT (SELECT COUNT(*) FROM bookings b WHERE NOT EXISTS (SELECT 1 FROM people p WHERE p.id = b.person_id) \
                 OR NOT EXISTS (SELECT 1 FROM courses c WHERE c.id = b.course_id)) \
              + (SELECT COUNT(*) FROM people p WHERE p.school_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = p.school_id)) \
              + (SELECT COUNT(*) FROM course_leads l WHERE NOT EXISTS (SELECT 1 FROM people p WHERE p.id = l.person_id)) \
              + (SELECT COUNT(*) FROM evaluation_answers a WHERE NOT EXISTS (SELECT 1 FROM evaluation_responses r WHERE r.id = a.response_id)) AS n",
    ),
];

both_backends! {
    async fn national_seed_is_consistent(app: TestApp) {
        let report = seed(&app).await.expect("the tiny national seed runs");
        assert_eq!(
            (report.clusters, report.schools, report.staff, report.courses),
            (2, 24, 500, 20)
        );
        // The same seed makes the same alliance on either backend.
        assert_eq!(
            (
                report.bookings,
                report.confirmed,
                report.waitlisted,
                report.pending,
                report.cancelled,
                report.late_cancellations,
                report.declined
            ),
            (503, 426, 20, 1, 42, 15, 14),
            "{report}"
        );
        assert_eq!(
            (report.attendance, report.invitations, report.responses, report.answers),
            (556, 663, 324, 1669),
            "{report}"
        );

        let (broken, totals, cold, answers_by_level) = app
            .with_db(|conn| {
                let broken: Vec<(&str, i64)> =
                    BROKEN.iter().map(|(rule, sql)| (*rule, count(conn, sql))).collect();
                let totals = [
                    "SELECT COUNT(*) AS n FROM bookings",
                    "SELECT COUNT(*) AS n FROM attendance",
                    "SELECT COUNT(*) AS n FROM evaluation_responses",
                    "SELECT COUNT(*) AS n FROM attendance WHERE status = 'apologies'",
                    "SELECT COUNT(*) AS n FROM attendance WHERE status = 'absent'",
                ]
                .map(|sql| count(conn, sql));
                let cold = count(
                    conn,
                    "SELECT COUNT(*) AS n FROM schools s WHERE NOT EXISTS \
                     (SELECT 1 FROM bookings b WHERE b.school_id = s.id)",
                );
                let levels = count(
                    conn,
                    "SELECT COUNT(DISTINCT guskey_level) AS n FROM evaluation_answers",
                );
                (broken, totals, cold, levels)
            })
            .await;
        for (rule, n) in broken {
            assert_eq!(n, 0, "{rule}: {n} rows");
        }
        assert_eq!(
            totals[..3],
            [report.bookings as i64, report.attendance as i64, report.responses as i64]
        );
        assert!(totals[3] > 0 && totals[4] > 0, "both apologies and absences are recorded");
        assert_eq!(cold, report.cold_schools as i64, "the cold spots never booked");
        assert_eq!(answers_by_level, 5, "answers at every Guskey level");

        // What the calendar shows agrees with the bookings.
        let course = "05000000-0000-4000-8000-000000000007";
        let (capacity, confirmed, waiting) = app
            .with_db(move |conn| {
                use cpd_hub::db::schema::{bookings, courses};
                let capacity: i32 = courses::table
                    .find(course)
                    .select(courses::capacity)
                    .first(conn)
                    .expect("the course exists");
                let n = |status: &str, conn: &mut cpd_hub::db::DbConn| -> i64 {
                    bookings::table
                        .filter(bookings::course_id.eq(course))
                        .filter(bookings::status.eq(status))
                        .count()
                        .get_result(conn)
                        .expect("count")
                };
                (capacity, n("confirmed", conn), n("waitlisted", conn))
            })
            .await;
        assert!(waiting > 0, "this course has a waiting list");
        let shown = expect_json(
            app.get(&format!("/api/v1/courses/{course}"), Some(&app.admin_token)).await,
            200,
        )
        .await;
        assert_eq!(shown["places_left"], (capacity as i64 - confirmed).max(0));
        assert_eq!(shown["waitlist_length"], waiting);

        // A second run refuses rather than doubling the alliance.
        let again = seed(&app).await.expect_err("a second national seed is refused");
        assert!(again.to_string().contains("already has 24 schools"), "{again}");
    }
}

both_backends! {
    /// Each response's kept sums of its answers (confidence shift and pairs, answers per
    /// Guskey level) follow its answers whoever changes them: ratings changed, a level
    /// changed, free text cleared as erasure does, answers taken away and given again.
    async fn answers_changed_any_way_keep_their_responses_sums(app: TestApp) {
        seed(&app).await.expect("the tiny national seed runs");
        let (before, after, broken) = app
            .with_db(|conn| {
                let kept = "SELECT SUM(confidence_shift) + 10 * SUM(confidence_pairs) \
                            + 100 * SUM(guskey2_answers) + 1000 * SUM(guskey3_answers) AS n \
                            FROM evaluation_responses";
                let before = count(conn, kept);
                for sql in [
                    "UPDATE evaluation_answers SET before_rating = 1, after_rating = 5 \
                      WHERE before_rating IS NOT NULL AND response_id IN \
                            (SELECT id FROM evaluation_responses ORDER BY id LIMIT 20)",
                    "UPDATE evaluation_answers SET guskey_level = 3 \
                      WHERE guskey_level = 2 AND response_id IN \
                            (SELECT id FROM evaluation_responses ORDER BY id DESC LIMIT 10)",
                    "UPDATE evaluation_answers SET text = NULL WHERE text IS NOT NULL",
                    "DELETE FROM evaluation_answers WHERE response_id IN \
                            (SELECT id FROM evaluation_responses ORDER BY id LIMIT 5 OFFSET 30)",
                    "INSERT INTO evaluation_answers (response_id, question_id, guskey_level, before_rating, after_rating) \
                     SELECT r.id, q.id, 2, 2, 4 FROM evaluation_responses r \
                       JOIN evaluation_questions q ON q.form_id = r.form_id AND q.kind = 'retrospective' \
                      WHERE r.id IN (SELECT id FROM evaluation_responses ORDER BY id LIMIT 3 OFFSET 30)",
                ] {
                    diesel::sql_query(sql)
                        .execute(conn)
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
                let after = count(conn, kept);
                let (_, sql) = BROKEN
                    .iter()
                    .find(|(rule, _)| rule.contains("kept sums"))
                    .expect("the kept sums rule");
                (before, after, count(conn, sql))
            })
            .await;
        assert_ne!(before, after, "the changes moved the kept sums");
        assert_eq!(broken, 0, "responses whose kept sums are not their answers'");
    }
}
