//! The database: one connection type over SQLite and PostgreSQL, the pool, embedded migrations
//! and the transaction helpers every store function uses.
//!
//! The backend is chosen from the `DATABASE_URL` scheme. Everything above `store/` sees only
//! [`DbConn`]; SQL that must differ between the backends `match`es on it inside `store/` or here.

pub mod prepared;
pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// A connection to either backend. diesel's `MultiConnection` runs the same query DSL on both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for scale and for several service copies behind a load balancer.
    Pg(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// The two supported backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// SQLite (`sqlite://path`, `sqlite:path` or `sqlite::memory:`).
    Sqlite,
}

impl Backend {
    /// Picks the backend from a `DATABASE_URL`, or says why the URL is not usable.
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(format!(
                "expected sqlite://FILE or postgres://USER@HOST/DATABASE, got a URL starting {:?}",
                url.split(':').next().unwrap_or_default()
            ))
        }
    }
}

impl DbConn {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// The path diesel's SQLite driver opens for a `sqlite:` URL.
fn sqlite_path(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite:");
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    if rest.is_empty() || rest == ":memory:" {
        ":memory:".to_string()
    } else {
        rest.to_string()
    }
}

/// Why a connection could not be made, with the driver's own message (diesel's derived manager
/// hides it behind a generic "connection error").
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

/// An r2d2 connection manager that opens [`DbConn`]s and prepares SQLite connections.
#[derive(Clone, Debug)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl Manager {
    /// A manager for the given `DATABASE_URL`.
    pub fn new(url: &str) -> Result<Self, ConnectError> {
        let backend = Backend::from_url(url).map_err(ConnectError)?;
        Ok(Manager {
            url: url.to_string(),
            backend,
        })
    }

    /// Opens one connection, reporting the driver's error on failure.
    pub fn open(&self) -> Result<DbConn, ConnectError> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url)
                .map(DbConn::Pg)
                .map_err(|e| ConnectError(format!("PostgreSQL: {e}"))),
            Backend::Sqlite => {
                let path = sqlite_path(&self.url);
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(|e| ConnectError(format!("SQLite {path}: {e}")))?;
                // WAL lets readers go on while one writer commits; NORMAL sync is durable in WAL
                // mode across process crashes; busy_timeout makes a writer wait for the lock
                // instead of failing with "database is locked". Temporary tables and sorts stay
                // in the page cache while small and spill to a file when large, so a report
                // over millions of bookings cannot take gigabytes of memory.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL;\
                     PRAGMA synchronous = NORMAL;\
                     PRAGMA foreign_keys = ON;\
                     PRAGMA busy_timeout = 10000;\
                     PRAGMA cache_size = -16000;\
                     PRAGMA temp_store = FILE;",
                )
                .map_err(|e| ConnectError(format!("SQLite {path}: {e}")))?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ConnectError(e.to_string()))
    }

    /// A connection is broken when its thread panicked while holding it, or when diesel's
    /// transaction manager says a transaction was left open or failed half-way (an error on
    /// `COMMIT`, a panic inside a transaction): such a connection must not go back into the
    /// pool, where the next request would run inside the unfinished transaction.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Runs the same code on whichever backend `conn` is, with `$c` bound to the backend's own
/// connection: for diesel features that `MultiConnection` lacks (multi-row inserts, upserts,
/// `RETURNING`) where the code is the same on both. Where the SQL must differ, `match` on
/// the backend instead.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// PostgreSQL advisory lock ids, one per job that must not run twice at once across the
/// service's copies. Each must differ from the others: two jobs sharing an id would wait for
/// each other for no reason.
pub mod locks {
    /// Applying migrations.
    pub const MIGRATIONS: i64 = 7_291_604;
    /// Queueing course reminders (two schedulers would both see "not queued yet").
    pub const REMINDERS: i64 = 7_291_605;
    /// Seeding the default evaluation forms.
    pub const DEFAULT_FORMS: i64 = 7_291_606;
    /// Refreshing the report cells (two refreshers would move a cell twice).
    pub const REPORT_REFRESH: i64 = 7_291_607;
}

/// SQL written with PostgreSQL's numbered placeholders (`$1`, `$2`...), as `conn`'s backend
/// reads it: SQLite reads the same numbers as `?1`, `?2`. For hand-written SQL used on both
/// backends; a number may appear more than once and is bound once.
pub fn numbered(conn: &DbConn, sql: &str) -> String {
    match conn {
        DbConn::Pg(_) => sql.to_string(),
        DbConn::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// `$from, $from+1, ...` for a list of `n` parameters, numbered as [`numbered`] reads them:
/// the list of an `IN (...)` whose length is known only when the statement runs.
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shared connection pool.
pub type Pool = r2d2::Pool<Manager>;
/// A connection checked out of the pool.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Builds the pool without connecting: an unreachable database shows up as a clear error from
/// the first use (migrations at start, `/readyz` later) rather than a panic here.
pub fn build_pool(url: &str, size: Option<u32>, timeout: Duration) -> Result<Pool, ConnectError> {
    let manager = Manager::new(url)?;
    let memory = manager.backend == Backend::Sqlite && sqlite_path(url) == ":memory:";
    let default_size = match manager.backend {
        Backend::Postgres => 10,
        Backend::Sqlite => 8,
    };
    // An in-memory SQLite database exists once per connection, so it must have exactly one.
    let size = if memory {
        1
    } else {
        size.unwrap_or(default_size)
    };
    Ok(r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(timeout)
        .test_on_check_out(false)
        .build_unchecked(manager))
}

/// A small pool of its own, for writes that must not queue behind the shared pool's
/// requests (the email worker records a send as soon as the server has accepted it). An
/// in-memory SQLite database exists only on its one connection, so it gets `shared`.
pub fn own_pool(
    url: &str,
    size: u32,
    timeout: Duration,
    shared: &Pool,
) -> Result<Pool, ConnectError> {
    let memory = url.starts_with("sqlite:") && sqlite_path(url) == ":memory:";
    if memory {
        return Ok(shared.clone());
    }
    build_pool(url, Some(size.max(1)), timeout)
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies pending migrations. Returns the names of the migrations applied (the default
/// reference data comes after, from `store::prepare`). Safe to run from several processes at once on PostgreSQL
/// (an advisory lock serialises them).
pub fn migrate(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating the SQLite database: {e}"))?
            .iter()
            .map(|v| v.to_string())
            .collect(),
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({})", locks::MIGRATIONS))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|vs| vs.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                .map_err(|e| anyhow::anyhow!("migrating the PostgreSQL database: {e}"));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({})", locks::MIGRATIONS))?;
            result?
        }
    };
    Ok(applied)
}

/// Reverts the migrations applied since `version` (that one too), latest first, and applies
/// them again: their way back, and their way forward over data written before them, as an
/// alliance upgrading from before `version` would run them. Returns the versions reverted,
/// latest first.
pub fn redo_migrations_since(conn: &mut DbConn, version: &str) -> anyhow::Result<Vec<String>> {
    let mut reverted = Vec::new();
    while reverted.last().map(String::as_str) != Some(version) {
        let name = match conn {
            DbConn::Sqlite(c) => c
                .revert_last_migration(SQLITE_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("reverting the SQLite migration: {e}"))?
                .to_string(),
            DbConn::Pg(c) => c
                .revert_last_migration(POSTGRES_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("reverting the PostgreSQL migration: {e}"))?
                .to_string(),
        };
        // Migrations are applied in order of version: one older than `version` means it was
        // never applied.
        if name.as_str() < version {
            anyhow::bail!("migration {version} is not applied (reverted {name})");
        }
        reverted.push(name);
    }
    migrate(conn)?;
    Ok(reverted)
}

/// Runs `f` in a write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads first and writes later can fail with
/// "database is locked" when another writer got there in between, whatever the busy timeout.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Runs `f` in a read transaction, so several reads see one consistent state.
pub fn read_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(f)
}

/// Runs `f` in a read-only transaction that sees one snapshot of the database throughout,
/// even on PostgreSQL (repeatable read), so a report made of several queries never counts a
/// change that committed between two of them in one query and not the other.
pub fn snapshot_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        // A deferred transaction in WAL mode reads one snapshot from its first read.
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction(c)?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Inside `conn`'s open [`snapshot_tx`] on PostgreSQL: runs `f` with `helper` in a read-only
/// transaction that sees the very same snapshot (`pg_export_snapshot`, `SET TRANSACTION
/// SNAPSHOT`), so work split over the two connections reads one state of the database. The
/// helper's transaction ends before this returns. `Ok(None)` where `helper` cannot share the
/// snapshot: on SQLite, which cannot share one between connections, or when the helper fails
/// to take it (its connection lost, say); the caller then does the work on `conn` alone. An
/// error is `conn`'s own, or `f`'s.
pub fn with_shared_snapshot<T, F>(
    conn: &mut DbConn,
    helper: &mut DbConn,
    f: F,
) -> QueryResult<Option<T>>
where
    F: FnOnce(&mut DbConn, &mut DbConn) -> QueryResult<T>,
{
    #[derive(QueryableByName)]
    struct Exported {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    if !matches!(conn, DbConn::Pg(_)) {
        return Ok(None);
    }
    let snapshot = diesel::sql_query("SELECT pg_export_snapshot() AS id")
        .get_result::<Exported>(conn)?
        .id;
    // The id is PostgreSQL's own (hex digits and dashes), not from a request; checked all
    // the same, as it is written into the statement (SET takes no parameters).
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(diesel::result::Error::QueryBuilderError(
            format!("unexpected snapshot id {snapshot:?}").into(),
        ));
    }
    let began = match helper {
        DbConn::Pg(h) => AnsiTransactionManager::begin_transaction_sql(
            h,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ),
        DbConn::Sqlite(_) => return Ok(None),
    };
    let taken = began
        .and_then(|()| helper.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'")));
    let outcome = match taken {
        Ok(()) => Some(f(conn, helper)),
        Err(e) => {
            tracing::warn!(error = %e, "a second connection could not share a report's snapshot");
            None
        }
    };
    // Read-only: ending it either way loses nothing, and rolling back also clears a failed
    // one. A helper that cannot even do that is broken, and the pool drops it when it is
    // given back; what it read before is still good.
    if <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(helper)
        .transaction_depth()
        .is_ok_and(|d| d.is_some())
    {
        if let Err(e) = <DbConn as Connection>::TransactionManager::rollback_transaction(helper) {
            tracing::warn!(error = %e, "a second connection's read-only transaction did not end");
        }
    }
    outcome.transpose()
}

/// Runs `first` on `conn` and, at the same time on its own thread, `second` on `helper`
/// where one is given (otherwise after `first`, on `conn`). Each runs in whatever
/// transactions it opens itself, or in those it is called in: alone, two reads side by side
/// that need not see one snapshot; inside [`with_shared_snapshot`], both in its snapshot.
/// The helper only lends a hand: if `second` fails on it (its connection lost, say),
/// `second` runs again on `conn`.
pub fn side_by_side<A, B>(
    conn: &mut DbConn,
    helper: Option<&mut DbConn>,
    first: impl FnOnce(&mut DbConn) -> QueryResult<A> + Send,
    second: impl Fn(&mut DbConn) -> QueryResult<B> + Sync,
) -> QueryResult<(A, B)>
where
    A: Send,
    B: Send,
{
    let Some(helper) = helper else {
        let a = first(conn)?;
        return Ok((a, second(conn)?));
    };
    let (a, b) = std::thread::scope(|s| {
        let b = s.spawn(|| second(helper));
        let a = first(conn);
        // A panic on the helper's thread is the caller's panic, as it would have been on
        // this one.
        let b = b.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (a, b)
    });
    let a = a?;
    match b {
        Ok(b) => Ok((a, b)),
        Err(e) => {
            tracing::warn!(error = %e, "a second connection failed; its work is done on the first");
            Ok((a, second(conn)?))
        }
    }
}

/// Checks that the database answers; `/readyz` uses it.
pub fn ping(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_a_list_from_where_it_starts() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(4, 2), "$4, $5");
        assert_eq!(placeholders(7, 1), "$7");
        assert_eq!(placeholders(1, 0), "");
    }

    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    /// `.cargo/config.toml` builds SQLite in multi-thread mode (no lock around each call on a
    /// connection, which only one thread uses at a time), without the memory statistics and
    /// the page cache shared by every connection (each takes a process-wide lock on every
    /// allocation or page), and without the extensions cpd-hub does not use; a build that lost
    /// these settings would still work, only slower to build and run, so they are checked here.
    #[test]
    fn sqlite_is_built_for_one_thread_per_connection() {
        let mut conn = Manager::new("sqlite::memory:").unwrap().open().unwrap();
        let options: Vec<Mode> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .unwrap();
        let options: Vec<String> = options.into_iter().map(|m| m.compile_options).collect();
        assert!(
            options.iter().any(|o| o == "THREADSAFE=2"),
            "SQLite's compile options: {options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "SQLite's compile options: {options:?}"
        );
        for unused in [
            "ENABLE_MEMORY_MANAGEMENT",
            "ENABLE_FTS3",
            "ENABLE_FTS5",
            "ENABLE_RTREE",
            "ENABLE_DBSTAT_VTAB",
            "SOUNDEX",
        ] {
            assert!(
                !options.iter().any(|o| o == unused),
                "SQLite's compile options: {options:?}"
            );
        }
    }
}
