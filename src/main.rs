//! The `cpd-hub` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cpd_hub::config::Settings;

/// cpd-hub: the CPD calendar, bookings, registers, evaluation and reports of a schools' alliance.
///
/// Settings come from environment variables (or a .env file in the working directory), all
/// optional: DATABASE_URL (default sqlite://cpd-hub.db), BIND (default 127.0.0.1:8080),
/// PUBLIC_BASE_URL, SMTP_URL, MAIL_FROM, RUST_LOG. See README.md.
#[derive(Parser)]
#[command(
    name = "cpd-hub",
    version,
    after_help = "First steps on a new machine:\n  \
        cpd-hub admin create --email you@school.example --name \"Your Name\"\n  \
        cpd-hub seed-demo      (optional: a demo alliance to explore)\n  \
        cpd-hub serve          (then open http://127.0.0.1:8080/api/docs/)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve HTTP and run the email worker (the default).
    ///
    /// Listens on BIND (default 127.0.0.1:8080) and uses the database at DATABASE_URL
    /// (default: the SQLite file cpd-hub.db in the working directory, created if missing).
    /// The API documentation is served at /api/docs/. Stop it with Ctrl-C; requests in
    /// progress are finished first.
    Serve,
    /// Apply pending migrations to the database at DATABASE_URL and exit.
    ///
    /// `serve` and the other commands migrate by themselves; use this to prepare a database
    /// ahead of time, e.g. before starting several copies of the service.
    Migrate,
    /// Manage admins: the people who run the service.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Fill the database with a demo alliance: 9 clusters, 92 fictional schools, staff.
    ///
    /// The demo follows the alliance cpd-hub was first built for: its 9 clusters with 79
    /// primary, 11 secondary and 2 special schools, a few hundred staff across the staff
    /// groups (each school with a school lead), course leads, CPD group members and two
    /// providers. Every name is fictional; emails end in .example, so nothing can be sent to
    /// a real address. Safe to run again: only missing records are added, nothing is changed.
    SeedDemo,
    /// Import schools from a DfE "Get Information about Schools" (GIAS) establishment CSV,
    /// creating or updating each school by URN.
    ///
    /// Download the file from GIAS (establishment fields: URN, EstablishmentName,
    /// TypeOfEstablishment, EstablishmentStatus, PhaseOfEducation, LA, Postcode); UTF-8 and
    /// Windows-1252 are both read. An optional "Cluster" column, or --clusters, puts each school
    /// in a cluster (matched by name; missing clusters are created). Bad lines are listed with
    /// their line number and reason; the rest are imported.
    ImportSchools {
        /// The GIAS CSV file.
        file: std::path::PathBuf,
        /// A CSV file of "URN,cluster" lines (a header line is allowed); it wins over a Cluster
        /// column.
        #[arg(long, value_name = "MAPFILE")]
        clusters: Option<std::path::PathBuf>,
        /// Reject lines naming a cluster that does not exist instead of creating it.
        #[arg(long)]
        no_create_clusters: bool,
    },
    /// Email the termly digest of the reports to the CPD Working Group and Networking Group.
    ///
    /// The digest (headline figures, schools that booked nothing by cluster, the best-rated
    /// courses, the largest impact and a link to the dashboard) goes to everyone with the
    /// cpd_group role, or to DIGEST_RECIPIENTS when set. It is queued in the outbox and
    /// delivered by the email worker of `cpd-hub serve`. Each term's digest goes once: running
    /// it again sends nothing unless --force. With DIGEST_SCHEDULE=termly, `serve` sends it
    /// by itself after each term ends.
    Digest {
        /// The termly digest (the only kind there is): required, so that later kinds can be
        /// added without changing what this command does.
        #[arg(long, required = true)]
        term: bool,
        /// Which term, e.g. 2026-27-autumn (terms run September to December, January to
        /// March, April to August). Default: the term that ended last.
        #[arg(long, value_name = "KEY")]
        term_key: Option<String>,
        /// Print the email and how many it would go to; send and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send even if this term's digest went already, or the term has not ended yet.
        #[arg(long)]
        force: bool,
    },
    /// Bring the report cells up to date now and exit.
    ///
    /// The reports add up cells of sums kept ahead of time; `serve` keeps them up to date
    /// every REPORT_REFRESH_SECONDS. After a migration that adds them, or with the refresher
    /// off, this sums every course changed since, with progress on standard error. Reports
    /// are exact without it, only slower while many courses wait.
    ReportsRefresh,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin, or make an existing person an admin, and print a new API token.
    ///
    /// Run this once on a new installation to get in. The token is printed as the last line
    /// of output and is not stored, so copy it then: send it as
    /// `Authorization: Bearer <token>`, or paste it into "Authorize" at /api/docs/. Running
    /// it again for the same email (in any case) promotes that person and prints another
    /// token; it never makes a second person.
    Create {
        /// Their email address, e.g. jo.bloggs@school.example (stored in lower case).
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// Their full name, used only when a new person is created, e.g. "Jo Bloggs".
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Print a one-time sign-in link for a person on record, without emailing it.
    ///
    /// The same single-use link as the emailed one, working for MAGIC_LINK_MINUTES (15 by
    /// default), recorded in the audit log. For a first local run (email goes to the log
    /// then) and for operators when email is down. Open it in a browser and press "Sign in".
    SignInLink {
        /// The person's email address, e.g. jo.bloggs@school.example.
        #[arg(long, value_name = "EMAIL")]
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cpd-hub: bad setting {e}");
            return ExitCode::from(2);
        }
    };
    cpd_hub::telemetry::init(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Admin(AdminCommand::Create { email, name }) => {
            cpd_hub::commands::admin::create(&settings, &email, &name).map(|(created, token)| {
                if created {
                    println!("Created admin {email}.");
                } else {
                    println!("{email} is now an admin.");
                }
                println!("API token (shown once; send it as 'Authorization: Bearer <token>'):");
                println!("{token}");
            })
        }
        Command::Admin(AdminCommand::SignInLink { email }) => {
            cpd_hub::commands::admin::sign_in_link(&settings, &email).map(|link| {
                println!(
                    "Sign-in link for {email} (works once, for {} minutes):",
                    settings.sign_in.link_minutes
                );
                println!("{link}");
            })
        }
        Command::SeedDemo => seed_demo(&settings),
        Command::ImportSchools {
            file,
            clusters,
            no_create_clusters,
        } => cpd_hub::commands::import::import_schools(
            &settings,
            &file,
            clusters.as_deref(),
            !no_create_clusters,
        )
        .and_then(|report| {
            cpd_hub::commands::import::print_report(&mut std::io::stdout().lock(), &file, &report)
                .map_err(Into::into)
        }),
        Command::Digest {
            term: _,
            term_key,
            dry_run,
            force,
        } => cpd_hub::commands::digest::run(
            &settings,
            &cpd_hub::commands::digest::Options {
                term_key,
                dry_run,
                force,
            },
            &mut std::io::stdout().lock(),
        ),
        Command::ReportsRefresh => cpd_hub::commands::open_migrated(&settings).and_then(|mut c| {
            let started = std::time::Instant::now();
            let waiting = cpd_hub::store::report_cells::marked(&mut c)?;
            let tails = cpd_hub::store::report_cells::marked_tails(&mut c)?;
            let done = cpd_hub::store::report_cells::refresh_all(
                &mut c,
                cpd_hub::domain::time::now(),
                500,
                |n| eprintln!("{n} of {waiting} courses summed"),
            )?;
            let left = cpd_hub::store::report_cells::marked_tails(&mut c)?;
            println!(
                "{done} courses summed and {} schools' years of evaluation tails kept in {:.1} s",
                (tails - left).max(0),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpd-hub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = cpd_hub::startup::Application::build(settings.clone()).await?;
        let host = settings
            .bind
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or("127.0.0.1");
        let base = if settings.bind.ends_with(":0") {
            format!("http://{host}:{}", app.port())
        } else {
            format!("http://{}", settings.bind)
        };
        eprintln!("cpd-hub is serving on {base} (API documentation: {base}/api/docs/)");
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = cpd_hub::db::build_pool(&settings.database_url, Some(1), settings.pool_timeout())?;
    let mut conn = pool
        .get()
        .map_err(|e| anyhow::anyhow!("cannot reach the database (DATABASE_URL): {e}"))?;
    let applied = cpd_hub::store::prepare(&mut conn)?;
    println!(
        "{} migrations applied; the database is up to date.",
        applied.len()
    );
    Ok(())
}

fn seed_demo(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = cpd_hub::commands::open_migrated(settings)?;
    let summary = cpd_hub::commands::seed::run(&mut conn)?;
    println!("{summary}");
    Ok(())
}
