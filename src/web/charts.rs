//! Charts drawn on the server as SVG, so the dashboard needs no script and prints as it shows.
//!
//! Each chart is an `<svg role="img">` named by its `<title>` and summed up by its `<desc>`;
//! every bar and point carries its own `<title>` ("North cluster, attendance rate: 82%") and a
//! printed value, so the figures can be read without telling colours apart. Series differ by
//! fill pattern as well as colour, and every colour meets WCAG 2.2 AA's 3:1 for graphics
//! against the white background (text is near-black, above 4.5:1). Presentation attributes
//! only, never `style`: the pages' Content-Security-Policy refuses inline styles.
//!
//! Output is deterministic: the same data draws the same bytes (coordinates are rounded to a
//! tenth), so pages can be compared and cached. The page puts a data table next to every
//! chart; the charts do not replace it.

use std::fmt::Write as _;

/// Near-black, for text and axes (as the stylesheet's `--text`).
pub const TEXT_COLOUR: &str = "#0b0c0c";
/// Gridlines are decoration (about 2:1 on white): the bars, their value labels and the table
/// after each chart carry the figures, so WCAG 1.4.11's 3:1 for meaningful graphics does not
/// apply to them, and lighter lines keep the bars easy to read.
const GRID_COLOUR: &str = "#b1b4b6";
/// One colour per series, in order; each at least 3:1 against white.
pub const SERIES_COLOURS: [&str; 3] = ["#1d4f91", "#a33b00", "#4c2c92"];
/// What a value without a denominator shows (a rate of nothing, a suppressed figure).
pub const NO_DATA: &str = "no data";

/// How values read and how the value axis runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// A rate in [0, 1], shown as a percentage; the axis runs 0% to 100%.
    Rate,
    /// A count, shown as a whole number; the axis runs from 0 to a round number above the
    /// largest value.
    Count,
}

impl Scale {
    /// A value as people read it: `75%`, `66.7%`, `1,234`.
    pub fn format(self, v: f64) -> String {
        match self {
            Scale::Rate => percent(v),
            Scale::Count => count(v),
        }
    }
}

/// Rates and counts print as in the tables and emails (`75%`, `1,234`).
pub use crate::reports::summary::{count, percent};

/// One labelled value; `None` draws "no data" instead of a bar or point.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    /// What the value is of (a cluster, a term).
    pub label: String,
    /// The value, or `None` when there is none to show.
    pub value: Option<f64>,
}

impl Datum {
    /// A labelled value.
    pub fn new(label: impl Into<String>, value: Option<f64>) -> Datum {
        Datum {
            label: label.into(),
            value,
        }
    }
}

/// A horizontal bar chart of rates: one bar per label.
#[derive(Clone, Debug)]
pub struct BarChart {
    /// The `id` of the `<svg>`; the title, description and patterns derive theirs from it.
    pub id: String,
    /// What the chart shows, e.g. "Attendance rate by cluster".
    pub title: String,
    /// A sentence or two for people who cannot see it, e.g. where the table of figures is.
    pub description: String,
    /// The bars, top to bottom.
    pub bars: Vec<Datum>,
}

/// Horizontal bars in groups: per group (a cluster) one bar per series (fill rate,
/// attendance rate), all rates.
#[derive(Clone, Debug)]
pub struct GroupedBarChart {
    /// The `id` of the `<svg>`.
    pub id: String,
    /// What the chart shows.
    pub title: String,
    /// A sentence or two for people who cannot see it.
    pub description: String,
    /// The series' names, in the order of each group's values (at most three).
    pub series: Vec<String>,
    /// The groups, top to bottom.
    pub groups: Vec<Group>,
}

/// One group of a [`GroupedBarChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The group's label.
    pub label: String,
    /// One value per series (missing ones count as no data).
    pub values: Vec<Option<f64>>,
}

/// A line through values in order (terms), with a point and a printed value at each.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// The `id` of the `<svg>`.
    pub id: String,
    /// What the chart shows.
    pub title: String,
    /// A sentence or two for people who cannot see it.
    pub description: String,
    /// What the values are, e.g. "Attendance rate" (names the value axis).
    pub value_name: String,
    /// Rates or counts.
    pub scale: Scale,
    /// The points, left to right.
    pub points: Vec<Datum>,
}

/// Escapes text for SVG (XML) element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate, rounded to a tenth, without a trailing `.0`.
fn n(x: f64) -> String {
    let tenths = (x * 10.0).round() as i64;
    if tenths % 10 == 0 {
        (tenths / 10).to_string()
    } else {
        format!("{}.{}", tenths / 10, (tenths % 10).abs())
    }
}

/// A label cut to `max` characters (with an ellipsis), for the space beside the bars; the
/// full label stays in the bar's `<title>` and in the table.
fn clip(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// A usable id: letters, digits, `-` and `_` only.
fn clean_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "chart".into()
    } else {
        s
    }
}

const FONT: &str =
    "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif\"";

/// Opens the `<svg>` with its accessible name and description.
fn open(out: &mut String, id: &str, title: &str, description: &str, w: f64, h: f64) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" \
         viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" {FONT} font-size=\"13\" fill=\"{TEXT_COLOUR}\">\
         <title id=\"{id}-title\">{title}</title><desc id=\"{id}-desc\">{desc}</desc>",
        w = n(w),
        h = n(h),
        title = escape(title),
        desc = escape(description),
    );
}

/// The fill patterns: series 0 solid, series 1 diagonal stripes, series 2 dots, so series
/// differ by more than colour.
fn defs(out: &mut String, id: &str, series: usize) {
    out.push_str("<defs>");
    for (i, colour) in SERIES_COLOURS.iter().enumerate().take(series).skip(1) {
        if i == 1 {
            let _ = write!(
                out,
                "<pattern id=\"{id}-p{i}\" patternUnits=\"userSpaceOnUse\" width=\"8\" height=\"8\" \
                 patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"{colour}\"/>\
                 <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#ffffff\" stroke-width=\"3\"/></pattern>"
            );
        } else {
            let _ = write!(
                out,
                "<pattern id=\"{id}-p{i}\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\">\
                 <rect width=\"6\" height=\"6\" fill=\"{colour}\"/>\
                 <circle cx=\"3\" cy=\"3\" r=\"1.4\" fill=\"#ffffff\"/></pattern>"
            );
        }
    }
    out.push_str("</defs>");
}

fn series_fill(id: &str, i: usize) -> String {
    if i == 0 {
        SERIES_COLOURS[0].to_string()
    } else {
        format!("url(#{id}-p{i})")
    }
}

/// A horizontal bar chart of rates.
pub fn bar_chart(chart: &BarChart) -> String {
    grouped_bar_chart(&GroupedBarChart {
        id: chart.id.clone(),
        title: chart.title.clone(),
        description: chart.description.clone(),
        series: vec![chart.title.clone()],
        groups: chart
            .bars
            .iter()
            .map(|d| Group {
                label: d.label.clone(),
                values: vec![d.value],
            })
            .collect(),
    })
}

/// Horizontal grouped bars of rates, with a legend when there is more than one series.
pub fn grouped_bar_chart(chart: &GroupedBarChart) -> String {
    const W: f64 = 640.0;
    const LABEL_W: f64 = 170.0;
    const VALUE_W: f64 = 70.0;
    const BAR_H: f64 = 16.0;
    const BAR_GAP: f64 = 3.0;
    const GROUP_GAP: f64 = 14.0;
    const AXIS_H: f64 = 22.0;
    let id = clean_id(&chart.id);
    let series = chart.series.len().clamp(1, SERIES_COLOURS.len());
    let legend_h = if series > 1 { 26.0 } else { 0.0 };
    let top = 8.0 + legend_h;
    let group_h = series as f64 * (BAR_H + BAR_GAP) - BAR_GAP;
    let plot_x = LABEL_W + 8.0;
    let plot_w = W - plot_x - VALUE_W;
    let body_h = if chart.groups.is_empty() {
        40.0
    } else {
        chart.groups.len() as f64 * (group_h + GROUP_GAP) - GROUP_GAP
    };
    let h = top + body_h + 8.0 + AXIS_H;

    let mut out = String::new();
    open(&mut out, &id, &chart.title, &chart.description, W, h);
    defs(&mut out, &id, series);

    if series > 1 {
        let mut x = plot_x;
        for (i, name) in chart.series.iter().take(series).enumerate() {
            let _ = write!(
                out,
                "<g class=\"legend-item\"><rect x=\"{x}\" y=\"8\" width=\"14\" height=\"14\" \
                 fill=\"{fill}\" stroke=\"{c}\"/><text x=\"{tx}\" y=\"19\">{name}</text></g>",
                x = n(x),
                fill = series_fill(&id, i),
                c = SERIES_COLOURS[i],
                tx = n(x + 20.0),
                name = escape(name),
            );
            x += 20.0 + name.chars().count() as f64 * 7.5 + 24.0;
        }
    }

    // Grid and value axis: 0%, 25%, ... 100%.
    let axis_y = top + body_h + 8.0;
    out.push_str("<g class=\"axis\" aria-hidden=\"true\">");
    for step in 0..=4 {
        let v = step as f64 / 4.0;
        let x = plot_x + plot_w * v;
        let _ = write!(
            out,
            "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"{GRID_COLOUR}\" \
             stroke-width=\"1\"/><text x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\" \
             font-size=\"12\">{label}</text>",
            x = n(x),
            y1 = n(top - 4.0),
            y2 = n(axis_y),
            ty = n(axis_y + 15.0),
            label = percent(v),
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"{TEXT_COLOUR}\" \
         stroke-width=\"1.5\"/></g>",
        x = n(plot_x),
        y1 = n(top - 4.0),
        y2 = n(axis_y),
    );

    if chart.groups.is_empty() {
        let _ = write!(
            out,
            "<text class=\"no-data\" x=\"{x}\" y=\"{y}\">{NO_DATA}</text>",
            x = n(plot_x + 8.0),
            y = n(top + 24.0),
        );
    }

    for (g, group) in chart.groups.iter().enumerate() {
        let gy = top + g as f64 * (group_h + GROUP_GAP);
        let _ = write!(
            out,
            "<g class=\"group\"><text x=\"{x}\" y=\"{y}\" text-anchor=\"end\">{label}</text>",
            x = n(LABEL_W),
            y = n(gy + group_h / 2.0 + 4.5),
            label = escape(&clip(&group.label, 24)),
        );
        for (s, colour) in SERIES_COLOURS.iter().enumerate().take(series) {
            let by = gy + s as f64 * (BAR_H + BAR_GAP);
            let value = group.values.get(s).copied().flatten();
            let name = if series > 1 {
                format!("{}, {}", group.label, chart.series[s].to_lowercase())
            } else {
                group.label.clone()
            };
            match value {
                Some(v) => {
                    let len = (plot_w * v.clamp(0.0, 1.0)).max(if v > 0.0 { 1.0 } else { 0.0 });
                    let shown = percent(v);
                    let _ = write!(
                        out,
                        "<rect class=\"bar\" data-series=\"{s}\" x=\"{x}\" y=\"{y}\" \
                         width=\"{w}\" height=\"{BAR_H}\" fill=\"{fill}\" stroke=\"{c}\">\
                         <title>{title}: {shown}</title></rect>\
                         <text class=\"value\" x=\"{tx}\" y=\"{ty}\" aria-hidden=\"true\">{shown}</text>",
                        x = n(plot_x),
                        y = n(by),
                        w = n(len),
                        fill = series_fill(&id, s),
                        c = colour,
                        title = escape(&name),
                        tx = n(plot_x + len + 6.0),
                        ty = n(by + BAR_H - 3.5),
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<text class=\"no-data\" x=\"{x}\" y=\"{y}\" font-style=\"italic\">\
                         <title>{title}: {NO_DATA}</title>{NO_DATA}</text>",
                        x = n(plot_x + 6.0),
                        y = n(by + BAR_H - 3.5),
                        title = escape(&name),
                    );
                }
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A round number at or above `max` for a count axis: 1, 2 or 5 times a power of ten.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= max {
            return m * mag;
        }
    }
    10.0 * mag
}

/// A line chart through the points in order, breaking where a value is missing.
pub fn line_chart(chart: &LineChart) -> String {
    const W: f64 = 640.0;
    const H: f64 = 280.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 24.0;
    const TOP: f64 = 24.0;
    const BOTTOM: f64 = 64.0;
    let id = clean_id(&chart.id);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let base_y = TOP + plot_h;
    let max = match chart.scale {
        Scale::Rate => 1.0,
        Scale::Count => nice_ceiling(
            chart
                .points
                .iter()
                .filter_map(|p| p.value)
                .fold(0.0, f64::max),
        ),
    };
    let y_of = |v: f64| base_y - plot_h * (v / max).clamp(0.0, 1.0);
    let count = chart.points.len();
    let x_of = |i: usize| {
        if count <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + 16.0 + (plot_w - 32.0) * i as f64 / (count - 1) as f64
        }
    };

    let mut out = String::new();
    open(&mut out, &id, &chart.title, &chart.description, W, H);

    out.push_str("<g class=\"axis\" aria-hidden=\"true\">");
    for step in 0..=4 {
        let v = max * step as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            out,
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{GRID_COLOUR}\" \
             stroke-width=\"1\"/><text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" \
             font-size=\"12\">{label}</text>",
            x1 = n(LEFT),
            x2 = n(W - RIGHT),
            y = n(y),
            tx = n(LEFT - 6.0),
            ty = n(y + 4.0),
            label = chart.scale.format(v),
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"{TEXT_COLOUR}\" \
         stroke-width=\"1.5\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" \
         stroke=\"{TEXT_COLOUR}\" stroke-width=\"1.5\"/>\
         <text x=\"14\" y=\"{my}\" text-anchor=\"middle\" font-size=\"12\" \
         transform=\"rotate(-90 14 {my})\">{name}</text></g>",
        l = n(LEFT),
        r = n(W - RIGHT),
        t = n(TOP),
        b = n(base_y),
        my = n(TOP + plot_h / 2.0),
        name = escape(&chart.value_name),
    );

    // The x-axis labels, on two lines when long ("Autumn" / "2026/27").
    for (i, p) in chart.points.iter().enumerate() {
        let x = n(x_of(i));
        let label = clip(&p.label, 32);
        let (first, second) = match label.rsplit_once(' ') {
            Some((a, b)) if label.chars().count() > 10 => (a.to_string(), Some(b.to_string())),
            _ => (label.clone(), None),
        };
        let _ = write!(
            out,
            "<text class=\"x-label\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"12\">\
             <tspan x=\"{x}\">{first}</tspan>",
            y = n(base_y + 18.0),
            first = escape(&first),
        );
        if let Some(second) = second {
            let _ = write!(
                out,
                "<tspan x=\"{x}\" dy=\"15\">{}</tspan>",
                escape(&second)
            );
        }
        out.push_str("</text>");
    }

    // The line, in runs of consecutive known values.
    let mut run: Vec<String> = Vec::new();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for (i, p) in chart.points.iter().enumerate() {
        match p.value {
            Some(v) => run.push(format!("{},{}", n(x_of(i)), n(y_of(v)))),
            None => runs.push(std::mem::take(&mut run)),
        }
    }
    runs.push(run);
    for r in runs.into_iter().filter(|r| r.len() > 1) {
        let _ = write!(
            out,
            "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"{}\" \
             stroke-width=\"2.5\" aria-hidden=\"true\"/>",
            r.join(" "),
            SERIES_COLOURS[0]
        );
    }

    if chart.points.is_empty() {
        let _ = write!(
            out,
            "<text class=\"no-data\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{NO_DATA}</text>",
            x = n(LEFT + plot_w / 2.0),
            y = n(TOP + plot_h / 2.0),
        );
    }
    for (i, p) in chart.points.iter().enumerate() {
        let x = x_of(i);
        match p.value {
            Some(v) => {
                let shown = chart.scale.format(v);
                let y = y_of(v);
                let _ = write!(
                    out,
                    "<circle class=\"point\" cx=\"{cx}\" cy=\"{cy}\" r=\"4.5\" fill=\"{c}\" \
                     stroke=\"#ffffff\" stroke-width=\"1.5\"><title>{label}: {shown}</title></circle>\
                     <text class=\"value\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\" \
                     aria-hidden=\"true\">{shown}</text>",
                    cx = n(x),
                    cy = n(y),
                    c = SERIES_COLOURS[0],
                    label = escape(&p.label),
                    ty = n(y - 9.0),
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<text class=\"no-data\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" \
                     font-style=\"italic\"><title>{label}: {NO_DATA}</title>{NO_DATA}</text>",
                    x = n(x),
                    y = n(base_y - 8.0),
                    label = escape(&p.label),
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small well-formedness check: every tag closes in order, attributes are quoted, no
    /// stray `<` or `&` in text. Enough to catch broken markup without an XML crate.
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            let gt = rest[lt..].find('>').expect("tag closes") + lt;
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "< inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name = body
                    .split_whitespace()
                    .next()
                    .expect("tag name")
                    .to_string();
                check_attributes(body[name.len()..].trim());
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[gt + 1..];
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>'), "stray > in {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "bare & in {text:?}"
            );
        }
    }

    fn check_attributes(mut attrs: &str) {
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .unwrap_or_else(|| panic!("attribute without value: {attrs}"));
            let name = attrs[..eq].trim();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "attribute name {name:?}"
            );
            let after = &attrs[eq + 1..];
            assert!(after.starts_with('"'), "unquoted attribute {name}");
            let close = after[1..].find('"').expect("attribute closes") + 1;
            let value = &after[1..close];
            check_text(value);
            assert!(!value.contains('<'));
            attrs = after[close + 1..].trim_start();
        }
    }

    fn clusters() -> GroupedBarChart {
        GroupedBarChart {
            id: "by-cluster".into(),
            title: "Fill and attendance rates by cluster".into(),
            description: "The same figures are in the table below.".into(),
            series: vec!["Fill rate".into(), "Attendance rate".into()],
            groups: vec![
                Group {
                    label: "Dearne".into(),
                    values: vec![Some(0.75), Some(2.0 / 3.0)],
                },
                Group {
                    label: "Penistone & <West>".into(),
                    values: vec![Some(1.0), None],
                },
                Group {
                    label: "Central".into(),
                    values: vec![Some(0.0), Some(0.5)],
                },
            ],
        }
    }

    #[test]
    fn grouped_bars_are_well_formed_accessible_and_labelled() {
        let svg = grouped_bar_chart(&clusters());
        assert_well_formed(&svg);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"by-cluster-title by-cluster-desc\""));
        assert!(svg.contains(
            "<title id=\"by-cluster-title\">Fill and attendance rates by cluster</title>"
        ));
        assert!(svg.contains("<desc id=\"by-cluster-desc\">"));
        // Five bars with values, one missing value shown as words.
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 5);
        assert_eq!(svg.matches("data-series=\"0\"").count(), 3);
        assert_eq!(svg.matches("data-series=\"1\"").count(), 2);
        assert!(svg.contains("<title>Dearne, fill rate: 75%</title>"));
        assert!(svg.contains("<title>Dearne, attendance rate: 66.7%</title>"));
        assert!(svg.contains(
            "<title>Penistone &amp; &lt;West&gt;, attendance rate: no data</title>no data"
        ));
        // The values are printed, and the second series is patterned, not only coloured.
        assert!(svg.contains(">66.7%</text>"));
        assert!(svg.contains("fill=\"url(#by-cluster-p1)\""));
        assert!(svg.contains("<pattern id=\"by-cluster-p1\""));
        // A legend names both series.
        assert!(svg.contains(">Fill rate</text>") && svg.contains(">Attendance rate</text>"));
        assert!(!svg.contains(" style="), "no inline styles (CSP)");
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(
            grouped_bar_chart(&clusters()),
            grouped_bar_chart(&clusters())
        );
        let line = trend();
        assert_eq!(line_chart(&line), line_chart(&line));
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let svg = bar_chart(&BarChart {
            id: "x\" onload=\"alert(1)".into(),
            title: "<script>alert('t')</script>".into(),
            description: "a & b".into(),
            bars: vec![Datum::new("St Mary's \"C of E\" <b>", Some(0.5))],
        });
        assert_well_formed(&svg);
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("onload=\""));
        assert!(svg.contains("id=\"x--onload--alert-1-\""));
        assert!(svg.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
        assert!(svg.contains("St Mary&#39;s &quot;C of E&quot; &lt;b&gt;: 50%"));
        assert!(svg.contains("<desc id=\"x--onload--alert-1--desc\">a &amp; b</desc>"));
    }

    #[test]
    fn long_labels_are_clipped_beside_the_bar_but_whole_in_its_title() {
        let long = "The Federation of Hoyland Springwood and Common Primary Schools";
        let svg = bar_chart(&BarChart {
            id: "long".into(),
            title: "Fill rate".into(),
            description: String::new(),
            bars: vec![Datum::new(long, Some(0.25))],
        });
        assert_well_formed(&svg);
        assert!(svg.contains(&format!("<title>{long}: 25%</title>")));
        assert!(svg.contains(">The Federation of Hoyla…</text>"));
    }

    #[test]
    fn empty_charts_say_there_is_no_data() {
        let bars = bar_chart(&BarChart {
            id: "empty".into(),
            title: "Fill rate by cluster".into(),
            description: "Nothing yet.".into(),
            bars: vec![],
        });
        assert_well_formed(&bars);
        assert!(bars.contains(">no data</text>"));
        assert_eq!(bars.matches("class=\"bar\"").count(), 0);
        let line = line_chart(&LineChart {
            points: vec![],
            ..trend()
        });
        assert_well_formed(&line);
        assert!(line.contains(">no data</text>"));
        assert!(!line.contains("<polyline"));
    }

    fn trend() -> LineChart {
        LineChart {
            id: "trend".into(),
            title: "Attendance rate by term".into(),
            description: "The same figures are in the table below.".into(),
            value_name: "Attendance rate".into(),
            scale: Scale::Rate,
            points: vec![
                Datum::new("Autumn 2026/27", Some(0.8)),
                Datum::new("Spring 2026/27", Some(0.6)),
                Datum::new("Summer 2026/27", None),
                Datum::new("Autumn 2027/28", Some(0.9)),
            ],
        }
    }

    #[test]
    fn a_trend_line_has_points_axis_labels_and_gaps() {
        let svg = line_chart(&trend());
        assert_well_formed(&svg);
        assert!(svg.contains("role=\"img\""));
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 3);
        assert!(svg.contains("<title>Spring 2026/27: 60%</title>"));
        assert!(svg.contains("<title>Summer 2026/27: no data</title>"));
        // One segment through the first two points; the lone point after the gap stands alone.
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("<tspan x=\"") && svg.contains(">Autumn</tspan>"));
        assert!(svg.contains(">2026/27</tspan>"));
        assert!(svg.contains(">100%</text>") && svg.contains(">0%</text>"));
        assert!(svg.contains(">Attendance rate</text>"));
    }

    #[test]
    fn a_count_trend_gets_a_round_axis() {
        let svg = line_chart(&LineChart {
            scale: Scale::Count,
            value_name: "Bookings".into(),
            points: vec![
                Datum::new("Autumn 2026/27", Some(1234.0)),
                Datum::new("Spring 2026/27", Some(87.0)),
            ],
            ..trend()
        });
        assert_well_formed(&svg);
        assert!(svg.contains(">2,000</text>"), "axis top at 2,000");
        assert!(svg.contains("<title>Autumn 2026/27: 1,234</title>"));
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(450.0), 500.0);
    }

    /// WCAG 2.x relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn colours_meet_wcag_aa_against_white() {
        assert!(contrast(TEXT_COLOUR, "#ffffff") >= 4.5);
        for c in SERIES_COLOURS {
            // 1.4.11 non-text contrast: 3:1 against the background; also 4.5:1 so the
            // legend's coloured swatches read even at small sizes.
            assert!(contrast(c, "#ffffff") >= 4.5, "{c}");
        }
        // Neighbouring series are told apart by pattern as well, but differ in colour too.
        assert!(contrast(SERIES_COLOURS[0], SERIES_COLOURS[1]) > 1.2);
    }
}
