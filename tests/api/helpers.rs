//! The test harness: the real service on a random port against a fresh database of its own,
//! on SQLite always and on PostgreSQL when `TEST_POSTGRES_URL` is set.

use std::sync::OnceLock;

use cpd_hub::config::Settings;
use cpd_hub::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, Response};
use serde_json::Value;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database that is removed when the test ends (when the test's runtime has stopped,
/// for a test run by [`run_test`]).
pub enum TestDb {
    Sqlite {
        /// `None` once handed to [`Gone`].
        dir: Option<tempfile::TempDir>,
        url: String,
    },
    Postgres {
        admin_url: String,
        /// Empty once handed to [`Gone`].
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let gone = match self {
            TestDb::Sqlite { dir, .. } => Gone::Dir(dir.take()),
            TestDb::Postgres {
                admin_url, name, ..
            } => Gone::Database {
                admin_url: admin_url.clone(),
                name: std::mem::take(name),
            },
        };
        // Kept until the test's runtime has stopped, when [`run_test`] runs the test.
        let now = PARKED.with(|parked| match parked.borrow_mut().as_mut() {
            Some(kept) => {
                kept.push(gone);
                None
            }
            None => Some(gone),
        });
        drop(now);
    }
}

/// A test database on its way out: removed when this is dropped.
enum Gone {
    Dir(Option<tempfile::TempDir>),
    Database { admin_url: String, name: String },
}

impl Drop for Gone {
    fn drop(&mut self) {
        if let Gone::Database { admin_url, name } = self {
            if name.is_empty() {
                return;
            }
            if let Ok(mut c) = PgConnection::establish(admin_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut c);
            }
        }
    }
}

thread_local! {
    /// The databases of the test running on this thread, kept until its runtime has stopped
    /// (`None`: not kept, removed when dropped).
    static PARKED: std::cell::RefCell<Option<Vec<Gone>>> = const { std::cell::RefCell::new(None) };
}

/// A free port on 127.0.0.1 for a server a test must name before it starts: a callback
/// address the identity provider is told, chromedriver's `--port`, the real binary's `BIND`
/// (kept when it is started again after a crash).
///
/// A port found by binding port 0 and letting it go can be handed to another test's server,
/// also binding port 0, before this test's server takes it ("Address already in use" at
/// start-up, seen in the single sign-on tests). These ports come from just below the kernel's
/// ephemeral range, which binding port 0 never hands out, each at most once per test process
/// (the start differs by process, so two test runs at once rarely meet), and each is checked
/// free before it is given.
pub fn reserved_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    /// Where the ports come from, read once: the ephemeral range's first port, how many
    /// ports below it are used, and the next to try.
    struct Range {
        low: u32,
        span: u32,
        next: AtomicU32,
    }
    static RANGE: OnceLock<Option<Range>> = OnceLock::new();
    let range = RANGE.get_or_init(|| {
        // 32768 unless the machine says otherwise.
        let low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(32_768);
        let span = low.saturating_sub(1_024).min(10_000);
        // A machine whose ephemeral range starts among the well-known ports has none to
        // spare below it.
        (span >= 1_000).then(|| Range {
            low,
            span,
            next: AtomicU32::new(std::process::id() % span),
        })
    });
    let Some(Range { low, span, next }) = range else {
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
    };
    for _ in 0..*span {
        let port = (low - span + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range (from {low})");
}

/// Runs a test's body as `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` does,
/// and removes the databases the test dropped on this thread only once its runtime has
/// stopped. A service's background jobs run to the runtime's end; with their database
/// already gone, a job waiting for a connection held the runtime's shutdown for the pool's
/// whole timeout (5 s), in about one test in six on PostgreSQL.
pub fn run_test(body: impl std::future::Future<Output = ()>) {
    struct Kept;
    impl Drop for Kept {
        fn drop(&mut self) {
            let kept = PARKED.with(|parked| parked.borrow_mut().take());
            drop(kept);
        }
    }
    PARKED.with(|parked| *parked.borrow_mut() = Some(Vec::new()));
    // Declared before the runtime, so dropped after it, even when the test panics.
    let _kept = Kept;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the test");
    runtime.block_on(body);
}

/// Runs `run` on the service `spawn` starts on `backend`, through [`run_test`]; the
/// PostgreSQL half is skipped, saying so, when no test server is configured.
pub fn run_on<S, R>(
    backend: Backend,
    spawn: impl FnOnce(Backend) -> S,
    run: impl FnOnce(TestApp) -> R,
) where
    S: std::future::Future<Output = Option<TestApp>>,
    R: std::future::Future<Output = ()>,
{
    run_test(async move {
        match spawn(backend).await {
            Some(app) => run(app).await,
            None if backend == Backend::Postgres => {
                eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped")
            }
            None => panic!("the service did not start on {backend:?}"),
        }
    })
}

/// The PostgreSQL server URL for tests, if any. CI sets `CPD_REQUIRE_POSTGRES=1` so a missing
/// URL fails the run instead of silently testing one backend.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| without_tls(&u));
    if url.is_none() && std::env::var("CPD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("CPD_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
    }
    url
}

/// The test server is on this machine: connect without TLS unless the URL says otherwise.
/// A TLS handshake per connection only slows the tests, and with TLS a pool's connection closed
/// by a thread still running as the test process exits can meet the TLS library already torn
/// down by the exit handlers.
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// ` TABLESPACE "…"` for the test databases' `CREATE DATABASE` when `CPD_TEST_PG_TABLESPACE`
/// names one (`.ci/run` makes one on a RAM disk), else nothing. A copy of the migrated
/// template is some 600 files; on ext4, making some 150,000 of them (and removing
/// as many) in a run cost PostgreSQL's processes about 80 CPU-seconds in the kernel's search
/// for free inodes past the ones just freed (docs/performance.md, "The test databases on a RAM
/// disk").
fn tablespace() -> String {
    match std::env::var("CPD_TEST_PG_TABLESPACE") {
        Ok(name) if !name.is_empty() => {
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "CPD_TEST_PG_TABLESPACE names a tablespace: letters, digits and _ ({name:?})"
            );
            format!(" TABLESPACE \"{name}\"")
        }
        _ => String::new(),
    }
}

/// Makes a fresh, empty database on the given backend (`None`: PostgreSQL is not configured).
pub fn fresh_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            Some(TestDb::Sqlite {
                dir: Some(dir),
                url,
            })
        }
        Backend::Postgres => {
            let admin_url = postgres_url()?;
            let name = format!("cpd_test_{}", uuid::Uuid::new_v4().simple());
            let mut c = PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL cannot be reached: {e}"));
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"{}", tablespace()))
                .execute(&mut c)
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            Some(TestDb::Postgres {
                admin_url,
                name,
                url: url.to_string(),
            })
        }
    }
}

/// A fresh database ready for the service: a copy of a database that was migrated and given
/// the default reference data once per version of the source (migrating each test's database
/// took seconds on PostgreSQL and about 40 ms of CPU on SQLite; copying one takes a fraction
/// of that). On PostgreSQL the copy is of a template database; on SQLite, of a file
/// ([`copied`]). The service's start-up still runs its migrations and seeds over it, finding
/// nothing to do.
pub fn prepared_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => copied(backend, "migrated", &[], |_| {}),
        Backend::Postgres => {
            let admin_url = postgres_url()?;
            let template = pg_template(&admin_url, None);
            Some(copy_of(&admin_url, &template).unwrap_or_else(|e| {
                // Another test run may have dropped the template as stale: make it again.
                let template = pg_template(&admin_url, Some(&template));
                copy_of(&admin_url, &template)
                    .unwrap_or_else(|e2| panic!("copy {template} failed: {e}; then {e2}"))
            }))
        }
    }
}

/// The name of the migrated template database for this source of cpd-hub, making it when it
/// is missing (or when `failed` names it: a copy from it just failed). Its name carries a
/// fingerprint of the migrations and of the code that migrates and seeds, so a change to
/// either makes a new one; templates of other fingerprints are dropped when a new one is
/// made (a run still using one makes it again).
fn pg_template(admin_url: &str, failed: Option<&str>) -> String {
    static TEMPLATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut known = TEMPLATE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(name) = known.as_ref() {
        if failed != Some(name.as_str()) {
            return name.clone();
        }
    }
    let name = format!("cpd_tmpl_{:016x}", source_fingerprint());
    let mut c = PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL cannot be reached: {e}"));
    // Test runs in other processes make the same template: one at a time.
    diesel::sql_query("SELECT pg_advisory_lock(7270015)")
        .execute(&mut c)
        .expect("the template lock");
    if !database_exists(&mut c, &name) {
        let building = format!("{name}_building");
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .execute(&mut c)
        .expect("drop a half-made template");
        diesel::sql_query(format!("CREATE DATABASE \"{building}\"{}", tablespace()))
            .execute(&mut c)
            .expect("create the template");
        let mut url = url::Url::parse(admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&building);
        drop(opened(url.as_str()));
        // Renamed only once complete, so a template by this name is always whole.
        diesel::sql_query(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        ))
        .execute(&mut c)
        .expect("name the template");
        drop_other_databases(&mut c, "cpd_tmpl_", &name);
    }
    diesel::sql_query("SELECT pg_advisory_unlock(7270015)")
        .execute(&mut c)
        .expect("the template lock");
    *known = Some(name.clone());
    name
}

/// A fingerprint of what a migrated database depends on: the migrations and the code that
/// runs them and seeds the defaults.
fn source_fingerprint() -> u64 {
    fingerprint(&["migrations", "src/db", "src/store"])
}

/// A fingerprint of every file under `dirs` (relative to the package's root): their paths and
/// contents.
fn fingerprint(dirs: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in dirs {
        let path = root.join(dir);
        if path.is_file() {
            files.push(path);
        } else {
            walk(&path, &mut files);
        }
    }
    files.sort();
    // The default hasher's keys are fixed, so every process of this build agrees.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.strip_prefix(root).unwrap_or(&f).hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

/// A fresh database, migrated, with an open connection and no service running: for tests of
/// the store that decide themselves when anything happens (no background job runs at the
/// real time beside them).
pub fn migrated_db(backend: Backend) -> Option<(TestDb, cpd_hub::db::DbConn)> {
    let db = prepared_db(backend)?;
    let conn = opened(db.url());
    Some((db, conn))
}

/// A second connection to the PostgreSQL database `conn` is on (`None` on SQLite), as a
/// report's helper (`store::reports::engagement_with_helper`) or a concurrent writer.
pub fn second_connection(conn: &mut cpd_hub::db::DbConn) -> Option<cpd_hub::db::DbConn> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    if !matches!(conn, cpd_hub::db::DbConn::Pg(_)) {
        return None;
    }
    let name = diesel::sql_query("SELECT current_database() AS name")
        .get_result::<Name>(conn)
        .expect("the database's name")
        .name;
    let mut url = url::Url::parse(&postgres_url()?).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    Some(
        cpd_hub::db::Manager::new(url.as_str())
            .expect("a database URL")
            .open()
            .expect("the database opens"),
    )
}

/// A connection to the database at `url`, migrated and given the default reference data.
fn opened(url: &str) -> cpd_hub::db::DbConn {
    let mut conn = cpd_hub::db::Manager::new(url)
        .expect("a database URL")
        .open()
        .expect("the database opens");
    cpd_hub::store::prepare(&mut conn).expect("migrations run");
    conn
}

/// A copy of a database that `make` filled once, migrated and with no service running: for
/// tests that each start from the same large state (a seeded alliance), which takes far
/// longer to make than to copy. `name` names what `make` makes, and `sources` (files and
/// folders under the package's root) are what it depends on besides the migrations and the
/// service's code: a change to any of them makes the state again. Made states are kept between
/// runs (a file under cargo's temporary directory for the tests on SQLite, a template
/// database on PostgreSQL), and those of other sources are removed when a new one is made.
///
/// `make` must be deterministic: every test that asks for `name` gets the state one run of it
/// made, perhaps in an earlier run of the tests.
pub fn copied_db(
    backend: Backend,
    name: &str,
    sources: &[&str],
    make: impl FnOnce(&mut cpd_hub::db::DbConn),
) -> Option<(TestDb, cpd_hub::db::DbConn)> {
    let db = copied(backend, name, sources, make)?;
    let conn = opened(db.url());
    Some((db, conn))
}

/// A copy of the database `make` filled once ([`copied_db`]), with no connection open.
fn copied(
    backend: Backend,
    name: &str,
    sources: &[&str],
    make: impl FnOnce(&mut cpd_hub::db::DbConn),
) -> Option<TestDb> {
    // One maker at a time in this process; others of the same state wait for it and copy it.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // Each state's fingerprint, worked out once per process: the sources do not change
    // while the tests run.
    static NAMES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let made = {
        let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
        match names.iter().find(|(n, _)| n == name) {
            Some((_, made)) => made.clone(),
            None => {
                let mut dirs = vec!["migrations", "src", "tools/src"];
                dirs.extend_from_slice(sources);
                let made = format!("cpd_{name}_{:016x}", fingerprint(&dirs));
                names.push((name.to_string(), made.clone()));
                made
            }
        }
    };
    let db = match backend {
        Backend::Sqlite => {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            let file = dir.join(format!("{made}.db"));
            {
                let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
                if !file.exists() {
                    // Migrated here, not copied: the migrated state is one of these.
                    let db = fresh_db(backend)?;
                    let mut conn = opened(db.url());
                    make(&mut conn);
                    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .execute(&mut conn)
                        .expect("the made state written to its file");
                    drop(conn);
                    // Renamed only once whole, so another run never copies half a file.
                    let building = dir.join(format!("{made}.{}.building", std::process::id()));
                    std::fs::copy(sqlite_path(&db), &building).expect("the made state kept");
                    std::fs::rename(&building, &file).expect("the made state named");
                    remove_other_states(dir, name, &file);
                }
            }
            let db = fresh_db(backend)?;
            std::fs::copy(&file, sqlite_path(&db)).expect("the made state copied");
            db
        }
        Backend::Postgres => {
            let admin_url = postgres_url()?;
            {
                let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
                let mut c = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL cannot be reached: {e}"));
                // Test runs in other processes make the same state: one at a time.
                diesel::sql_query("SELECT pg_advisory_lock(7270016)")
                    .execute(&mut c)
                    .expect("the made states' lock");
                if !database_exists(&mut c, &made) {
                    let (db, mut conn) = migrated_db(backend)?;
                    make(&mut conn);
                    drop(conn);
                    let TestDb::Postgres { name: built, .. } = &db else {
                        unreachable!("a PostgreSQL database")
                    };
                    // Renamed only once whole, so a state by this name is always complete;
                    // the test database's drop then finds nothing to drop.
                    diesel::sql_query(format!("ALTER DATABASE \"{built}\" RENAME TO \"{made}\""))
                        .execute(&mut c)
                        .expect("name the made state");
                    drop_other_databases(&mut c, &format!("cpd_{name}_"), &made);
                }
                diesel::sql_query("SELECT pg_advisory_unlock(7270016)")
                    .execute(&mut c)
                    .expect("the made states' lock");
            }
            copy_of(&admin_url, &made).unwrap_or_else(|e| panic!("copy {made} failed: {e}"))
        }
    };
    Some(db)
}

/// The file of a test database on SQLite.
fn sqlite_path(db: &TestDb) -> std::path::PathBuf {
    match db {
        TestDb::Sqlite { url, .. } => std::path::PathBuf::from(
            url.strip_prefix("sqlite://")
                .expect("a SQLite test database's URL"),
        ),
        TestDb::Postgres { .. } => unreachable!("a SQLite database"),
    }
}

/// Removes the kept files of the state `name` made from other sources than `keep`'s.
fn remove_other_states(dir: &std::path::Path, name: &str, keep: &std::path::Path) {
    let prefix = format!("cpd_{name}_");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if path != keep && file_name.starts_with(&prefix) && file_name.ends_with(".db") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether the PostgreSQL server has a database of this name.
fn database_exists(c: &mut PgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result::<N>(c)
    .expect("list databases")
    .n > 0
}

/// Drops the databases whose names start with `prefix`, except `keep` and those another test
/// run is still building (`…_building`); one in use by another run at this moment is left for
/// later.
fn drop_other_databases(c: &mut PgConnection, prefix: &str, keep: &str) {
    #[derive(diesel::QueryableByName)]
    struct Db {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let others: Vec<Db> = diesel::sql_query(format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{}%' AND datname <> '{keep}'",
        prefix.replace('_', "\\_")
    ))
    .load(c)
    .expect("list databases");
    for other in others.iter().filter(|d| !d.datname.ends_with("_building")) {
        let _ =
            diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\"", other.datname)).execute(c);
    }
}

/// A new test database on PostgreSQL, a copy of `template`.
fn copy_of(admin_url: &str, template: &str) -> Result<TestDb, diesel::result::Error> {
    let name = format!("cpd_test_{}", uuid::Uuid::new_v4().simple());
    let mut c = PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL cannot be reached: {e}"));
    diesel::sql_query(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"{}",
        tablespace()
    ))
    .execute(&mut c)?;
    let mut url = url::Url::parse(admin_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    Ok(TestDb::Postgres {
        admin_url: admin_url.to_string(),
        name,
        url: url.to_string(),
    })
}

/// The running service and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// An admin's API token.
    pub admin_token: String,
    pub settings: Settings,
    /// The running service's shared state, for calling the library with a fixed time.
    pub state: cpd_hub::app::state::AppState,
    /// The test's own connections to its database ([`TestApp::with_db`] and the set-up
    /// helpers), opened when first needed and kept for the test. A pool made for each call
    /// opened a connection each time (on PostgreSQL a server process of its own): more than
    /// half of a run's connections (docs/performance.md, "The tests' own connections kept").
    /// Declared before `db`, so they close before the database is dropped.
    own_pool: OnceLock<cpd_hub::db::Pool>,
    pub db: TestDb,
}

static TRACING: OnceLock<()> = OnceLock::new();

/// A client for the service under test, to build on. It drops an idle connection well before
/// the service closes it ([`cpd_hub::startup::KEEP_ALIVE`]); reqwest's own default keeps one
/// for 90 s. A request sent on a connection just as the service closes it gets no answer
/// (hyper's `IncompleteMessage`): a test that spent about five seconds in the browser between
/// two API calls failed that way.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(cpd_hub::startup::KEEP_ALIVE / 2)
}

/// Starts the service on a fresh database, with an admin ready. `None` when the backend is
/// PostgreSQL and no test server is configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// As [`spawn_app`], letting the test adjust the settings first.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    TRACING.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            cpd_hub::telemetry::init(cpd_hub::config::LogFormat::Text);
        }
    });
    let db = tokio::task::spawn_blocking(move || prepared_db(backend))
        .await
        .expect("fresh database")?;
    let mut settings = Settings::for_database(db.url());
    settings.workers = Some(2);
    adjust(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the service starts");
    let port = app.port();
    settings.bind = format!("127.0.0.1:{port}");
    // The service names the port it bound in its default public address; so does the copy.
    settings.public_base_url = app.state().settings.public_base_url.clone();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let admin_settings = settings.clone();
    let (_, admin_token) = tokio::task::spawn_blocking(move || {
        cpd_hub::commands::admin::create(&admin_settings, "admin@alliance.test", "Ada Admin")
    })
    .await
    .unwrap()
    .expect("admin created");
    Some(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        backend,
        client: http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        admin_token,
        settings,
        state,
        own_pool: OnceLock::new(),
        db,
    })
}

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    /// GET as the admin, expecting 200, returning the JSON body.
    pub async fn admin_get(&self, path: &str) -> Value {
        let r = self.get(path, Some(&self.admin_token)).await;
        expect_json(r, 200).await
    }

    /// POST as the admin, expecting 201, returning the JSON body.
    pub async fn admin_create(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, Some(&self.admin_token), &body).await;
        expect_json(r, 201).await
    }
}

/// Asserts the status and returns the JSON body (with the body in the failure message).
pub async fn expect_json(r: Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts a problem response: status, content type, and (for 422) that `field` is named.
pub async fn expect_problem(r: Response, status: u16, field: Option<&str>) -> Value {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert_eq!(
        ct, "application/problem+json",
        "problem content type; body: {text}"
    );
    let v: Value = serde_json::from_str(&text).expect("problem is JSON");
    assert_eq!(v["status"], status);
    assert!(v["title"].is_string() && v["detail"].is_string() && v["type"].is_string());
    if let Some(f) = field {
        assert!(
            v["errors"][f].as_array().is_some_and(|m| !m.is_empty()),
            "expected errors.{f}; body: {text}"
        );
    }
    v
}

/// Runs a test body against SQLite and against PostgreSQL (when configured) as two tests:
/// `name::sqlite` and `name::postgres`. `both_backends!(spawn, run)` makes the two tests in
/// the module it is used in, running `run` on the service `spawn` starts (for tests that need
/// the service built in their own way).
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::helpers::*;

            async fn run($app: TestApp) $body

            $crate::both_backends!(spawn_app, run);
        }
    };
    ($spawn:path, $run:path) => {
        #[test]
        fn sqlite() {
            $crate::helpers::run_on($crate::helpers::Backend::Sqlite, $spawn, $run)
        }

        #[test]
        fn postgres() {
            $crate::helpers::run_on($crate::helpers::Backend::Postgres, $spawn, $run)
        }
    };
}

/// Runs `$body(Backend)`, an async function that starts its own service, as two tests:
/// `$name::sqlite` and `$name::postgres` (skipped, saying so, when PostgreSQL is not
/// configured). For tests that need the service built in their own way; the others use
/// [`both_backends!`]. Given only `$body`, the two tests are made in the module it is used in.
#[macro_export]
macro_rules! each_backend {
    ($name:ident, $body:ident) => {
        mod $name {
            $crate::each_backend!(super::$body);
        }
    };
    ($body:path) => {
        #[test]
        fn sqlite() {
            $crate::helpers::run_test($body($crate::helpers::Backend::Sqlite))
        }

        #[test]
        fn postgres() {
            if $crate::helpers::postgres_url().is_some() {
                $crate::helpers::run_test($body($crate::helpers::Backend::Postgres))
            } else {
                eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            }
        }
    };
}

impl TestApp {
    /// Creates a person holding `roles` (everyone holds `staff`) in the given school, and an
    /// API token for them, through the library. Returns `(person_id, token)`.
    pub async fn person_with_roles(
        &self,
        roles: &[cpd_hub::domain::roles::Role],
        school_id: Option<&str>,
    ) -> (String, String) {
        let roles = roles.to_vec();
        let school_id = school_id.map(str::to_string);
        self.with_db(move |conn| {
            // The random tail of a UUIDv7 (its head is the time, shared by quick calls).
            let unique = uuid::Uuid::now_v7().simple().to_string();
            let tail = &unique[unique.len() - 10..];
            let new = cpd_hub::store::people::NewPerson {
                name: format!("Person {tail}"),
                email: format!("person-{tail}@alliance.test"),
                school_id,
                staff_group_id: None,
                roles,
            };
            let id = cpd_hub::db::write_tx(conn, |c| cpd_hub::store::people::insert(c, &new))
                .expect("person created");
            let (_, token) =
                cpd_hub::store::tokens::create(conn, &id, "test", None).expect("token created");
            (id, token)
        })
        .await
    }

    /// Sends a raw body with the given content type.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// The test's own pool (the `own_pool` field), made on first use: up to four
    /// connections at once, for the tests that read and write from several tasks, each
    /// opened only when asked for.
    fn own_pool(&self) -> &cpd_hub::db::Pool {
        self.own_pool.get_or_init(|| {
            cpd_hub::db::build_pool(self.db.url(), Some(4), std::time::Duration::from_secs(10))
                .expect("pool")
        })
    }

    /// A connection from the test's own pool, for the quick set-up helpers below.
    fn own_conn(&self) -> cpd_hub::db::PooledConn {
        self.own_pool().get().expect("database connection")
    }

    /// Runs `f` on a connection to the test's database, off the async workers.
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut cpd_hub::db::DbConn) -> T + Send + 'static,
    ) -> T {
        let pool = self.own_pool().clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("database connection");
            f(&mut conn)
        })
        .await
        .expect("database work finished")
    }
}

// ---------------------------------------------------------------------------------------------
// Named people and quick database reads, for tests that follow one person through sign-in.

impl TestApp {
    /// A connection to the test's database, for quick set-up and inspection from a test.
    pub fn db_conn(&self) -> cpd_hub::db::DbConn {
        cpd_hub::db::Manager::new(self.db.url())
            .and_then(|m| m.open())
            .expect("test database opens")
    }

    /// Creates a person with this email and name, holding `roles` (and `staff`), through the
    /// library. Returns their id.
    pub fn create_person(
        &self,
        email: &str,
        name: &str,
        school_id: Option<&str>,
        roles: &[cpd_hub::domain::roles::Role],
    ) -> String {
        let new = cpd_hub::store::people::NewPerson {
            name: name.to_string(),
            email: email.to_string(),
            school_id: school_id.map(str::to_string),
            staff_group_id: None,
            roles: roles.to_vec(),
        };
        cpd_hub::db::write_tx(&mut self.own_conn(), |c| {
            cpd_hub::store::people::insert(c, &new)
        })
        .expect("person created")
    }

    /// A new API token for a person.
    pub fn token_for(&self, person_id: &str) -> String {
        cpd_hub::store::tokens::create(&mut self.own_conn(), person_id, "test", None)
            .expect("token created")
            .1
    }

    /// The admin's person id.
    pub fn admin_id(&self) -> String {
        cpd_hub::store::people::find_id_by_email(&mut self.own_conn(), "admin@alliance.test")
            .unwrap()
            .expect("the admin exists")
    }
}

/// Where a page sends someone who is not signed in, after a GET of `path`: the home page's
/// sign-in form, carrying the page to come back to.
pub fn sign_in_location(path: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", path)
        .finish();
    format!("/?{query}")
}

/// A request as a browser signed in with the session `cookie` sends it from cpd-hub's own
/// pages (its own origin, so the cross-site check lets it through).
pub fn as_browser(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header("origin", &app.address);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("cpd_session={c}"));
    }
    req
}

/// A response's `Location`, or "" without one.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A page's HTML, asserting it answered 200 with an HTML page. The `/` the templates escape
/// in values (`&#x2f;`) is given back, so links read as a browser follows them.
pub async fn page_text(app: &TestApp, path: &str, cookie: Option<&str>) -> String {
    let r = as_browser(app, reqwest::Method::GET, path, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    r.text().await.unwrap().replace("&#x2f;", "/")
}

/// A page's words as a reader sees them, roughly: tags dropped, the common entities decoded
/// and runs of white space made one space.
pub fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}
