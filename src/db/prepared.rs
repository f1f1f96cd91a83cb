//! Hand-written SQL that the connection keeps prepared.
//!
//! diesel never keeps `sql_query` or its own `UPDATE` statements in a connection's statement
//! cache, because their text may differ per call; so each use is parsed and planned again by
//! the database, in an extra round trip. On the booking path that is the course's lock-and-read
//! (`UPDATE ... RETURNING`), the one-statement write of PostgreSQL (four data-modifying CTEs)
//! and the course's targets, run for every booking. [`Prepared`] is for SQL whose text is one
//! of a few fixed strings: its text is the cache key, so each connection prepares it once, and
//! PostgreSQL may then keep a generic plan for it.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::QueryResult;

/// One bound value of a [`Prepared`] statement.
#[derive(Clone, Debug)]
pub enum Bind<'a> {
    /// `TEXT`.
    Text(&'a str),
    /// `TEXT`, possibly `NULL`.
    OptText(Option<&'a str>),
    /// `INTEGER`.
    Int(i32),
    /// `BIGINT`.
    BigInt(i64),
    /// `BIGINT`, possibly `NULL`.
    OptBigInt(Option<i64>),
    /// `BOOLEAN`.
    Bool(bool),
    /// `TIMESTAMP` (naive UTC).
    Ts(NaiveDateTime),
    /// `TIMESTAMP`, possibly `NULL`.
    OptTs(Option<NaiveDateTime>),
}

/// A statement written with `$n` placeholders (numbered from 1, each usable more than once,
/// never inside a string literal), run on either backend and kept prepared per connection.
/// The text must come from a fixed set of strings, never from data: every distinct text is a
/// prepared statement kept for the connection's lifetime.
#[derive(Clone, Debug)]
pub struct Prepared<'a> {
    sql: &'a str,
    binds: Vec<Bind<'a>>,
}

impl<'a> Prepared<'a> {
    /// The statement `sql` with no values bound yet.
    pub fn new(sql: &'a str) -> Self {
        Prepared {
            sql,
            binds: Vec::new(),
        }
    }

    /// Binds the next placeholder (`$1`, then `$2`, ...).
    pub fn bind(mut self, value: Bind<'a>) -> Self {
        self.binds.push(value);
        self
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // No type identifies the statement, so the cache is keyed by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> diesel::RunQueryDsl<Conn> for Prepared<'_> {}

impl<DB> QueryFragment<DB> for Prepared<'_>
where
    DB: Backend
        + HasSqlType<Text>
        + HasSqlType<Integer>
        + HasSqlType<BigInt>
        + HasSqlType<Bool>
        + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    /// Writes the text piece by piece with each placeholder as the backend's own (`$k` or
    /// `?`), binding the value it names at each use, so a value named twice is bound twice.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let sql = self.sql;
        let bytes = sql.as_bytes();
        let mut start = 0;
        let mut i = 0;
        // diesel walks the text several times a run (to see it may be kept, for its cache
        // key, for the binds), and the report cells' statements are kilobytes long: `find`
        // jumps from one `$` to the next rather than looking at every byte.
        while let Some(at) = sql[i..].find('$') {
            i += at;
            if i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit() {
                let mut end = i + 1;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                out.push_sql(&sql[start..i]);
                let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                let bind = n
                    .checked_sub(1)
                    .and_then(|k| self.binds.get(k))
                    .ok_or_else(|| {
                        diesel::result::Error::QueryBuilderError(
                            format!("placeholder ${n} has no bound value").into(),
                        )
                    })?;
                match bind {
                    Bind::Text(v) => out.push_bind_param::<Text, str>(v)?,
                    Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?,
                    Bind::Int(v) => out.push_bind_param::<Integer, i32>(v)?,
                    Bind::BigInt(v) => out.push_bind_param::<BigInt, i64>(v)?,
                    Bind::OptBigInt(v) => {
                        out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?
                    }
                    Bind::Bool(v) => out.push_bind_param::<Bool, bool>(v)?,
                    Bind::Ts(v) => out.push_bind_param::<Timestamp, NaiveDateTime>(v)?,
                    Bind::OptTs(v) => {
                        out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(v)?
                    }
                }
                start = end;
                i = end;
            } else {
                i += 1;
            }
        }
        out.push_sql(&sql[start..]);
        Ok(())
    }
}
