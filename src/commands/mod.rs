//! The command-line jobs other than `serve`: each works on the database directly.

pub mod admin;
pub mod digest;
pub mod import;
pub mod seed;
pub mod seed_bookings;
pub mod seed_courses;
pub mod seed_evaluations;
pub mod seed_registers;

use crate::config::Settings;
use crate::db::{self, PooledConn};

/// Opens the database and applies pending migrations, as every command does first.
pub fn open_migrated(settings: &Settings) -> anyhow::Result<PooledConn> {
    let pool = db::build_pool(&settings.database_url, Some(1), settings.pool_timeout())?;
    let mut conn = pool
        .get()
        .map_err(|e| anyhow::anyhow!("cannot reach the database (DATABASE_URL): {e}"))?;
    crate::store::prepare(&mut conn)?;
    Ok(conn)
}
