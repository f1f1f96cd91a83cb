//! `cpd-hub digest --term`: emails the termly digest of the reports to the CPD Working Group
//! and the Networking Group (everyone with the `cpd_group` role, or `DIGEST_RECIPIENTS`).
//!
//! The digest is queued in the outbox like any other email and delivered by the worker of
//! `cpd-hub serve`. A term's digest goes once: a second run finds it recorded and sends
//! nothing unless `--force`. `serve` runs the same code on its `DIGEST_SCHEDULE=termly`
//! schedule ([`crate::jobs::DigestSchedule`]).

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};

use crate::config::Settings;
use crate::db::DbConn;
use crate::domain::notification::{Digest, Notification};
use crate::domain::term::Term;
use crate::email::templates::{Organizer, Templates};
use crate::reports::digest;
use crate::reports::metrics::{london_date, GroupBy, ReportQuery, ReportScope};
use crate::store::digests::{self, Sent};

/// What the command was asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The term, as `2026-27-autumn`; absent, the term that ended last.
    pub term_key: Option<String>,
    /// Show what would be sent, and to how many, without sending or recording anything.
    pub dry_run: bool,
    /// Send even if the term's digest went already, or the term has not ended.
    pub force: bool,
}

/// The term a run is about: the one named, or the last one to have ended before `today`.
pub fn choose_term(key: Option<&str>, today: NaiveDate) -> anyhow::Result<Term> {
    match key {
        Some(k) => k
            .parse::<Term>()
            .map_err(|e| anyhow::anyhow!("--term-key: {e}")),
        None => Ok(Term::of_date(today).previous()),
    }
}

/// The digest's payload for `term` (without a recipient's name), from the engagement report
/// grouped by school and the impact report grouped by course.
pub fn payload(
    conn: &mut DbConn,
    settings: &Settings,
    term: &Term,
    now: NaiveDateTime,
) -> diesel::QueryResult<Digest> {
    let query = |group_by| ReportQuery {
        from: term.first_day(),
        to: term.last_day(),
        group_by,
        then_by: None,
        now,
        min_responses: settings.evaluation.min_responses,
    };
    let engagement =
        crate::store::reports::engagement(conn, &query(GroupBy::School), ReportScope::All)?;
    let impact = crate::store::reports::impact(conn, &query(GroupBy::Course), ReportScope::All)?;
    Ok(digest::payload(
        term,
        &engagement,
        &impact,
        &settings.public_base_url,
    ))
}

/// Queues `term`'s digest for every recipient, once (again only with `force`).
pub fn send_term(
    conn: &mut DbConn,
    settings: &Settings,
    term: &Term,
    force: bool,
    now: NaiveDateTime,
) -> diesel::QueryResult<Sent> {
    if !force {
        if let Some(at) = digests::sent_at(conn, &term.key())? {
            return Ok(Sent::AlreadySent(at));
        }
    }
    let recipients = digests::recipients(conn, &settings.reports.digest_recipients)?;
    if recipients.is_empty() {
        return Ok(Sent::NoRecipients);
    }
    let payload = payload(conn, settings, term, now)?;
    digests::send(
        conn,
        &term.key(),
        &recipients,
        |r| payload.addressed(r.name.as_deref()),
        force,
        now,
    )
}

/// Runs the command, writing what happened to `out`.
pub fn run(settings: &Settings, options: &Options, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::domain::time::now();
    let today = london_date(now);
    let term = choose_term(options.term_key.as_deref(), today)?;
    if term.last_day() >= today && !options.force {
        anyhow::bail!(
            "{} has not ended yet (it ends on {}): its figures are not final. Name an earlier \
             term with --term-key, or add --force to send it anyway.",
            term.label(),
            term.last_day()
        );
    }
    let mut conn = super::open_migrated(settings)?;
    if options.dry_run {
        return dry_run(&mut conn, settings, &term, now, out);
    }
    match send_term(&mut conn, settings, &term, options.force, now)? {
        Sent::Queued(n) => {
            writeln!(
                out,
                "The digest for {} is queued for {n} {}; the email worker of `cpd-hub serve` \
                 delivers it.",
                term.label(),
                if n == 1 { "recipient" } else { "recipients" }
            )?;
            Ok(())
        }
        Sent::AlreadySent(at) => {
            writeln!(
                out,
                "The digest for {} was sent on {}; nothing sent. Add --force to send it again.",
                term.label(),
                crate::reports::summary::long_date_of(at)
            )?;
            Ok(())
        }
        Sent::NoRecipients => anyhow::bail!(
            "nobody to send the digest to: give the CPD group members the cpd_group role, or \
             set DIGEST_RECIPIENTS"
        ),
    }
}

/// Prints the term, the number of recipients and the email as it would read, and changes
/// nothing.
fn dry_run(
    conn: &mut DbConn,
    settings: &Settings,
    term: &Term,
    now: NaiveDateTime,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let recipients = digests::recipients(conn, &settings.reports.digest_recipients)?;
    let already = digests::sent_at(conn, &term.key())?;
    let payload = payload(conn, settings, term, now)?;
    let templates = Templates::load(
        settings
            .email_templates_dir
            .as_deref()
            .map(std::path::Path::new),
    )?;
    let organizer = Organizer {
        name: "cpd-hub".into(),
        email: "cpd-hub@localhost".into(),
    };
    let (kind, payload) = Notification::TermlyDigest(payload).to_stored();
    let rendered = templates.render(&kind, &payload, &settings.public_base_url, &organizer)?;
    writeln!(out, "Dry run: nothing is sent or recorded.")?;
    writeln!(out, "Term: {} ({})", term.label(), term.key())?;
    match already {
        Some(at) => writeln!(
            out,
            "Already sent on {}: a real run would send nothing without --force.",
            crate::reports::summary::long_date_of(at)
        )?,
        None => writeln!(out, "Not sent yet.")?,
    }
    writeln!(out, "Recipients: {}", recipients.len())?;
    writeln!(out, "Subject: {}", rendered.subject)?;
    writeln!(out)?;
    write!(out, "{}", rendered.text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_term_is_the_one_that_ended_last() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            choose_term(None, d(2027, 1, 4)).unwrap().key(),
            "2026-27-autumn"
        );
        assert_eq!(
            choose_term(None, d(2026, 9, 1)).unwrap().key(),
            "2025-26-summer"
        );
        assert_eq!(
            choose_term(Some("2025-26-spring"), d(2027, 1, 4))
                .unwrap()
                .key(),
            "2025-26-spring"
        );
        let e = choose_term(Some("autumn"), d(2027, 1, 4)).unwrap_err();
        assert!(e.to_string().starts_with("--term-key:"), "{e}");
    }
}
