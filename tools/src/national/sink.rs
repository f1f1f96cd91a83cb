//! Writing rows: text buffers per table, flushed as a multi-row INSERT or a COPY.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Tbl {
    Clusters,
    Schools,
    Providers,
    People,
    PersonRoles,
    Courses,
    Sessions,
    CoursePriorities,
    CourseStaffGroups,
    CoursePhases,
    CourseLeads,
    Bookings,
    Attendance,
    Invitations,
    Responses,
    Answers,
}

pub(super) const ALL_TBL: [Tbl; 16] = [
    Tbl::Clusters,
    Tbl::Schools,
    Tbl::Providers,
    Tbl::People,
    Tbl::PersonRoles,
    Tbl::Courses,
    Tbl::Sessions,
    Tbl::CoursePriorities,
    Tbl::CourseStaffGroups,
    Tbl::CoursePhases,
    Tbl::CourseLeads,
    Tbl::Bookings,
    Tbl::Attendance,
    Tbl::Invitations,
    Tbl::Responses,
    Tbl::Answers,
];

/// The big tables: loaded with COPY on PostgreSQL, their secondary indexes dropped for the load.
pub(super) const BIG_TABLES: &[&str] = &[
    "people",
    "person_roles",
    "bookings",
    "attendance",
    "evaluation_invitations",
    "evaluation_responses",
    "evaluation_answers",
];

impl Tbl {
    pub(super) fn name(self) -> &'static str {
        match self {
            Tbl::Clusters => "clusters",
            Tbl::Schools => "schools",
            Tbl::Providers => "providers",
            Tbl::People => "people",
            Tbl::PersonRoles => "person_roles",
            Tbl::Courses => "courses",
            Tbl::Sessions => "course_sessions",
            Tbl::CoursePriorities => "course_priorities",
            Tbl::CourseStaffGroups => "course_staff_groups",
            Tbl::CoursePhases => "course_phases",
            Tbl::CourseLeads => "course_leads",
            Tbl::Bookings => "bookings",
            Tbl::Attendance => "attendance",
            Tbl::Invitations => "evaluation_invitations",
            Tbl::Responses => "evaluation_responses",
            Tbl::Answers => "evaluation_answers",
        }
    }

    /// The columns written, in order. For the COPY tables this order must match
    /// [`copy_chunk`]'s column lists.
    pub(super) fn columns(self) -> &'static str {
        match self {
            Tbl::Clusters => "id, name, description, created_at, updated_at",
            Tbl::Schools => "id, urn, name, phase, school_type, cluster_id, local_authority, postcode, is_open, created_at, updated_at",
            Tbl::Providers => "id, name, kind, email, website, created_at, updated_at",
            Tbl::People => "id, name, email, school_id, staff_group_id, erased_at, created_at, updated_at",
            Tbl::PersonRoles => "person_id, role",
            Tbl::Courses => "id, title, summary, summary_html, search_text, provider_id, cluster_id, format, capacity, per_school_cap, per_school_cap_until, price_pence, booking_opens, booking_closes, cancellation_deadline, requires_approval, completion_min_sessions, status, cancel_reason, revision, version, confirmed_count, waitlist_count, sessions_count, first_session_start, last_session_end, created_at, updated_at, published_at, cancelled_at, last_register_recorded_at",
            Tbl::Sessions => "id, course_id, start_at, end_at, venue_name, venue_address, venue_postcode, online_url, note, position, created_at, updated_at, check_in_code, register_recorded_at",
            Tbl::CoursePriorities => "course_id, priority_id",
            Tbl::CourseStaffGroups => "course_id, staff_group_id",
            Tbl::CoursePhases => "course_id, phase",
            Tbl::CourseLeads => "course_id, person_id",
            Tbl::Bookings => "id, course_id, person_id, school_id, staff_group_id, status, requested_at, confirmed_at, cancelled_at, late_cancellation, cancel_reason, decline_reason, admin_override, walk_in, price_pence, created_by, created_at, updated_at",
            Tbl::Attendance => "booking_id, session_id, course_id, status, note, source, recorded_by, recorded_at",
            Tbl::Invitations => "id, course_id, booking_id, form_id, kind, created_at, send_at, sent_at, reminders_sent, last_reminded_at, answered_at",
            Tbl::Responses => "id, invitation_id, course_id, booking_id, form_id, kind, school_id, cluster_id, staff_group_id, submitted_at, satisfaction, impact, confidence_before, confidence_after, consent_follow_up, confidence_shift, confidence_pairs, guskey1_answers, guskey2_answers, guskey3_answers, guskey4_answers, guskey5_answers",
            Tbl::Answers => "response_id, question_id, guskey_level, rating, before_rating, after_rating, choices, text",
        }
    }

    /// Tables whose rows these rows refer to: flushed first, so foreign keys hold even when
    /// they are checked.
    pub(super) fn parents(self) -> &'static [Tbl] {
        match self {
            Tbl::Schools => &[Tbl::Clusters],
            Tbl::People => &[Tbl::Schools],
            Tbl::PersonRoles => &[Tbl::People],
            Tbl::Courses => &[Tbl::Providers, Tbl::Clusters],
            Tbl::Sessions
            | Tbl::CoursePriorities
            | Tbl::CourseStaffGroups
            | Tbl::CoursePhases
            | Tbl::CourseLeads => &[Tbl::Courses],
            Tbl::Bookings => &[Tbl::Courses, Tbl::People],
            Tbl::Attendance => &[Tbl::Bookings, Tbl::Sessions],
            Tbl::Invitations => &[Tbl::Bookings],
            Tbl::Responses => &[Tbl::Invitations],
            Tbl::Answers => &[Tbl::Responses],
            Tbl::Clusters | Tbl::Providers => &[],
        }
    }

    pub(super) fn copyable(self) -> bool {
        BIG_TABLES.contains(&self.name())
    }
}

/// A batch of rows for the writer.
pub(super) enum Chunk {
    /// A multi-row INSERT statement.
    Sql { rows: usize, sql: String },
    /// Rows in COPY text format for one table.
    Copy { tbl: Tbl, rows: usize, data: String },
}

/// Rows per INSERT statement.
pub(super) const INSERT_ROWS: usize = 1_000;
/// Bytes per COPY.
pub(super) const COPY_BYTES: usize = 4 << 20;

pub(super) struct Buf {
    pub(super) copy: bool,
    pub(super) text: String,
    pub(super) rows: usize,
    pub(super) first_value: bool,
}

/// The generator's side: per-table buffers, sent to the writer thread when full.
pub(super) struct Sink {
    pub(super) bufs: Vec<Buf>,
    pub(super) tx: mpsc::SyncSender<Chunk>,
    pub(super) counts: [u64; 16],
}

/// One row being written.
pub(super) struct Row<'a> {
    pub(super) b: &'a mut Buf,
}

impl Row<'_> {
    pub(super) fn sep(&mut self) {
        if self.b.first_value {
            self.b.first_value = false;
        } else {
            self.b.text.push(if self.b.copy { '\t' } else { ',' });
        }
    }

    pub(super) fn id(&mut self, tag: u8, n: u64) -> &mut Self {
        self.sep();
        if self.b.copy {
            push_id(&mut self.b.text, tag, n);
        } else {
            self.b.text.push('\'');
            push_id(&mut self.b.text, tag, n);
            self.b.text.push('\'');
        }
        self
    }

    pub(super) fn opt_id(&mut self, v: Option<(u8, u64)>) -> &mut Self {
        match v {
            Some((tag, n)) => self.id(tag, n),
            None => self.null(),
        }
    }

    pub(super) fn s(&mut self, v: &str) -> &mut Self {
        self.sep();
        let t = &mut self.b.text;
        if self.b.copy {
            for c in v.chars() {
                match c {
                    '\\' => t.push_str("\\\\"),
                    '\t' => t.push_str("\\t"),
                    '\n' => t.push_str("\\n"),
                    '\r' => t.push_str("\\r"),
                    c => t.push(c),
                }
            }
        } else {
            t.push('\'');
            for c in v.chars() {
                if c == '\'' {
                    t.push('\'');
                }
                t.push(c);
            }
            t.push('\'');
        }
        self
    }

    pub(super) fn opt_s(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.s(v),
            None => self.null(),
        }
    }

    pub(super) fn i(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.b.text, "{v}");
        self
    }

    pub(super) fn opt_i(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.i(v),
            None => self.null(),
        }
    }

    pub(super) fn f(&mut self, v: f64) -> &mut Self {
        self.sep();
        let _ = write!(self.b.text, "{v}");
        self
    }

    pub(super) fn opt_f(&mut self, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => self.f(v),
            None => self.null(),
        }
    }

    pub(super) fn b(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.b.text.push_str(match (self.b.copy, v) {
            (true, true) => "t",
            (true, false) => "f",
            (false, true) => "TRUE",
            (false, false) => "FALSE",
        });
        self
    }

    pub(super) fn opt_b(&mut self, v: Option<bool>) -> &mut Self {
        match v {
            Some(v) => self.b(v),
            None => self.null(),
        }
    }

    /// A UTC timestamp as diesel stores it on SQLite (and PostgreSQL reads it).
    pub(super) fn ts(&mut self, v: NaiveDateTime) -> &mut Self {
        self.sep();
        let q = if self.b.copy { "" } else { "'" };
        let _ = write!(
            self.b.text,
            "{q}{:04}-{:02}-{:02} {:02}:{:02}:{:02}{q}",
            v.year(),
            v.month(),
            v.day(),
            chrono::Timelike::hour(&v),
            chrono::Timelike::minute(&v),
            chrono::Timelike::second(&v)
        );
        self
    }

    pub(super) fn opt_ts(&mut self, v: Option<NaiveDateTime>) -> &mut Self {
        match v {
            Some(v) => self.ts(v),
            None => self.null(),
        }
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.sep();
        self.b
            .text
            .push_str(if self.b.copy { "\\N" } else { "NULL" });
        self
    }
}

/// The writer thread has stopped (its error is reported by the writer itself).
#[derive(Debug)]
pub(super) struct WriterGone;

impl Sink {
    pub(super) fn new(tx: mpsc::SyncSender<Chunk>, copy: bool) -> Sink {
        Sink {
            bufs: ALL_TBL
                .iter()
                .map(|&tbl| Buf {
                    copy: copy && tbl.copyable(),
                    text: String::new(),
                    rows: 0,
                    first_value: true,
                })
                .collect(),
            tx,
            counts: [0; 16],
        }
    }

    /// Starts a row of `tbl`; finish it with [`Sink::done`].
    pub(super) fn row(&mut self, tbl: Tbl) -> Row<'_> {
        let b = &mut self.bufs[tbl as usize];
        if !b.copy {
            if b.rows == 0 {
                let _ = write!(
                    b.text,
                    "INSERT INTO {} ({}) VALUES (",
                    tbl.name(),
                    tbl.columns()
                );
            } else {
                b.text.push_str(",(");
            }
        }
        b.first_value = true;
        Row { b }
    }

    pub(super) fn done(&mut self, tbl: Tbl) -> Result<(), WriterGone> {
        let b = &mut self.bufs[tbl as usize];
        b.text.push(if b.copy { '\n' } else { ')' });
        b.rows += 1;
        self.counts[tbl as usize] += 1;
        let full = if b.copy {
            b.text.len() >= COPY_BYTES
        } else {
            b.rows >= INSERT_ROWS
        };
        if full {
            self.flush(tbl)?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self, tbl: Tbl) -> Result<(), WriterGone> {
        for &p in tbl.parents() {
            if self.bufs[p as usize].rows > 0 {
                self.flush(p)?;
            }
        }
        let b = &mut self.bufs[tbl as usize];
        if b.rows == 0 {
            return Ok(());
        }
        let rows = std::mem::take(&mut b.rows);
        let cap = b.text.capacity();
        let text = std::mem::replace(&mut b.text, String::with_capacity(cap));
        let chunk = if b.copy {
            Chunk::Copy {
                tbl,
                rows,
                data: text,
            }
        } else {
            Chunk::Sql { rows, sql: text }
        };
        self.tx.send(chunk).map_err(|_| WriterGone)
    }

    pub(super) fn flush_all(&mut self) -> Result<(), WriterGone> {
        for tbl in ALL_TBL {
            self.flush(tbl)?;
        }
        Ok(())
    }

    pub(super) fn count(&self, tbl: Tbl) -> u64 {
        self.counts[tbl as usize]
    }
}

/// Sends one COPY to PostgreSQL. The column lists are those of [`Tbl::columns`].
pub(super) fn copy_chunk(conn: &mut PgConnection, tbl: Tbl, data: &str) -> QueryResult<usize> {
    macro_rules! copy {
        ($table:ident, ($($col:ident),+ $(,)?)) => {
            diesel::copy_from($table::table)
                .from_raw_data(($($table::$col,)+), |w| {
                    w.write_all(data.as_bytes()).map_err(|e| {
                        diesel::result::Error::SerializationError(Box::new(e))
                    })
                })
                .execute(conn)
        };
    }
    match tbl {
        Tbl::People => copy!(
            people,
            (
                id,
                name,
                email,
                school_id,
                staff_group_id,
                erased_at,
                created_at,
                updated_at
            )
        ),
        Tbl::PersonRoles => copy!(person_roles, (person_id, role)),
        Tbl::Bookings => copy!(
            bookings,
            (
                id,
                course_id,
                person_id,
                school_id,
                staff_group_id,
                status,
                requested_at,
                confirmed_at,
                cancelled_at,
                late_cancellation,
                cancel_reason,
                decline_reason,
                admin_override,
                walk_in,
                price_pence,
                created_by,
                created_at,
                updated_at
            )
        ),
        Tbl::Attendance => copy!(
            attendance,
            (
                booking_id,
                session_id,
                course_id,
                status,
                note,
                source,
                recorded_by,
                recorded_at
            )
        ),
        Tbl::Invitations => copy!(
            evaluation_invitations,
            (
                id,
                course_id,
                booking_id,
                form_id,
                kind,
                created_at,
                send_at,
                sent_at,
                reminders_sent,
                last_reminded_at,
                answered_at
            )
        ),
        Tbl::Responses => copy!(
            evaluation_responses,
            (
                id,
                invitation_id,
                course_id,
                booking_id,
                form_id,
                kind,
                school_id,
                cluster_id,
                staff_group_id,
                submitted_at,
                satisfaction,
                impact,
                confidence_before,
                confidence_after,
                consent_follow_up,
                confidence_shift,
                confidence_pairs,
                guskey1_answers,
                guskey2_answers,
                guskey3_answers,
                guskey4_answers,
                guskey5_answers
            )
        ),
        Tbl::Answers => copy!(
            evaluation_answers,
            (
                response_id,
                question_id,
                guskey_level,
                rating,
                before_rating,
                after_rating,
                choices,
                text
            )
        ),
        other => Err(diesel::result::Error::QueryBuilderError(
            format!("{} is not loaded with COPY", other.name()).into(),
        )),
    }
}

/// Rows between commits, so a failure loses little and SQLite's journal stays small.
pub(super) const COMMIT_ROWS: usize = 500_000;

/// Runs every chunk the generator sends, in order, committing now and then.
pub(super) fn write_chunks(conn: &mut DbConn, rx: mpsc::Receiver<Chunk>) -> anyhow::Result<()> {
    conn.batch_execute("BEGIN")?;
    let mut since_commit = 0;
    for chunk in rx {
        let rows = match chunk {
            Chunk::Sql { rows, sql } => {
                conn.batch_execute(&sql)?;
                rows
            }
            Chunk::Copy { tbl, rows, data } => {
                let DbConn::Pg(pg) = conn else {
                    anyhow::bail!("COPY is for PostgreSQL only");
                };
                copy_chunk(pg, tbl, &data)
                    .map_err(|e| anyhow::anyhow!("loading {}: {e}", tbl.name()))?;
                rows
            }
        };
        since_commit += rows;
        if since_commit >= COMMIT_ROWS {
            conn.batch_execute("COMMIT; BEGIN")?;
            since_commit = 0;
        }
    }
    conn.batch_execute("COMMIT")?;
    Ok(())
}
