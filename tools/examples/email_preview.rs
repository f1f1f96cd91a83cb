//! Renders a notification from its sample payload (or a payload file) so template changes can
//! be checked without sending anything:
//!
//! ```text
//! cargo run -p cpd-hub-tools --example email_preview -- booking_confirmed [payload.json] [out-dir]
//! ```
//!
//! Prints the subject and the text part, and writes `<kind>.html` (and the `.ics`, if any) to
//! `out-dir` (default: the current folder). `EMAIL_TEMPLATES_DIR` is honoured, as in `serve`.

use std::path::{Path, PathBuf};

use cpd_hub::domain::notification::Kind;
use cpd_hub::email::templates::{sample, Organizer, Templates};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let kind: Kind = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: email_preview KIND [payload.json] [out-dir]"))?
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let payload = match args.next() {
        Some(p) if p != "-" => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        _ => sample(kind),
    };
    let out = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let dir = std::env::var("EMAIL_TEMPLATES_DIR").ok();
    let templates =
        Templates::load(dir.as_deref().map(Path::new)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let organizer = Organizer {
        name: "CPD team".into(),
        email: "cpd@alliance.example".into(),
    };
    let r = templates
        .render(
            kind.as_str(),
            &payload,
            "https://cpd.alliance.example",
            &organizer,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Subject: {}\n\n{}", r.subject, r.text);
    std::fs::create_dir_all(&out)?;
    let html = out.join(format!("{kind}.html"));
    std::fs::write(&html, &r.html)?;
    eprintln!("HTML written to {}", html.display());
    if let Some(ics) = r.ics {
        let path = out.join(&ics.filename);
        std::fs::write(&path, &ics.content)?;
        eprintln!("Calendar written to {}", path.display());
    }
    Ok(())
}
