//! The background jobs read what has changed since their last run, not the history: the
//! evaluation job, the course reminder scheduler and the report refresher each do their work
//! for a change made after the last run (also one committed on its own connection and picked
//! up by a run on new connections, as after a crash and a restart: the jobs keep no state
//! outside the database), do nothing twice, and with nothing changed read no rows (each
//! reports how many queue rows it examined).

use chrono::{Duration, NaiveDateTime};
use cpd_hub::db::schema::{attendance, bookings, course_sessions, courses};
use cpd_hub::db::{self, DbConn};
use cpd_hub::store::evaluation::JobReport;
use cpd_hub::store::outbox::{self, ReminderRun};
use cpd_hub::store::report_cells;
use diesel::prelude::*;
use serde_json::json;

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world, session_in};
use crate::evaluation::{all_present, fixture, hold_sessions, messages, run_jobs, spawn_quiet};
use crate::helpers::{Backend, TestApp};

/// A connection of its own, as a service started again would open.
fn fresh(app: &TestApp) -> DbConn {
    db::Manager::new(app.db.url()).unwrap().open().unwrap()
}

/// Writes a course's register straight into the tables on a connection of its own (as an
/// import, or a copy of the service that died before its job ran, would leave it): the
/// attendance hook does not run.
async fn register_without_hook(app: &TestApp, course: &str, session: &str, booking_ids: &[String]) {
    let (course, session, booking_ids) = (
        course.to_string(),
        session.to_string(),
        booking_ids.to_vec(),
    );
    let mut c = fresh(app);
    tokio::task::spawn_blocking(move || {
        let now = cpd_hub::domain::time::now();
        db::write_tx(&mut c, |c| {
            for b in &booking_ids {
                diesel::insert_into(attendance::table)
                    .values((
                        attendance::booking_id.eq(b),
                        attendance::session_id.eq(&session),
                        attendance::course_id.eq(&course),
                        attendance::status.eq("present"),
                        attendance::source.eq("register"),
                        attendance::recorded_at.eq(now),
                    ))
                    .execute(c)?;
            }
            diesel::update(courses::table.find(&course))
                .set(courses::last_register_recorded_at.eq(Some(now)))
                .execute(c)
                .map(|_| ())
        })
        .unwrap();
    })
    .await
    .unwrap();
}

async fn the_evaluation_job_reads_only_what_changed(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Phonics for early readers", 3, 1).await;
    all_present(&app, &fx).await;
    // The service's own job, woken by the register, may send them first; between them, once.
    run_jobs(&app, None).await;
    assert_eq!(messages(&app, "evaluation_invitation").await.len(), 3);

    // Nothing changed: the run reads nothing, sends nothing.
    assert_eq!(run_jobs(&app, None).await, JobReport::default());
    // A new course with its bookings is nothing to evaluate yet.
    let course2 = bk_course(&app, &fx.w, "Behaviour that works", 30, |b| {
        b["sessions"] = json!([session_in(30)]);
    })
    .await;
    let mut bookings2 = Vec::new();
    for i in 0..2 {
        let p = bk_person(
            &app,
            &format!("Newcomer {i}"),
            Some(&fx.w.school_a),
            None,
            &[],
        )
        .await;
        bookings2.push(
            bk_book_ok(&app, &course2, &p).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let c2 = app.admin_get(&format!("/api/v1/courses/{course2}")).await;
    let session2 = c2["sessions"][0]["id"].as_str().unwrap().to_string();
    hold_sessions(&app, &course2, std::slice::from_ref(&session2)).await;
    assert_eq!(run_jobs(&app, None).await, JobReport::default());

    // Its register committed without the hook, then the service started again: the first run
    // on new connections invites the two, reading that course and their two invitations.
    register_without_hook(&app, &course2, &session2, &bookings2).await;
    let settings = app.settings.clone();
    let mut c = fresh(&app);
    let (after_restart, again) = tokio::task::spawn_blocking(move || {
        let now = cpd_hub::domain::time::now();
        let a = cpd_hub::store::evaluation::run_jobs(&mut c, now, &settings).unwrap();
        let b = cpd_hub::store::evaluation::run_jobs(&mut c, now, &settings).unwrap();
        (a, b)
    })
    .await
    .unwrap();
    assert_eq!(
        (
            after_restart.examined,
            after_restart.created,
            after_restart.invitations_sent
        ),
        (3, 2, 2)
    );
    assert_eq!(again, JobReport::default(), "nothing twice");

    // Reminders come due five days on (EVALUATION_REMINDER_DAYS): all five, once.
    let later = cpd_hub::domain::time::now() + Duration::days(6);
    let reminded = run_jobs(&app, Some(later)).await;
    assert_eq!((reminded.examined, reminded.reminders), (5, 5));
    assert_eq!(run_jobs(&app, Some(later)).await, JobReport::default());
    assert_eq!(
        run_jobs(&app, Some(later + Duration::days(30))).await,
        JobReport::default(),
        "no reminder day left: nothing to read"
    );
}
crate::each_backend!(
    the_evaluation_job_reads_only_what_changed,
    the_evaluation_job_reads_only_what_changed
);

fn reminders_at(
    app: &TestApp,
    now: NaiveDateTime,
) -> impl std::future::Future<Output = ReminderRun> {
    let mut c = fresh(app);
    let base = app.settings.public_base_url.clone();
    async move {
        tokio::task::spawn_blocking(move || outbox::run_reminders(&mut c, now, 2, &base).unwrap())
            .await
            .unwrap()
    }
}

async fn the_reminder_scheduler_reads_only_what_changed(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let w = bk_world(&app).await;
    let soon = bk_course(&app, &w, "Reading fluency", 30, |b| {
        b["sessions"] = json!([session_in(1)]);
    })
    .await;
    let later = bk_course(&app, &w, "Maths mastery", 30, |b| {
        b["sessions"] = json!([session_in(20)]);
    })
    .await;
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(bk_person(&app, &format!("Teacher {i}"), Some(&w.school_a), None, &[]).await);
    }
    for p in &people[..2] {
        bk_book_ok(&app, &soon, p).await;
    }
    for p in &people[2..] {
        bk_book_ok(&app, &later, p).await;
    }
    let now = cpd_hub::domain::time::now();
    // The two on the course starting tomorrow; the later course is not read.
    assert_eq!(
        reminders_at(&app, now).await,
        ReminderRun {
            examined: 2,
            queued: 2
        }
    );
    assert_eq!(reminders_at(&app, now).await, ReminderRun::default());

    // A booking committed after that run, picked up by a run on new connections.
    let fifth = bk_person(&app, "Teacher 4", Some(&w.school_b), None, &[]).await;
    bk_book_ok(&app, &soon, &fifth).await;
    assert_eq!(
        reminders_at(&app, now).await,
        ReminderRun {
            examined: 1,
            queued: 1
        }
    );

    // The later course brought forward to the day after tomorrow: its two come due.
    let later_id = later.clone();
    let mut c = fresh(&app);
    tokio::task::spawn_blocking(move || {
        let start = now + Duration::days(2) - Duration::hours(1);
        diesel::update(course_sessions::table.filter(course_sessions::course_id.eq(&later_id)))
            .set((
                course_sessions::start_at.eq(start),
                course_sessions::end_at.eq(start + Duration::hours(3)),
            ))
            .execute(&mut c)
            .unwrap();
        diesel::update(courses::table.find(&later_id))
            .set(courses::first_session_start.eq(Some(start)))
            .execute(&mut c)
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        reminders_at(&app, now).await,
        ReminderRun {
            examined: 2,
            queued: 2
        }
    );
    assert_eq!(reminders_at(&app, now).await, ReminderRun::default());

    // Five reminders in all, one per booking.
    let reminders = app
        .with_db(|c| {
            use cpd_hub::db::schema::outbox as o;
            o::table
                .filter(o::kind.eq("course_reminder"))
                .select(o::subject_id.assume_not_null())
                .load::<String>(c)
                .unwrap()
        })
        .await;
    let mut distinct = reminders.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((reminders.len(), distinct.len()), (5, 5));
}
crate::each_backend!(
    the_reminder_scheduler_reads_only_what_changed,
    the_reminder_scheduler_reads_only_what_changed
);

async fn the_refresher_sums_only_what_changed_in_short_writes(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let w = bk_world(&app).await;
    let mut course_ids = Vec::new();
    for title in [
        "Early reading",
        "Adaptive teaching",
        "Oracy in the classroom",
    ] {
        course_ids.push(
            bk_course(&app, &w, title, 30, |b| {
                b["sessions"] = json!([session_in(10)]);
            })
            .await,
        );
    }
    // Two schools book each course: two facts rows a course.
    for (i, course) in course_ids.iter().enumerate() {
        for school in [&w.school_a, &w.school_b] {
            let p = bk_person(
                &app,
                &format!("Staff {i} {school}"),
                Some(school),
                None,
                &[],
            )
            .await;
            bk_book_ok(&app, course, &p).await;
        }
    }
    let refresh = |rows_per_write: usize| {
        let mut c = fresh(&app);
        async move {
            tokio::task::spawn_blocking(move || {
                let now = cpd_hub::domain::time::now();
                let r = report_cells::refresh_batch_with(&mut c, now, 100, rows_per_write)
                    .unwrap()
                    .unwrap();
                // The connection goes back to the pool checkpointing as SQLite does by default.
                if let cpd_hub::db::DbConn::Sqlite(_) = c {
                    let pages = diesel::sql_query("PRAGMA wal_autocheckpoint")
                        .load::<Pages>(&mut c)
                        .unwrap();
                    assert_eq!(pages.first().map(|p| p.wal_autocheckpoint), Some(1000));
                }
                r
            })
            .await
            .unwrap()
        }
    };
    // Two facts rows per write: one course per write transaction.
    let first = refresh(2).await;
    assert_eq!((first.summed, first.writes), (3, 3));
    // On SQLite the refresher checkpoints the log itself after its writes, outside them.
    assert_eq!(
        first.longest_checkpoint > std::time::Duration::ZERO,
        backend == Backend::Sqlite,
        "{first:?}"
    );
    // Nothing changed: nothing summed, no write at all.
    let idle = refresh(2).await;
    assert_eq!((idle.summed, idle.writes), (0, 0));

    // One more booking on the second course, committed, then a run on new connections sums
    // that course alone, and its kept sums show the booking.
    let p = bk_person(&app, "Late booker", Some(&w.school_a), None, &[]).await;
    bk_book_ok(&app, &course_ids[1], &p).await;
    let after = refresh(report_cells::ROWS_PER_WRITE).await;
    assert_eq!((after.summed, after.writes), (1, 1));
    assert_eq!(refresh(report_cells::ROWS_PER_WRITE).await.summed, 0);
    let course = course_ids[1].clone();
    let confirmed: Vec<i64> = app
        .with_db(move |c| {
            diesel::sql_query(cpd_hub::db::numbered(
                c,
                "SELECT confirmed AS n FROM report_courses WHERE course_id = $1",
            ))
            .bind::<diesel::sql_types::Text, _>(course)
            .load::<N>(c)
            .unwrap()
            .into_iter()
            .map(|r| r.n)
            .collect()
        })
        .await;
    assert_eq!(confirmed, [3]);
    let total: i64 = app
        .with_db(|c| {
            bookings::table
                .filter(bookings::status.eq("confirmed"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(total, 7);
}
crate::each_backend!(
    the_refresher_sums_only_what_changed_in_short_writes,
    the_refresher_sums_only_what_changed_in_short_writes
);

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_autocheckpoint: i64,
}
