//! `db::prepared`: hand-written SQL kept prepared per connection, on both backends.

use chrono::NaiveDate;
use cpd_hub::db::prepared::{Bind, Prepared};
use cpd_hub::db::DbConn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use crate::helpers::{migrated_db, Backend};

#[derive(QueryableByName, Debug, PartialEq)]
struct Out {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    t: Option<chrono::NaiveDateTime>,
}

// `$5` is not cast: SQLite's CAST to TIMESTAMP would turn the text into a number.
const SQL: &str = "SELECT CAST($2 || '-' || $1 || '-' || $2 AS TEXT) AS a, \
                   CAST($3 AS TEXT) AS b, CAST($4 AS BIGINT) + CAST($4 AS BIGINT) AS n, \
                   $5 AS t /* prepared-test */";

fn run(conn: &mut DbConn, b: Option<&str>, t: Option<chrono::NaiveDateTime>) -> Out {
    let mut rows: Vec<Out> = Prepared::new(SQL)
        .bind(Bind::Text("one"))
        .bind(Bind::Text("two"))
        .bind(Bind::OptText(b))
        .bind(Bind::BigInt(21))
        .bind(Bind::OptTs(t))
        .load(conn)
        .expect("the statement runs");
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

async fn placeholders_bind_each_use_and_the_statement_is_kept(backend: Backend) {
    let Some((_db, mut conn)) = migrated_db(backend) else {
        return;
    };
    let at = NaiveDate::from_ymd_opt(2026, 10, 25)
        .and_then(|d| d.and_hms_opt(1, 30, 0))
        .expect("a moment");
    // A placeholder used twice is bound twice with the same value; NULLs and values both bind.
    assert_eq!(
        run(&mut conn, Some("x"), Some(at)),
        Out {
            a: "two-one-two".into(),
            b: Some("x".into()),
            n: 42,
            t: Some(at),
        }
    );
    assert_eq!(
        run(&mut conn, None, None),
        Out {
            a: "two-one-two".into(),
            b: None,
            n: 42,
            t: None,
        }
    );
    // A placeholder with no value is an error, not a statement with a missing parameter.
    let missing = Prepared::new("SELECT CAST($2 AS TEXT) AS a")
        .bind(Bind::Text("only one"))
        .execute(&mut conn);
    assert!(missing.is_err(), "a placeholder without a value must fail");
    // On PostgreSQL the connection keeps it prepared: one server-side statement for both runs.
    if let DbConn::Pg(pg) = &mut conn {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let kept: Count = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_prepared_statements \
             WHERE statement LIKE '%/* prepared-test */%' AND statement NOT LIKE '%pg_prepared%'",
        )
        .get_result(pg)
        .expect("pg_prepared_statements reads");
        assert_eq!(kept.n, 1, "the statement is prepared once and kept");
    }
}
crate::each_backend!(
    placeholders_bind_each_use_and_the_statement_is_kept,
    placeholders_bind_each_use_and_the_statement_is_kept
);
