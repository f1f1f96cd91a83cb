//! Turns a rendered email into a MIME message: `multipart/alternative` (text, then HTML), inside
//! `multipart/mixed` with the `.ics` when there is one, addressed and carrying the outbox row's
//! stable `Message-ID`.

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::templates::Rendered;

/// `Auto-Submitted: auto-generated` (RFC 3834), so out-of-office replies are not sent back.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// Builds the message. Fails only on an unusable recipient address (a permanent failure).
pub fn build(
    from: &Mailbox,
    to: &str,
    message_id: &str,
    rendered: &Rendered,
) -> Result<Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the recipient address cannot be used: {e}"))?;
    let alternative = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(rendered.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(rendered.html.clone()),
        );
    let body = match &rendered.ics {
        None => alternative,
        Some(ics) => {
            let content_type = ContentType::parse(&format!(
                "text/calendar; charset=utf-8; method={}",
                ics.method.as_str()
            ))
            .map_err(|e| format!("calendar content type: {e}"))?;
            MultiPart::mixed().multipart(alternative).singlepart(
                Attachment::new(ics.filename.clone()).body(ics.content.clone(), content_type),
            )
        }
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_string()))
        .header(AutoSubmitted)
        .multipart(body)
        .map_err(|e| format!("the message cannot be built: {e}"))
}
