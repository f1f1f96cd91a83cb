//! `cpd-hub-bench`: fills databases for the benchmarks in `bench/` and prints API tokens for
//! them. Not for real use: it writes generated data straight into the database.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cpd_hub::commands::open_migrated;
use cpd_hub::config::Settings;
use cpd_hub::domain::roles::Role;
use cpd_hub_tools::national::{self, NationalOptions};

/// cpd-hub-bench: benchmark data for cpd-hub.
///
/// Uses the same settings as cpd-hub (DATABASE_URL, default sqlite://cpd-hub.db; a .env file
/// in the working directory is read), and migrates the database first.
#[derive(Parser)]
#[command(name = "cpd-hub-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill the database with many generated courses, for benchmarks (not for real use).
    ///
    /// With --national: a whole national-scale alliance for the report benchmarks (24,000
    /// schools, 500,000 staff, 20,000 courses, 5,000,000 bookings with registers and
    /// evaluations at --scale 1), into a new, empty database.
    BenchSeed {
        /// How many courses.
        #[arg(long, default_value_t = 10_000)]
        courses: usize,
        /// Sessions per course.
        #[arg(long, default_value_t = 3)]
        sessions_per_course: usize,
        /// Seed a national-scale alliance instead of calendar courses.
        #[arg(long)]
        national: bool,
        /// National size multiplier (1: full size; 0.01 for a quick run).
        #[arg(long, default_value_t = 1.0, requires = "national")]
        scale: f64,
        /// Random seed of the national data.
        #[arg(long, default_value_t = 2026, requires = "national")]
        seed: u64,
        /// "Now" for the national data, YYYY-MM-DD (default 2026-11-20): sessions before it
        /// were held.
        #[arg(long, value_name = "DATE", requires = "national")]
        as_of: Option<chrono::NaiveDate>,
        /// Keep the secondary indexes during the load (slower; for comparison).
        #[arg(long, requires = "national")]
        keep_indexes: bool,
        /// On PostgreSQL, load with multi-row INSERTs instead of COPY (for comparison).
        #[arg(long, requires = "national")]
        no_copy: bool,
    },
    /// Print a new API token for a benchmark person holding ROLE (made when missing).
    BenchToken {
        /// The role: staff, school_lead, course_lead, cpd_group or admin.
        #[arg(long, default_value = "cpd_group")]
        role: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cpd-hub-bench: bad setting {e}");
            return ExitCode::from(2);
        }
    };
    cpd_hub::telemetry::init(settings.log_format);
    let result = match cli.command {
        Command::BenchSeed {
            national: true,
            scale,
            seed,
            as_of,
            keep_indexes,
            no_copy,
            ..
        } => open_migrated(&settings).and_then(|mut conn| {
            let opts = NationalOptions {
                scale,
                seed,
                as_of: as_of
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .unwrap_or_else(national::default_as_of),
                // The service reads this database at the real time.
                summed_at: cpd_hub::domain::time::now(),
                drop_indexes: !keep_indexes,
                copy: !no_copy,
                progress: true,
            };
            let report = national::seed_national(&mut conn, &opts)?;
            println!("{report}");
            Ok(())
        }),
        Command::BenchSeed {
            courses,
            sessions_per_course,
            ..
        } => open_migrated(&settings).and_then(|mut conn| {
            let n =
                cpd_hub_tools::bulk_courses::seed_bulk(&mut conn, courses, sessions_per_course)?;
            println!("{n} courses added");
            Ok(())
        }),
        Command::BenchToken { role } => match Role::parse(&role) {
            None => Err(anyhow::anyhow!(
                "--role: {role:?} is not one of staff, school_lead, course_lead, cpd_group, admin"
            )),
            Some(role) => open_migrated(&settings).and_then(|mut conn| {
                let token = cpd_hub_tools::token::bench_token(&mut conn, role)?;
                println!("{token}");
                Ok(())
            }),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpd-hub-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
