//! Markdown written by admins (course summaries), rendered to HTML that is safe to put in a
//! page: whatever the Markdown holds, scripts, event handlers and `javascript:` links are gone.

use pulldown_cmark::{html, Options, Parser};

/// Renders Markdown to sanitised HTML. Raw HTML in the Markdown survives only where it is
/// harmless (ammonia's allow-list); links get `rel="noopener noreferrer"`.
pub fn to_safe_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let parser = Parser::new_ext(markdown, options);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, parser);
    ammonia::clean(&raw)
}

/// Markdown reduced to plain text for places that show no formatting (calendar event
/// descriptions): the text of each block, blocks separated by blank lines, links as
/// "text (url)".
pub fn to_plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, Tag, TagEnd};
    let mut out = String::new();
    let mut link: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => link = Some(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link.take() {
                    out.push_str(&format!(" ({url})"));
                }
            }
            Event::Start(Tag::Item) => out.push_str("- "),
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock) => {
                out.push_str("\n\n")
            }
            Event::End(TagEnd::Item) => out.push('\n'),
            Event::End(TagEnd::List(_)) => out.push('\n'),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        let html = to_safe_html("**Bold** and a [link](https://example.org)\n\n- one\n- two");
        assert!(html.contains("<strong>Bold</strong>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(html.contains(r#"href="https://example.org""#), "{html}");
        assert!(html.contains("noopener"), "{html}");
    }

    #[test]
    fn removes_anything_dangerous() {
        let html = to_safe_html(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn plain_text() {
        let text =
            to_plain_text("# Aims\n\nLearn **well**, see [the site](https://x.org).\n\n- a\n- b");
        assert_eq!(
            text,
            "Aims\n\nLearn well, see the site (https://x.org).\n\n- a\n- b"
        );
    }
}
