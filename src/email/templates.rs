//! The email templates: `email-templates/<kind>/{subject.txt.j2, body.txt.j2, body.html.j2}`,
//! built into the binary, each file optionally replaced by the file of the same path under
//! `EMAIL_TEMPLATES_DIR`. HTML templates are auto-escaped (by their `.html.j2` name); text
//! templates are not. A field a template prints but the payload lacks is an error, so a
//! producer's mistake fails loudly in the tests instead of sending an email with a gap.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Datelike, NaiveDateTime, Timelike};
use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::ics::{self, Calendar, Event, Method};
use crate::domain::notification::{Kind, Notification};
use crate::domain::time::{self, LONDON};

macro_rules! embed {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/email-templates/",
                $path
            )),
        )
    };
}

/// Every template file, by its path under `email-templates/`, as built into the binary.
pub const EMBEDDED: &[(&str, &str)] = &[
    embed!("_layout.html.j2"),
    embed!("_macros.html.j2"),
    embed!("_macros.txt.j2"),
    embed!("approval_requested/body.html.j2"),
    embed!("approval_requested/body.txt.j2"),
    embed!("approval_requested/subject.txt.j2"),
    embed!("booking_approved/body.html.j2"),
    embed!("booking_approved/body.txt.j2"),
    embed!("booking_approved/subject.txt.j2"),
    embed!("booking_cancelled/body.html.j2"),
    embed!("booking_cancelled/body.txt.j2"),
    embed!("booking_cancelled/subject.txt.j2"),
    embed!("booking_confirmed/body.html.j2"),
    embed!("booking_confirmed/body.txt.j2"),
    embed!("booking_confirmed/subject.txt.j2"),
    embed!("booking_declined/body.html.j2"),
    embed!("booking_declined/body.txt.j2"),
    embed!("booking_declined/subject.txt.j2"),
    embed!("booking_promoted/body.html.j2"),
    embed!("booking_promoted/body.txt.j2"),
    embed!("booking_promoted/subject.txt.j2"),
    embed!("booking_waitlisted/body.html.j2"),
    embed!("booking_waitlisted/body.txt.j2"),
    embed!("booking_waitlisted/subject.txt.j2"),
    embed!("course_cancelled/body.html.j2"),
    embed!("course_cancelled/body.txt.j2"),
    embed!("course_cancelled/subject.txt.j2"),
    embed!("course_changed/body.html.j2"),
    embed!("course_changed/body.txt.j2"),
    embed!("course_changed/subject.txt.j2"),
    embed!("course_reminder/body.html.j2"),
    embed!("course_reminder/body.txt.j2"),
    embed!("course_reminder/subject.txt.j2"),
    embed!("sign_in_link/body.html.j2"),
    embed!("sign_in_link/body.txt.j2"),
    embed!("sign_in_link/subject.txt.j2"),
    embed!("evaluation_invitation/body.html.j2"),
    embed!("evaluation_invitation/body.txt.j2"),
    embed!("evaluation_invitation/subject.txt.j2"),
    embed!("evaluation_reminder/body.html.j2"),
    embed!("evaluation_reminder/body.txt.j2"),
    embed!("evaluation_reminder/subject.txt.j2"),
    embed!("termly_digest/body.html.j2"),
    embed!("termly_digest/body.txt.j2"),
    embed!("termly_digest/subject.txt.j2"),
];

/// A sample payload for each kind (`<kind>/sample.json`): the README's examples, rendered by
/// the tests and by the start-up check of overridden templates.
pub const SAMPLES: &[(&str, &str)] = &[
    embed!("approval_requested/sample.json"),
    embed!("booking_approved/sample.json"),
    embed!("booking_cancelled/sample.json"),
    embed!("booking_confirmed/sample.json"),
    embed!("booking_declined/sample.json"),
    embed!("booking_promoted/sample.json"),
    embed!("booking_waitlisted/sample.json"),
    embed!("course_cancelled/sample.json"),
    embed!("course_changed/sample.json"),
    embed!("course_reminder/sample.json"),
    embed!("sign_in_link/sample.json"),
    embed!("evaluation_invitation/sample.json"),
    embed!("evaluation_reminder/sample.json"),
    embed!("termly_digest/sample.json"),
];

/// A template set that could not be loaded, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A message that could not be rendered from its payload. Retrying cannot help, so the worker
/// marks the message failed at once with this text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// An email ready to be addressed and sent.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// An iCalendar attachment, when the payload asks for one.
    pub ics: Option<IcsFile>,
}

/// An `.ics` attachment.
#[derive(Clone, Debug)]
pub struct IcsFile {
    /// `course.ics` or `cancel.ics`.
    pub filename: String,
    /// PUBLISH or CANCEL, also written in the MIME type (`text/calendar; method=...`).
    pub method: Method,
    /// The calendar text (CRLF lines).
    pub content: String,
}

/// Who the calendar says organises the course: the sender of the emails.
pub use crate::domain::ics::Organizer;

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates with any overrides from `dir` (`EMAIL_TEMPLATES_DIR`). Every
    /// kind is rendered once with its sample payload, so a broken override stops start-up
    /// rather than the first email.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_formatter(html_formatter);
        if let Some(d) = dir {
            if !d.is_dir() {
                return Err(TemplateError(format!(
                    "EMAIL_TEMPLATES_DIR: {} is not a folder",
                    d.display()
                )));
            }
        }
        for (name, built_in) in EMBEDDED {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                    TemplateError(format!(
                        "EMAIL_TEMPLATES_DIR: cannot read {}: {e}",
                        path.display()
                    ))
                })?,
                None => built_in.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| TemplateError(format!("email template {name}: {e:#}")))?;
        }
        let templates = Templates { env };
        let organizer = Organizer {
            name: "cpd-hub".into(),
            email: "cpd-hub@localhost".into(),
        };
        for kind in Kind::ALL {
            let payload = sample_notification(kind)
                .map_err(|e| TemplateError(format!("email templates for {kind}: {e}")))?
                .payload();
            templates
                .render(kind.as_str(), &payload, "http://localhost", &organizer)
                .map_err(|e| TemplateError(format!("email templates for {kind}: {e}")))?;
        }
        Ok(templates)
    }

    /// Renders one message of `kind` from its payload.
    pub fn render(
        &self,
        kind: &str,
        payload: &Value,
        base_url: &str,
        organizer: &Organizer,
    ) -> Result<Rendered, RenderError> {
        let kind: Kind = kind.parse().map_err(RenderError)?;
        let Value::Object(fields) = payload else {
            return Err(RenderError(format!(
                "{kind}: the payload is not a JSON object"
            )));
        };
        let mut ctx = fields.clone();
        enrich(&mut ctx).map_err(|e| RenderError(format!("{kind}: {e}")))?;
        ctx.insert("base_url".into(), Value::String(base_url.to_string()));

        let subject = self.render_one(kind, "subject.txt.j2", &ctx)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        ctx.insert("subject".into(), Value::String(subject.clone()));
        let text = tidy_text(&self.render_one(kind, "body.txt.j2", &ctx)?);
        let html = self.render_one(kind, "body.html.j2", &ctx)?;
        let ics = match ctx.get("ics") {
            None | Some(Value::Null) => None,
            Some(spec) => Some(
                calendar_file(spec, &ctx, organizer)
                    .map_err(|e| RenderError(format!("{kind}: ics: {e}")))?,
            ),
        };
        Ok(Rendered {
            subject,
            text,
            html,
            ics,
        })
    }

    fn render_one(
        &self,
        kind: Kind,
        file: &str,
        ctx: &Map<String, Value>,
    ) -> Result<String, RenderError> {
        let name = format!("{kind}/{file}");
        let template = self
            .env
            .get_template(&name)
            .map_err(|e| RenderError(format!("{name}: {e:#}")))?;
        template
            .render(ctx)
            .map_err(|e| RenderError(format!("{name}: {e:#}")))
    }
}

/// Escapes strings printed into HTML templates. minijinja's own escaping also turns `/` into
/// `&#x2f;`, which is safe but makes every link in the HTML source unreadable; `/` needs no
/// escaping in element text or in quoted attributes, so only `& < > " '` are escaped here.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => {
            for c in s.chars() {
                let escaped = match c {
                    '&' => "&amp;",
                    '<' => "&lt;",
                    '>' => "&gt;",
                    '"' => "&quot;",
                    '\'' => "&#x27;",
                    _ => {
                        out.write_char(c).map_err(minijinja::Error::from)?;
                        continue;
                    }
                };
                out.write_str(escaped).map_err(minijinja::Error::from)?;
            }
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// The sample payload of a kind (`<kind>/sample.json`), as its typed notification writes it
/// (see [`sample_notification`]), or null when the sample does not fit the type (which the
/// start-up check and the tests then report).
pub fn sample(kind: Kind) -> Value {
    sample_notification(kind).map_or(Value::Null, |n| n.payload())
}

/// The sample of a kind read into its [`Notification`]: the sample's fields that the type
/// does not have are dropped, so a template printing a field that no producer can write fails
/// when the samples are rendered, as it would for a real message. An error names the file and
/// what the type missed.
pub fn sample_notification(kind: Kind) -> Result<Notification, String> {
    let path = format!("{kind}/sample.json");
    let text = SAMPLES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, t)| *t)
        .unwrap_or("{}");
    let raw: Value = serde_json::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    Notification::from_stored(kind, raw).map_err(|e| format!("{path}: {e}"))
}

/// One session as producers write it.
#[derive(Deserialize)]
struct SessionIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(with = "time::rfc3339")]
    start: NaiveDateTime,
    #[serde(with = "time::rfc3339")]
    end: NaiveDateTime,
    #[serde(default)]
    venue: Option<String>,
    #[serde(default)]
    online_url: Option<String>,
}

/// The `ics` field of a payload. (Older payloads also carry `uid_base`; it is ignored: an
/// event's UID comes from its session, as in the feeds.)
#[derive(Deserialize)]
struct IcsSpec {
    #[serde(default)]
    sequence: i32,
    method: String,
}

/// Adds what templates show but producers need not work out: each session's `display` (the
/// date and times in Europe/London, as people read them) and `expires_display` for a link.
fn enrich(ctx: &mut Map<String, Value>) -> Result<(), String> {
    for list in ["sessions", "cancelled_sessions"] {
        if let Some(Value::Array(items)) = ctx.get_mut(list) {
            for (i, item) in items.iter_mut().enumerate() {
                let parsed: SessionIn = serde_json::from_value(item.clone())
                    .map_err(|e| format!("{list}[{i}]: {e}"))?;
                if let Value::Object(o) = item {
                    if !o.get("display").is_some_and(Value::is_string) {
                        o.insert(
                            "display".into(),
                            Value::String(display_range(parsed.start, parsed.end)),
                        );
                    }
                    o.entry("venue").or_insert(Value::Null);
                    o.entry("online_url").or_insert(Value::Null);
                }
            }
        }
    }
    if let Some(Value::String(s)) = ctx.get("expires_at") {
        let t = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| format!("expires_at {s:?} is not an RFC 3339 time"))?
            .naive_utc();
        let local = time::to_utc(t).with_timezone(&LONDON);
        let display = format!(
            "{} on {}",
            clock(local.naive_local()),
            day(local.naive_local())
        );
        ctx.insert("expires_display".into(), Value::String(display));
    }
    Ok(())
}

/// `Thursday 14 January 2027, 9am to 3:30pm` (Europe/London), or with both dates when the
/// session runs past midnight.
pub fn display_range(start: NaiveDateTime, end: NaiveDateTime) -> String {
    let s = time::to_utc(start).with_timezone(&LONDON).naive_local();
    let e = time::to_utc(end).with_timezone(&LONDON).naive_local();
    if s.date() == e.date() {
        format!("{}, {} to {}", day(s), clock(s), clock(e))
    } else {
        format!("{}, {} to {}, {}", day(s), clock(s), day(e), clock(e))
    }
}

fn day(t: NaiveDateTime) -> String {
    format!(
        "{} {} {} {}",
        t.format("%A"),
        t.day(),
        t.format("%B"),
        t.year()
    )
}

/// `9am`, `3:30pm`, `midday`, `midnight` (the GOV.UK style).
fn clock(t: NaiveDateTime) -> String {
    let (h, m) = (t.hour(), t.minute());
    match (h, m) {
        (0, 0) => "midnight".into(),
        (12, 0) => "midday".into(),
        _ => {
            let suffix = if h < 12 { "am" } else { "pm" };
            let h12 = match h % 12 {
                0 => 12,
                x => x,
            };
            if m == 0 {
                format!("{h12}{suffix}")
            } else {
                format!("{h12}:{m:02}{suffix}")
            }
        }
    }
}

/// Removes the blank lines that optional paragraphs leave behind: at most one empty line in a
/// row, no trailing spaces, one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The `.ics` attachment described by a payload's `ics` field and its sessions, written by
/// the calendar feeds' writer ([`ics::render`]) with the same UID per session, so an email's
/// update or cancellation replaces the event a feed put in someone's calendar.
fn calendar_file(
    spec: &Value,
    ctx: &Map<String, Value>,
    organizer: &Organizer,
) -> Result<IcsFile, String> {
    let spec: IcsSpec = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    let method = Method::parse(&spec.method)
        .ok_or_else(|| format!("method {:?} is not PUBLISH or CANCEL", spec.method))?;
    let title = ctx
        .get("course_title")
        .and_then(Value::as_str)
        .ok_or("course_title is missing")?
        .to_string();
    let url = ctx
        .get("course_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let stamp = time::now();
    let mut events = Vec::new();
    for (list, cancelled) in [("sessions", false), ("cancelled_sessions", true)] {
        let items = match ctx.get(list) {
            Some(Value::Array(items)) => items.clone(),
            None | Some(Value::Null) if list == "cancelled_sessions" => Vec::new(),
            _ => return Err(format!("{list} must be a list of sessions")),
        };
        for (i, item) in items.into_iter().enumerate() {
            let s: SessionIn =
                serde_json::from_value(item).map_err(|e| format!("{list}[{i}]: {e}"))?;
            let id = s
                .id
                .as_deref()
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| format!("{list}[{i}]: the session's id is needed for its UID"))?;
            let mut description = url.clone().unwrap_or_default();
            if let Some(online) = &s.online_url {
                description = format!("Join online: {online}\n{description}");
            }
            events.push(Event {
                uid: ics::session_uid(id),
                sequence: spec.sequence,
                stamp,
                created: None,
                last_modified: None,
                start: s.start,
                end: s.end,
                cancelled,
                summary: title.clone(),
                location: s
                    .venue
                    .clone()
                    .or_else(|| s.online_url.as_ref().map(|_| "Online".into())),
                url: url.clone(),
                description: Some(description),
                alarm_minutes: None,
            });
        }
    }
    if events.is_empty() {
        return Err("there are no sessions to put in the calendar".into());
    }
    let calendar = Calendar {
        method,
        name: None,
        refresh_minutes: None,
        organizer: Some(organizer.clone()),
        events,
    };
    Ok(IcsFile {
        filename: match method {
            Method::Publish => "course.ics".into(),
            Method::Cancel => "cancel.ics".into(),
        },
        method,
        content: ics::render(&calendar),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        Templates::load(None).expect("built-in templates load")
    }

    fn organizer() -> Organizer {
        Organizer {
            name: "CPD team".into(),
            email: "cpd@alliance.test".into(),
        }
    }

    #[test]
    fn every_template_file_on_disk_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("email-templates");
        let mut on_disk = Vec::new();
        for entry in walk(&root) {
            let rel = entry
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.ends_with(".j2") || rel.ends_with("sample.json") {
                on_disk.push(rel);
            }
        }
        on_disk.sort();
        let mut built_in: Vec<String> = EMBEDDED
            .iter()
            .chain(SAMPLES)
            .map(|(p, _)| p.to_string())
            .collect();
        built_in.sort();
        assert_eq!(
            on_disk, built_in,
            "add new template files to EMBEDDED or SAMPLES"
        );
        for kind in Kind::ALL {
            for f in [
                "subject.txt.j2",
                "body.txt.j2",
                "body.html.j2",
                "sample.json",
            ] {
                assert!(
                    built_in.contains(&format!("{kind}/{f}")),
                    "{kind}/{f} is missing"
                );
            }
        }
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn every_kind_renders_its_sample() {
        let t = templates();
        for kind in Kind::ALL {
            let payload = sample(kind);
            let r = t
                .render(
                    kind.as_str(),
                    &payload,
                    "https://cpd.example.org",
                    &organizer(),
                )
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{kind} subject"
            );
            assert!(r.html.starts_with("<!DOCTYPE html>"), "{kind} html");
            assert!(r.html.contains("lang=\"en-GB\""));
            assert!(!r.html.contains("<img"), "{kind}: no images");
            assert!(
                !r.text.contains("\n\n\n"),
                "{kind}: stray blank lines:\n{}",
                r.text
            );
            assert!(!r.text.contains("{{") && !r.html.contains("{{"));
            if let Some(name) = payload.get("person_name").and_then(Value::as_str) {
                assert!(r.text.contains(name), "{kind}: text names the person");
                // The apostrophe in the sample name is escaped in HTML.
                assert!(
                    r.html.contains(&name.replace('\'', "&#x27;")),
                    "{kind}: html names the person"
                );
            }
            if let Some(title) = payload.get("course_title").and_then(Value::as_str) {
                assert!(
                    r.subject.contains(title) && r.text.contains(title),
                    "{kind}"
                );
            }
            // Every kind about a place on a course, except the ones saying there is none,
            // lists the sessions with their dates as people read them.
            if payload.get("sessions").is_some()
                && !matches!(kind, Kind::BookingDeclined | Kind::BookingCancelled)
            {
                assert!(
                    r.text.contains("Thursday 14 January 2027, 9am to 3:30pm"),
                    "{kind}: {}",
                    r.text
                );
                assert!(r.html.contains("Thursday 14 January 2027, 9am to 3:30pm"));
                // Summer time: 15:45 UTC is 4:45pm in London.
                assert!(
                    r.text.contains("Thursday 10 June 2027, 4:45pm to 6:15pm"),
                    "{kind}"
                );
            }
            assert_eq!(
                payload.get("ics").is_some(),
                r.ics.is_some(),
                "{kind}: attachment"
            );
        }
    }

    #[test]
    fn kind_specific_fields_show() {
        let t = templates();
        let render = |k: Kind| {
            t.render(
                k.as_str(),
                &sample(k),
                "https://cpd.example.org",
                &organizer(),
            )
            .unwrap()
        };
        let r = render(Kind::BookingWaitlisted);
        assert!(
            r.text.contains("You are number 3 on the list."),
            "{}",
            r.text
        );
        let r = render(Kind::BookingDeclined);
        assert!(r
            .text
            .contains("We have already sent two colleagues this term."));
        let r = render(Kind::BookingCancelled);
        assert!(r.text.contains("Sam Lead has cancelled your booking"));
        let r = render(Kind::ApprovalRequested);
        assert!(r.text.contains("/approve"));
        assert!(r.html.contains("href=\"https://cpd.example.org/bookings/"));
        assert!(r.text.starts_with("Dear Sam Lead,"));
        let r = render(Kind::CourseReminder);
        assert_eq!(
            r.subject,
            "Reminder: Adaptive teaching for pupils with SEND starts in 2 days"
        );
        let r = render(Kind::SignInLink);
        assert!(r
            .text
            .contains("https://cpd.example.org/auth/magic?token=abc123"));
        assert!(
            r.text
                .contains("expires at 9:15am on Thursday 14 January 2027"),
            "{}",
            r.text
        );
        let r = render(Kind::CourseCancelled);
        let ics = r.ics.unwrap();
        assert_eq!(ics.method, Method::Cancel);
        assert!(ics.content.contains("STATUS:CANCELLED"));
        assert!(ics.content.contains("SEQUENCE:2"));
        // The events the feeds publish for these sessions, so the cancellation removes them.
        assert!(ics
            .content
            .contains("UID:0192f0c4-0000-7000-8000-0000000000a1@cpd-hub\r\n"));
        assert!(ics.content.contains(&format!("PRODID:{}\r\n", ics::PRODID)));
        assert!(ics
            .content
            .contains("ORGANIZER;CN=CPD team:mailto:cpd@alliance.test\r\n"));
        let r = render(Kind::CourseChanged);
        assert!(
            r.text.contains("- The venue is now Barnsley Civic."),
            "{}",
            r.text
        );
        assert!(r.ics.unwrap().content.contains("SEQUENCE:1"));
    }

    #[test]
    fn evaluation_emails_carry_the_link_and_say_how_long_it_works() {
        let t = templates();
        let r = t
            .render(
                "evaluation_invitation",
                &sample(Kind::EvaluationInvitation),
                "https://cpd.example.org",
                &organizer(),
            )
            .unwrap();
        assert_eq!(
            r.subject,
            "How was Adaptive teaching for pupils with SEND? Please tell us"
        );
        assert!(r.text.contains("https://cpd.example.org/evaluate/3f9c2a7d"));
        assert!(
            r.text.contains("until 3:30pm on Thursday 11 February 2027"),
            "{}",
            r.text
        );
        assert!(r
            .html
            .contains("href=\"https://cpd.example.org/evaluate/3f9c2a7d"));
        let mut p = sample(Kind::EvaluationInvitation);
        p["form_kind"] = json!("follow_up");
        let r = t
            .render("evaluation_invitation", &p, "https://x.test", &organizer())
            .unwrap();
        assert!(
            r.subject.starts_with("Has Adaptive teaching"),
            "{}",
            r.subject
        );
        assert!(r.text.contains("you said we could ask you"));
        let r = t
            .render(
                "evaluation_reminder",
                &sample(Kind::EvaluationReminder),
                "https://x.test",
                &organizer(),
            )
            .unwrap();
        assert_eq!(
            r.subject,
            "Reminder: your views on Adaptive teaching for pupils with SEND"
        );
        assert!(r.text.contains("the one we sent before still works too"));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let t = templates();
        let mut p = sample(Kind::BookingCancelled);
        p["by_name"] = Value::Null;
        p.as_object_mut().unwrap().remove("reason");
        let r = t
            .render("booking_cancelled", &p, "https://x.test", &organizer())
            .unwrap();
        assert!(r.text.contains("is cancelled, as you asked."), "{}", r.text);
        let mut p = sample(Kind::BookingDeclined);
        p.as_object_mut().unwrap().remove("reason");
        let r = t
            .render("booking_declined", &p, "https://x.test", &organizer())
            .unwrap();
        assert!(!r.text.contains("The reason given was"));
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = templates();
        let mut p = sample(Kind::BookingConfirmed);
        p["course_title"] = json!("Phonics <script>alert(1)</script> & \"more\"");
        p["person_name"] = json!("<b>Eve</b>");
        let r = t
            .render("booking_confirmed", &p, "https://x.test", &organizer())
            .unwrap();
        assert!(
            r.html
                .contains("Phonics &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;"),
            "{}",
            r.html
        );
        assert!(r.html.contains("Dear &lt;b&gt;Eve&lt;/b&gt;,"));
        assert!(!r.html.contains("<script>") && !r.html.contains("<b>Eve"));
        assert!(r
            .text
            .contains("Phonics <script>alert(1)</script> & \"more\""));
        assert!(r.subject.contains("<script>"), "the subject is plain text");
    }

    #[test]
    fn a_missing_field_is_an_error_not_a_gap() {
        let t = templates();
        let mut p = sample(Kind::BookingWaitlisted);
        p.as_object_mut().unwrap().remove("position");
        let e = t
            .render("booking_waitlisted", &p, "https://x.test", &organizer())
            .unwrap_err();
        assert!(e.to_string().contains("booking_waitlisted"), "{e}");
        let e = t
            .render("no_such_kind", &p, "https://x.test", &organizer())
            .unwrap_err();
        assert!(e.to_string().contains("no_such_kind"));
        let mut p = sample(Kind::BookingConfirmed);
        p["sessions"][0]["start"] = json!("next Tuesday");
        assert!(t
            .render("booking_confirmed", &p, "https://x.test", &organizer())
            .is_err());
        // A calendar event needs its session's id, for a UID the feeds share.
        let mut p = sample(Kind::BookingConfirmed);
        p["sessions"][1].as_object_mut().unwrap().remove("id");
        let e = t
            .render("booking_confirmed", &p, "https://x.test", &organizer())
            .unwrap_err();
        assert!(e.to_string().contains("sessions[1]"), "{e}");
    }

    #[test]
    fn overrides_replace_single_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("booking_confirmed")).unwrap();
        std::fs::write(
            dir.path().join("booking_confirmed/subject.txt.j2"),
            "Booked: {{ course_title }}!",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let r = t
            .render(
                "booking_confirmed",
                &sample(Kind::BookingConfirmed),
                "https://x.test",
                &organizer(),
            )
            .unwrap();
        assert_eq!(r.subject, "Booked: Adaptive teaching for pupils with SEND!");
        // The other files are still the built-in ones.
        assert!(r.text.contains("is confirmed."));

        std::fs::write(dir.path().join("booking_confirmed/body.txt.j2"), "{% if %}").unwrap();
        let e = Templates::load(Some(dir.path())).err().unwrap();
        assert!(
            e.to_string().contains("booking_confirmed/body.txt.j2"),
            "{e}"
        );
        let e = Templates::load(Some(Path::new("/no/such/folder")))
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("EMAIL_TEMPLATES_DIR"), "{e}");
    }

    #[test]
    fn every_sample_is_exactly_what_its_type_writes() {
        // A field in a sample that no type has would be dropped (and a template using it
        // would fail); a field a type needs that the sample lacks fails to read.
        for kind in Kind::ALL {
            let n = sample_notification(kind).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n.kind(), kind);
            let (stored_kind, payload) = n.to_stored();
            assert_eq!(
                stored_kind,
                kind.as_str(),
                "the serde name is the kind's name"
            );
            let path = format!("{kind}/sample.json");
            let (_, raw) = SAMPLES.iter().find(|(p, _)| *p == path).unwrap();
            let raw: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(payload, raw, "{path} has fields its type does not write");
        }
    }

    #[test]
    fn times_read_the_way_people_say_them() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            display_range(t("2027-01-14 12:00"), t("2027-01-14 13:05")),
            "Thursday 14 January 2027, midday to 1:05pm"
        );
        assert_eq!(
            display_range(t("2027-01-14 22:00"), t("2027-01-15 00:00")),
            "Thursday 14 January 2027, 10pm to Friday 15 January 2027, midnight"
        );
    }
}
