//! The `cpd-hub` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cpd_hub::config::Settings;

/// cpd-hub: the CPD calendar, bookings, registers, evaluation and reports of a schools' alliance.
///
/// Settings come from environment variables (or a .env file): DATABASE_URL (default
/// sqlite://cpd-hub.db), BIND (default 127.0.0.1:8080), PUBLIC_BASE_URL, SMTP_URL, MAIL_FROM,
/// RUST_LOG. See README.md.
#[derive(Parser)]
#[command(name = "cpd-hub", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve HTTP and run the email worker (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage admins.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin (or promote the person with this email) and print a new API token as
    /// the last line of output.
    Create {
        /// Their email address; they sign in with it.
        #[arg(long)]
        email: String,
        /// Their name.
        #[arg(long)]
        name: String,
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
        .map_err(|e| anyhow::anyhow!("cannot reach the database: {e}"))?;
    let applied = cpd_hub::db::migrate(&mut conn)?;
    println!(
        "{} migrations applied; the database is up to date.",
        applied.len()
    );
    Ok(())
}
