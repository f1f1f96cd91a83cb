//! `cpd-hub import-schools`: a DfE "Get Information about Schools" (GIAS) file from the
//! command line, with the same rules as `POST /api/v1/schools/import`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::config::Settings;
use crate::domain::gias;
use crate::error::AppError;
use crate::store::schools::{import_gias, ImportOptions, ImportReport};

/// Imports `file`, taking clusters from the `clusters` mapping file (`URN,cluster` lines) when
/// given. Shows a progress bar when standard error is a terminal.
pub fn import_schools(
    settings: &Settings,
    file: &Path,
    clusters: Option<&Path>,
    create_clusters: bool,
) -> anyhow::Result<ImportReport> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let map = match clusters {
        None => None,
        Some(path) => {
            let raw =
                std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some(
                gias::parse_cluster_map(&raw)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
    };
    let mut conn = super::open_migrated(settings)?;
    let options = ImportOptions {
        create_clusters,
        actor_id: None,
        source: "command line",
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} schools ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let result = import_gias(&mut conn, &bytes, map.as_ref(), &options, &mut progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result.map_err(|e| match e {
        AppError::Validation(errors) => anyhow::anyhow!(
            "{}: {}",
            file.display(),
            errors
                .into_values()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    })
}

/// Writes what an import did: the counts, the clusters created, then each rejected line.
pub fn print_report(
    out: &mut impl Write,
    file: &Path,
    report: &ImportReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} created, {} updated, {} unchanged, {} rejected.",
        file.display(),
        report.created,
        report.updated,
        report.unchanged,
        report.rejected.len()
    )?;
    if !report.clusters_created.is_empty() {
        writeln!(
            out,
            "Clusters created: {}.",
            report.clusters_created.join(", ")
        )?;
    }
    if !report.rejected.is_empty() {
        writeln!(out, "Rejected lines:")?;
        for r in &report.rejected {
            match &r.urn {
                Some(urn) => writeln!(out, "  line {} (URN {urn}): {}", r.line, r.reason)?,
                None => writeln!(out, "  line {}: {}", r.line, r.reason)?,
            }
        }
    }
    Ok(())
}
