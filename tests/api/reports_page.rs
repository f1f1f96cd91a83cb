//! The reports pages in a real browser and over plain HTTP: the dashboard for the CPD group
//! (charts drawn, tables that agree with the JSON API, filters that change the window), a
//! school lead's own view (their school and the alliance average, no other school), and who
//! is let in.

use std::collections::BTreeMap;
use std::io::Read;

use cpd_hub::domain::roles::Role;
use serde_json::Value;

use crate::booking_support::{bk_person, Who};
use crate::browser::{png_size, sign_in_browser, web_session_cookie, Browser};
use crate::helpers::{expect_json, TestApp};
use crate::report_support::{build, cell_text, pct, rate_text, rating_text, whole, SCHOOLS};

/// The window the tests look at: 120 days either side of today (London dates).
fn window() -> (String, String) {
    let today = cpd_hub::reports::metrics::london_date(chrono::Utc::now().naive_utc());
    (
        (today - chrono::Duration::days(120)).to_string(),
        (today + chrono::Duration::days(120)).to_string(),
    )
}

async fn json_as(app: &TestApp, token: &str, path: &str) -> Value {
    expect_json(app.get(path, Some(token)).await, 200).await
}

/// GET a page with a browser session's cookie: (status, Location, body).
async fn page_as(app: &TestApp, cookie: Option<&str>, path: &str) -> (u16, String, String) {
    let mut req = app.client.get(format!("{}{}", app.address, path));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("{}={c}", cpd_hub::auth::session::COOKIE));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location, r.text().await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// A PNG reader (enough for WebDriver screenshots: 8-bit RGB or RGBA, not interlaced).

struct Image {
    width: usize,
    height: usize,
    /// RGB per pixel, row by row.
    rgb: Vec<[u8; 3]>,
}

fn decode_png(bytes: &[u8]) -> Image {
    let (width, height) = png_size(bytes).expect("a PNG");
    let (depth, colour, interlace) = (bytes[24], bytes[25], bytes[28]);
    assert_eq!((depth, interlace), (8, 0), "8-bit, not interlaced");
    let channels = match colour {
        2 => 3,
        6 => 4,
        other => panic!("PNG colour type {other}"),
    };
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        if kind == b"IDAT" {
            idat.extend_from_slice(&bytes[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("PNG data inflates");
    let (w, h) = (width as usize, height as usize);
    let stride = w * channels;
    assert_eq!(raw.len(), h * (stride + 1), "PNG data size");
    let mut out = vec![0u8; h * stride];
    for y in 0..h {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                out[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
            let c = if y > 0 && x >= channels {
                out[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let v = line[x];
            out[y * stride + x] = match filter {
                0 => v,
                1 => v.wrapping_add(a),
                2 => v.wrapping_add(b),
                3 => v.wrapping_add(((a as u16 + b as u16) / 2) as u8),
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    v.wrapping_add(pred)
                }
                f => panic!("PNG filter {f}"),
            };
        }
    }
    Image {
        width: w,
        height: h,
        rgb: out.chunks(channels).map(|p| [p[0], p[1], p[2]]).collect(),
    }
}

impl Image {
    /// Pixels in the box (CSS pixels = device pixels here) within `tolerance` of `colour`.
    fn count_near(
        &self,
        (x, y, w, h): (f64, f64, f64, f64),
        colour: [u8; 3],
        tolerance: i32,
    ) -> usize {
        let (x0, y0) = (x.max(0.0) as usize, y.max(0.0) as usize);
        let x1 = ((x + w) as usize).min(self.width);
        let y1 = ((y + h) as usize).min(self.height);
        let mut n = 0;
        for yy in y0..y1 {
            for xx in x0..x1 {
                let p = self.rgb[yy * self.width + xx];
                if (0..3).all(|i| (p[i] as i32 - colour[i] as i32).abs() <= tolerance) {
                    n += 1;
                }
            }
        }
        n
    }
}

// ---------------------------------------------------------------------------------------------
// Reading tables from the page.

/// A table's cells by row key and column `data-metric`, as the browser shows them.
async fn read_table(browser: &Browser, id: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let v = browser
        .execute(
            "const t = document.getElementById(arguments[0]);
             if (!t) { return null; }
             const metrics = [...t.querySelectorAll('thead th')].map(th => th.dataset.metric || '');
             const rows = {};
             for (const tr of t.querySelectorAll('tbody tr[data-key], tfoot tr[data-key]')) {
               const cells = {};
               [...tr.children].forEach((c, i) => { cells[metrics[i] || 'label'] = c.innerText.trim(); });
               rows[tr.dataset.key] = cells;
             }
             return rows;",
            vec![Value::String(id.into())],
        )
        .await;
    serde_json::from_value(v).unwrap_or_else(|e| panic!("table {id}: {e}"))
}

/// What the engagement table shows for a group of the JSON report.
fn engagement_expected(g: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("bookings", whole(g["bookings"].as_i64().unwrap())),
        ("confirmed", whole(g["confirmed"].as_i64().unwrap())),
        ("cancelled", whole(g["cancelled"].as_i64().unwrap())),
        (
            "late_cancellations",
            whole(g["late_cancellations"].as_i64().unwrap()),
        ),
        ("fill_rate", rate_text(&g["fill_rate"])),
        ("attendance_rate", rate_text(&g["attendance_rate"])),
        ("completed", whole(g["completed"].as_i64().unwrap())),
        ("no_shows", whole(g["no_shows"].as_i64().unwrap())),
        ("response_rate", rate_text(&g["response_rate"])),
        ("satisfaction", cell_text(&g["satisfaction"], rating_text)),
        ("impact_rate", cell_text(&g["impact_rate"], pct)),
        (
            "cost",
            g["cost"]["total"]["formatted"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
    ]
}

fn assert_row(
    table: &BTreeMap<String, BTreeMap<String, String>>,
    key: &str,
    expected: &[(&str, String)],
    what: &str,
) {
    let row = table.get(key).unwrap_or_else(|| {
        panic!(
            "{what}: no row {key}; rows {:?}",
            table.keys().collect::<Vec<_>>()
        )
    });
    for (metric, value) in expected {
        assert_eq!(
            row.get(*metric),
            Some(value),
            "{what}, row {key}, {metric}: {row:?}"
        );
    }
}

async fn headline(browser: &Browser) -> BTreeMap<String, String> {
    let v = browser
        .execute(
            "const out = {};
             for (const d of document.querySelectorAll('.headline__item')) {
               out[d.dataset.metric] = d.querySelector('.headline__value').innerText.trim();
             }
             return out;",
            vec![],
        )
        .await;
    serde_json::from_value(v).unwrap()
}

// ---------------------------------------------------------------------------------------------

crate::both_backends! {
    /// A CPD group member opens the dashboard: the charts are drawn (bars on screen, one per
    /// cluster), every table agrees with the JSON API, and the filters change the window.
    async fn the_cpd_group_sees_charts_and_tables_that_match_the_api(app: TestApp) {
        let w = build(&app, -40).await;
        let member = &w.group[0].0;
        let (from, to) = window();
        let Some(browser) = Browser::start_sized(1280, 1000).await else { return };
        sign_in_browser(&app, &browser, &member.id).await;

        // The default window: this academic year, as the API's default.
        browser.goto(&format!("{}/reports", app.address)).await;
        assert_eq!(browser.title().await, "Engagement and impact reports – cpd-hub");
        let default = json_as(&app, &member.token, "/api/v1/reports/engagement").await;
        assert_eq!(browser.find("#from").await.property("value").await, default["from"]);
        assert_eq!(browser.find("#to").await.property("value").await, default["to"]);
        assert_eq!(headline(&browser).await["bookings"], whole(default["totals"]["bookings"].as_i64().unwrap()));

        // On a 320 px phone: nothing but the charts' and tables' own scrolling regions runs
        // past the edge, and no chart label is drawn under 12 px.
        browser.set_window_size(320, 900).await;
        browser.goto(&format!("{}/reports?from={from}&to={to}", app.address)).await;
        browser.assert_fits("reports at 320 px").await;
        browser.assert_focus_visible("reports at 320 px").await;
        let smallest = browser
            .execute(
                "let least = 1e9; for (const t of document.querySelectorAll('svg.chart text')) { \
                   const svg = t.ownerSVGElement; const m = svg.getScreenCTM(); \
                   const px = parseFloat(getComputedStyle(t).fontSize) * m.a; \
                   if (t.textContent.trim()) least = Math.min(least, px); } return least;",
                vec![],
            )
            .await;
        assert!(smallest.as_f64().unwrap() >= 11.9, "chart text at {smallest} px");
        assert!(smallest.as_f64().unwrap() < 1e9, "the charts have labels");
        // Every table caption's text stays inside its scrolling region, at the region's start
        // and scrolled to its far end (a caption is as wide as its table, so unchecked its
        // text would run past the screen's edge).
        let captions = browser
            .execute(
                "const cut = []; let seen = 0, scrolled = 0; \
                 for (const r of document.querySelectorAll('.table-scroll')) { \
                   const c = r.querySelector('caption'); \
                   if (!c || c.classList.contains('visually-hidden')) continue; \
                   seen++; if (r.scrollWidth > r.clientWidth + 1) scrolled++; \
                   for (const end of [0, r.scrollWidth]) { \
                     r.scrollLeft = end; const box = r.getBoundingClientRect(); \
                     const range = document.createRange(); range.selectNodeContents(c); \
                     for (const line of range.getClientRects()) \
                       if (line.width > 0 && (line.left < box.left - 0.5 || line.right > box.right + 0.5)) \
                         cut.push(c.textContent.trim().slice(0, 40) + ' at ' + end + ': ' \
                           + Math.round(line.left) + '-' + Math.round(line.right) + ' outside ' \
                           + Math.round(box.left) + '-' + Math.round(box.right)); \
                   } \
                   r.scrollLeft = 0; } \
                 return {cut, seen, scrolled};",
                vec![],
            )
            .await;
        assert!(captions["cut"].as_array().unwrap().is_empty(), "captions cut off at 320 px: {captions}");
        assert!(captions["seen"].as_u64().unwrap() >= 3, "the tables have captions: {captions}");
        assert!(captions["scrolled"].as_u64().unwrap() >= 1, "some table scrolls at 320 px: {captions}");
        browser.set_window_size(1280, 1000).await;

        // The window around the courses.
        browser.goto(&format!("{}/reports?from={from}&to={to}", app.address)).await;
        let q = format!("from={from}&to={to}");
        let by_school = json_as(&app, &member.token, &format!("/api/v1/reports/engagement?{q}&group_by=school")).await;
        let by_cluster = json_as(&app, &member.token, &format!("/api/v1/reports/engagement?{q}&group_by=cluster")).await;
        let by_term = json_as(&app, &member.token, &format!("/api/v1/reports/engagement?{q}&group_by=term")).await;
        let by_course = json_as(&app, &member.token, &format!("/api/v1/reports/impact?{q}&group_by=course")).await;

        // Headline figures.
        let h = headline(&browser).await;
        let t = &by_school["totals"];
        assert_eq!(h["bookings"], whole(t["bookings"].as_i64().unwrap()));
        assert_eq!(h["fill_rate"], rate_text(&t["fill_rate"]));
        assert_eq!(h["attendance_rate"], rate_text(&t["attendance_rate"]));
        assert_eq!(h["completed"], whole(t["completed"].as_i64().unwrap()));
        assert_eq!(h["response_rate"], rate_text(&t["response_rate"]));
        assert_eq!(h["satisfaction"], cell_text(&t["satisfaction"], rating_text));
        assert_eq!(h["impact_rate"], cell_text(&t["impact_rate"], pct));
        assert_eq!(h["cost"], t["cost"]["total"]["formatted"].as_str().unwrap());
        // The data is what it was built to be: five K2 ratings shown, 14 bookings.
        assert_eq!(h["bookings"], "14");
        assert_eq!(h["satisfaction"], "4.2 out of 5");
        assert_eq!(h["impact_rate"], "80%");

        // The attendance chart: on screen, one bar per cluster with a rate.
        let clusters_with_rate = by_cluster["groups"].as_array().unwrap().iter()
            .filter(|g| !g["attendance_rate"].is_null()).count();
        assert_eq!(clusters_with_rate, 3);
        let chart = browser.find("#chart-attendance-by-cluster").await;
        browser.execute("arguments[0].scrollIntoView({block: 'start'});", vec![chart.to_arg()]).await;
        let rect = browser.execute(
            "const r = arguments[0].getBoundingClientRect();
             return [r.x, r.y, r.width, r.height, arguments[0].querySelectorAll('rect.bar').length,
                     window.devicePixelRatio];",
            vec![chart.to_arg()],
        ).await;
        let n = |i: usize| rect[i].as_f64().unwrap();
        assert!(n(2) > 300.0 && n(3) > 100.0, "the chart has a size on screen: {rect}");
        assert_eq!(n(4) as usize, clusters_with_rate, "one bar per cluster");
        assert_eq!(n(5), 1.0);
        let bar_titles: Vec<String> = serde_json::from_value(browser.execute(
            "return [...arguments[0].querySelectorAll('rect.bar > title')].map(t => t.textContent);",
            vec![chart.to_arg()],
        ).await).unwrap();
        for g in by_cluster["groups"].as_array().unwrap() {
            let expected = format!("{}: {}", g["label"].as_str().unwrap(), rate_text(&g["attendance_rate"]));
            assert!(bar_titles.contains(&expected), "{expected} in {bar_titles:?}");
        }
        // The screenshot: a real PNG, with the bars' blue painted inside the chart's box.
        let png = browser.screenshot().await;
        let (pw, ph) = png_size(&png).expect("the screenshot is a PNG");
        assert!(pw >= 1000 && ph >= 600 && png.len() > 10_000, "{pw}x{ph}, {} bytes", png.len());
        let image = decode_png(&png);
        let blue = image.count_near((n(0), n(1), n(2), n(3)), [0x1d, 0x4f, 0x91], 12);
        assert!(blue > 1500, "bar pixels in the chart: {blue}");
        let outside = image.count_near((0.0, 0.0, 1280.0, n(1).max(0.0)), [0x1d, 0x4f, 0x91], 12);
        assert!(blue > outside, "the blue is the chart's");

        // The other charts are there with their bars and points.
        let counts = browser.execute(
            "return [document.querySelectorAll('#chart-rates-by-term rect.bar').length,
                     document.querySelectorAll('#chart-term-trend circle.point').length];",
            vec![],
        ).await;
        let terms_with = |k: &str| by_term["groups"].as_array().unwrap().iter().filter(|g| !g[k].is_null()).count();
        assert_eq!(counts[0].as_u64().unwrap() as usize, terms_with("fill_rate") + terms_with("attendance_rate"));
        assert_eq!(counts[1].as_u64().unwrap() as usize, terms_with("attendance_rate"));

        // Every chart has its table, and the tables say what the API says.
        let cluster_table = read_table(&browser, "table-attendance-by-cluster").await;
        for g in by_cluster["groups"].as_array().unwrap() {
            assert_row(&cluster_table, g["key"].as_str().unwrap(), &[
                ("bookings", whole(g["bookings"].as_i64().unwrap())),
                ("attendance_rate", rate_text(&g["attendance_rate"])),
                ("no_shows", whole(g["no_shows"].as_i64().unwrap())),
            ], "attendance by cluster");
        }
        let term_table = read_table(&browser, "table-rates-by-term").await;
        for g in by_term["groups"].as_array().unwrap() {
            assert_row(&term_table, g["key"].as_str().unwrap(), &[
                ("fill_rate", rate_text(&g["fill_rate"])),
                ("attendance_rate", rate_text(&g["attendance_rate"])),
            ], "rates by term");
        }
        let engagement = read_table(&browser, "table-engagement").await;
        for g in by_school["groups"].as_array().unwrap() {
            assert_row(&engagement, g["key"].as_str().unwrap(), &engagement_expected(g), "engagement by school");
        }
        assert_row(&engagement, "total", &engagement_expected(&by_school["totals"]), "engagement totals");
        // Cold spots: Damson Infants (never) and Fir Lane School (only a year earlier).
        let cold = read_table(&browser, "table-cold-spots").await;
        let spots = by_school["cold_spots"].as_array().unwrap();
        assert_eq!(cold.len(), spots.len());
        assert_eq!(spots.len(), 2);
        for s in spots {
            let row = &cold[s["school"]["id"].as_str().unwrap()];
            assert_eq!(row["label"], s["school"]["name"].as_str().unwrap());
            assert_eq!(row["cluster"], s["cluster"]["name"].as_str().unwrap());
            assert_eq!(row["last_booked_at"] == "Never", s["last_booked_at"].is_null());
        }
        assert_eq!(cold[&w.schools["D"]]["last_booked_at"], "Never");
        // Best rated: the one course with enough ratings.
        let best = read_table(&browser, "table-best-rated").await;
        let k2 = by_course["groups"].as_array().unwrap().iter()
            .find(|g| g["key"] == w.courses["K2"].as_str()).unwrap();
        assert_eq!(best.len(), 1);
        assert_eq!(best[&w.courses["K2"]]["satisfaction"], cell_text(&k2["satisfaction"], rating_text));
        let largest = read_table(&browser, "table-largest-impact").await;
        assert_eq!(largest[&w.courses["K2"]]["impact_rate"], cell_text(&k2["impact_rate"], pct));
        // Costs: the two no-shows' schools.
        let costs = read_table(&browser, "table-costs").await;
        assert_eq!(costs["total"]["cost.total"], t["cost"]["total"]["formatted"].as_str().unwrap());
        assert_eq!(costs.len(), 3, "Birch Academy, Cedar High and the total: {costs:?}");
        // The CSV download links ask the API for CSV.
        let links: Vec<String> = serde_json::from_value(browser.execute(
            "return [...document.querySelectorAll('.downloads a')].map(a => a.getAttribute('href'));",
            vec![],
        ).await).unwrap();
        assert!(links.iter().any(|l| l.starts_with("/api/v1/reports/engagement?") && l.contains("format=csv") && l.contains(&format!("from={from}"))), "{links:?}");
        assert!(links.iter().any(|l| l.starts_with("/api/v1/reports/impact?")), "{links:?}");
        let csv = app.client.get(format!("{}{}", app.address, links[0]))
            .header("cookie", format!("{}={}", cpd_hub::auth::session::COOKIE, web_session_cookie(&app, &member.id).await))
            .send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));

        // The filters: a window that starts after K1, grouped by cluster.
        let later = (chrono::NaiveDate::parse_from_str(&from, "%Y-%m-%d").unwrap() + chrono::Duration::days(95)).to_string();
        let from_input = browser.find("#from").await;
        browser.execute("arguments[0].value = arguments[1];", vec![from_input.to_arg(), Value::String(later.clone())]).await;
        browser.execute("document.getElementById('group_by').value = 'cluster';", vec![]).await;
        let submit = browser.find("form.filters button[type=submit]").await;
        browser.click_and_wait(&submit).await;
        let url = browser.current_url().await;
        assert!(url.contains(&format!("from={later}")) && url.contains("group_by=cluster"), "{url}");
        let narrower = json_as(&app, &member.token, &format!("/api/v1/reports/engagement?from={later}&to={to}&group_by=cluster")).await;
        let h2 = headline(&browser).await;
        assert_eq!(h2["bookings"], whole(narrower["totals"]["bookings"].as_i64().unwrap()));
        assert_eq!(h2["bookings"], "8", "K1's six bookings are outside the window now");
        let engagement = read_table(&browser, "table-engagement").await;
        for g in narrower["groups"].as_array().unwrap() {
            assert_row(&engagement, g["key"].as_str().unwrap(), &engagement_expected(g), "engagement by cluster");
        }
        assert_eq!(browser.find("#from").await.property("value").await, later.as_str());
    }
}

crate::both_backends! {
    /// A school lead is taken to their school's view: their figures next to the alliance
    /// average, as the API gives them, and no other school named anywhere on the page.
    async fn a_school_lead_sees_their_school_and_the_alliance_average_only(app: TestApp) {
        let w = build(&app, -40).await;
        let (from, to) = window();
        let Some(browser) = Browser::start_sized(1280, 1000).await else { return };
        sign_in_browser(&app, &browser, &w.lead_a.id).await;
        browser.goto(&format!("{}/reports?from={from}&to={to}", app.address)).await;
        let url = browser.current_url().await;
        assert!(url.contains("/reports/school?") && url.contains(&format!("from={from}")), "{url}");
        assert_eq!(browser.find("h1").await.text().await, "Ash Primary: engagement report");

        let mine = json_as(&app, &w.lead_a.token, &format!("/api/v1/reports/engagement?from={from}&to={to}&group_by=term")).await;
        assert_eq!(mine["scope"], "school");
        let avg = &mine["alliance_average"];
        let t = &mine["totals"];

        let headers: Vec<String> = serde_json::from_value(browser.execute(
            "return [...document.querySelectorAll('#table-comparison thead th')].map(t => t.innerText.trim());",
            vec![],
        ).await).unwrap();
        assert_eq!(headers, ["Figure", "Ash Primary", "Alliance average"]);
        let cells: BTreeMap<String, Vec<String>> = serde_json::from_value(browser.execute(
            "const out = {};
             for (const tr of document.querySelectorAll('#table-comparison tbody tr')) {
               out[tr.dataset.key] = [...tr.children].map(c => c.innerText.trim());
             }
             return out;",
            vec![],
        ).await).unwrap();
        assert_eq!(cells["bookings"][1], whole(t["bookings"].as_i64().unwrap()));
        assert_eq!(cells["attendance_rate"][1], rate_text(&t["attendance_rate"]));
        assert_eq!(cells["attendance_rate"][2], rate_text(&avg["attendance_rate"]));
        assert_eq!(cells["response_rate"][2], rate_text(&avg["response_rate"]));
        assert_eq!(cells["satisfaction"][1], cell_text(&t["satisfaction"], rating_text));
        assert_eq!(cells["satisfaction"][2], cell_text(&avg["satisfaction"], rating_text));
        let per_school = avg["bookings"].as_f64().unwrap();
        assert_eq!(cells["bookings"][2], format!("{}", (per_school * 10.0).round() / 10.0));
        // Ash's own bookings: a1 and a2 on K1, a3 and a2 on K2, a1 on K3.
        assert_eq!(cells["bookings"][1], "5");
        // The term table agrees with the API.
        let terms = read_table(&browser, "table-engagement").await;
        for g in mine["groups"].as_array().unwrap() {
            assert_row(&terms, g["key"].as_str().unwrap(), &engagement_expected(g), "Ash by term");
        }
        // The comparison chart has a bar for the school and one for the alliance per rate.
        let bars = browser.execute("return document.querySelectorAll('#chart-school-compared rect.bar').length;", vec![]).await;
        assert!(bars.as_u64().unwrap() >= 4, "{bars}");

        // No other school's name anywhere, in the page or its markup.
        let text = browser.execute("return document.documentElement.outerHTML;", vec![]).await;
        let text = text.as_str().unwrap();
        assert!(text.contains("Ash Primary"));
        for (letter, name, _) in SCHOOLS {
            if letter != "A" {
                assert!(!text.contains(name), "{name} appears on Ash Primary's page");
            }
        }
        // Another school's view is not found.
        let (status, _, body) = page_as(&app, Some(&web_session_cookie(&app, &w.lead_a.id).await),
            &format!("/reports/school?school={}", w.schools["C"])).await;
        assert_eq!(status, 404);
        assert!(!body.contains("Cedar High"));
    }
}

crate::both_backends! {
    /// Who may open the pages: the CPD group and admins the dashboard, school leads their own
    /// school's view, staff and course leads neither; not signed in goes to sign in. Bad
    /// filters answer 422 with the form naming the field.
    async fn report_pages_let_in_the_right_people(app: TestApp) {
        let w = build(&app, -40).await;
        let cookie = |who: &Who| {
            let id = who.id.clone();
            let app = &app;
            async move { web_session_cookie(app, &id).await }
        };
        // Not signed in.
        for path in ["/reports", "/reports/school"] {
            let (status, location, _) = page_as(&app, None, path).await;
            assert_eq!((status, location), (303, crate::helpers::sign_in_location(path)), "{path}");
        }
        // Staff, and a course lead of some other course: refused.
        let course_lead = bk_person(&app, "Cora Lead", Some(&w.schools["B"]), None, &[Role::CourseLead]).await;
        for who in [&w.people["a2"], &course_lead] {
            let c = cookie(who).await;
            let (status, _, body) = page_as(&app, Some(&c), "/reports").await;
            assert_eq!(status, 403);
            assert!(body.contains("You cannot see these reports"));
            assert!(!body.contains("Ash Primary") && !body.contains("Headline figures"));
            let (status, _, _) = page_as(&app, Some(&c), "/reports/school").await;
            assert_eq!(status, 403);
            let (status, _, _) = page_as(&app, Some(&c), &format!("/reports/school?school={}", w.schools["A"])).await;
            assert_eq!(status, 404);
        }
        // A school lead: on to their own view; their school only.
        let lead = cookie(&w.lead_c).await;
        let (status, location, _) = page_as(&app, Some(&lead), "/reports?group_by=course").await;
        assert_eq!((status, location.as_str()), (303, "/reports/school?group_by=course"));
        let (status, _, body) = page_as(&app, Some(&lead), "/reports/school?group_by=course").await;
        assert_eq!(status, 200);
        assert!(body.contains("Cedar High: engagement report"));
        assert!(!body.contains("Ash Primary") && !body.contains("Birch Academy"));
        let (status, _, _) = page_as(&app, Some(&lead), &format!("/reports/school?school={}", w.schools["C"])).await;
        assert_eq!(status, 200);
        let (status, _, _) = page_as(&app, Some(&lead), &format!("/reports/school?school={}", w.schools["A"])).await;
        assert_eq!(status, 404);
        // A school lead cannot group by school in their view.
        let (status, _, body) = page_as(&app, Some(&lead), "/reports/school?group_by=school").await;
        assert_eq!(status, 422);
        assert!(body.contains("href=\"#group_by\""), "the error summary links to the field");
        // The CPD group and admins: the dashboard, and any school's view.
        let group = cookie(&w.group[0].0).await;
        let admin_id = app.admin_id();
        let admin = web_session_cookie(&app, &admin_id).await;
        for c in [&group, &admin] {
            let (status, _, body) = page_as(&app, Some(c), "/reports").await;
            assert_eq!(status, 200);
            assert!(body.contains("Headline figures"));
            let (status, _, body) = page_as(&app, Some(c), &format!("/reports/school?school={}", w.schools["A"])).await;
            assert_eq!(status, 200);
            assert!(body.contains("Ash Primary: engagement report"));
            // Without a school of their own, to the table of schools.
            let (status, location, _) = page_as(&app, Some(c), "/reports/school").await;
            assert_eq!((status, location.as_str()), (303, "/reports?group_by=school#table-engagement"));
            let (status, _, _) = page_as(&app, Some(c), "/reports/school?school=no-such-school").await;
            assert_eq!(status, 404);
        }
        // The table by school links each school to its view.
        let (_, _, body) = page_as(&app, Some(&group), "/reports?group_by=school").await;
        assert!(body.contains(&format!("?school={}&", w.schools["B"])) || body.contains(&format!("?school={}&amp;", w.schools["B"])), "a link to Birch Academy's view");
        // Bad filters: 422, the form again, each error naming its field.
        let (status, _, body) = page_as(&app, Some(&group), "/reports?from=2026-13-45&to=2026-01-01&group_by=galaxy").await;
        assert_eq!(status, 422);
        assert!(body.contains("There is a problem"));
        for field in ["from", "to", "group_by"] {
            assert!(body.contains(&format!("href=\"#{field}\"")), "{field} named: {body}");
            // Each wrong field is marked, and read out with its message (given once).
            assert!(body.contains(&format!("aria-describedby=\"{field}-error\"")), "{field} described: {body}");
            assert_eq!(body.matches(&format!("id=\"{field}-error\"")).count(), 1, "{field}: {body}");
        }
        assert_eq!(body.matches("field field--error").count(), 3, "from, to and group_by marked: {body}");
        assert!(!body.contains("aria-describedby=\"then_by-error\"") && !body.contains("find-hint find-error"), "a right field points at no message: {body}");
        assert!(!body.contains("Headline figures"));
        // The pages print on A4 without the header and the forms.
        let css = app.client.get(format!("{}/static/app.css", app.address)).send().await.unwrap().text().await.unwrap();
        let print = &css[css.find("@media print").expect("print styles")..];
        assert!(print.contains("size: A4") && print.contains(".site-header") && print.contains(".filters"));
        // Pages are never cached and carry the security headers.
        let r = app.client.get(format!("{}/reports", app.address))
            .header("cookie", format!("{}={group}", cpd_hub::auth::session::COOKIE))
            .send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("style-src 'self'"));
    }
}

/// The row keys of a table's body in a page's HTML, in order.
fn table_keys(body: &str, id: &str) -> Vec<String> {
    let start = body
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &body[start..start + body[start..].find("</tbody>").unwrap()];
    table
        .split("<tr data-key=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].replace("&#x2f;", "/"))
        .collect()
}

/// A table's caption in a page's HTML.
fn caption(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}-caption\"")).unwrap();
    let text = &body[start..];
    let text = &text[text.find("caption-text\">").unwrap() + 14..];
    text[..text.find("</span>").unwrap()].to_string()
}

/// The pager named `label` in a page's HTML: what it says it shows, and its previous and
/// next links (unescaped), or `None` when there is no such pager.
fn pager(body: &str, label: &str) -> Option<(String, Option<String>, Option<String>)> {
    let start = body.find(&format!("aria-label=\"{label}\""))?;
    let nav = &body[start..start + body[start..].find("</nav>").unwrap()];
    let shown = &nav[nav.find("table-pager__shown\">").unwrap() + 20..];
    let shown = shown[..shown.find("</p>").unwrap()].to_string();
    let link = |rel: &str| {
        let at = nav.find(&format!("rel=\"{rel}\" href=\""))? + rel.len() + 13;
        Some(
            nav[at..at + nav[at..].find('"').unwrap()]
                .replace("&amp;", "&")
                .replace("&#x2f;", "/"),
        )
    };
    Some((shown, link("prev"), link("next")))
}

mod long_tables {
    use super::*;

    async fn spawn(backend: crate::helpers::Backend) -> Option<TestApp> {
        crate::helpers::spawn_app_with(backend, |s| s.reports.table_rows = 1).await
    }

    /// With a page of one row (`REPORT_TABLE_ROWS`; a national copy's tables by school run to
    /// tens of thousands), every long table is shown a page at a time: walking its pages by
    /// their links shows every group of the API's report once, in the API's order; a
    /// cross-table keeps each group with its subgroups; a page past the end is the last; the
    /// pages keep the filters and each other's place; and the pages pass axe-core at 320 px
    /// with the keyboard reaching the pager.
    async fn run(app: TestApp) {
        let w = build(&app, -40).await;
        let member = &w.group[0].0;
        let cookie = web_session_cookie(&app, &member.id).await;
        let (from, to) = window();
        let q = format!("from={from}&to={to}");
        let by_school = json_as(
            &app,
            &member.token,
            &format!("/api/v1/reports/engagement?{q}&group_by=school"),
        )
        .await;
        let keys_of = |report: &Value| -> Vec<String> {
            report["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["key"].as_str().unwrap().to_string())
                .collect()
        };
        // The schools that booked (the two that did not are the cold spots).
        let schools = keys_of(&by_school);
        assert_eq!(schools.len(), 4);

        let impact = json_as(
            &app,
            &member.token,
            &format!("/api/v1/reports/impact?{q}&group_by=school"),
        )
        .await;

        // The engagement table, page by page, by its Next links.
        let mut path = format!("/reports?{q}");
        let (mut seen, mut pages) = (Vec::new(), 0);
        loop {
            let (status, _, body) = page_as(&app, Some(&cookie), &path).await;
            assert_eq!(status, 200, "{path}");
            pages += 1;
            let keys = table_keys(&body, "table-engagement");
            assert_eq!(keys.len(), 1, "{path}: {keys:?}");
            seen.extend(keys);
            let (shown, prev, next) =
                pager(&body, "Pages of the engagement table").expect("a pager");
            assert_eq!(shown, format!("School {pages} of 4"));
            assert_eq!(
                caption(&body, "table-engagement"),
                format!(
                    "Engagement by school, {} (school {pages} of 4, page {pages} of 4)",
                    window_text(&from, &to)
                )
            );
            assert_eq!(prev.is_some(), pages > 1);
            if pages == 2 {
                // Back to the first page: the address without a page.
                assert_eq!(
                    prev.as_deref(),
                    Some(format!("/reports?{q}#table-engagement").as_str())
                );
            }
            // The other tables stay on their first page, the costs' and cold spots' too.
            assert_eq!(
                pager(&body, "Pages of the impact table").unwrap().0,
                format!("School 1 of {}", keys_of(&impact).len())
            );
            assert_eq!(
                pager(&body, "Pages of the cold spots").unwrap().0,
                "School 1 of 2"
            );
            assert_eq!(
                pager(&body, "Pages of the costs by school").unwrap().0,
                "School 1 of 2"
            );
            assert!(body.contains("Headline figures"));
            match next {
                Some(n) => {
                    assert!(
                        n.starts_with(&format!("/reports?{q}&engagement_page={}", pages + 1)),
                        "{n}"
                    );
                    assert!(n.ends_with("#table-engagement"), "{n}");
                    path = n[..n.find('#').unwrap()].to_string();
                }
                None => break,
            }
        }
        assert_eq!(
            (pages, &seen),
            (4, &schools),
            "every school once, in the report's order"
        );

        // Each table keeps its own page, and a page link keeps the others'.
        let (_, _, body) = page_as(
            &app,
            Some(&cookie),
            &format!("/reports?{q}&engagement_page=3&impact_page=2&cold_page=2&costs_page=2"),
        )
        .await;
        assert_eq!(table_keys(&body, "table-engagement"), [schools[2].clone()]);
        assert_eq!(
            table_keys(&body, "table-impact"),
            [keys_of(&impact)[1].clone()]
        );
        let spots = by_school["cold_spots"].as_array().unwrap();
        let cold = table_keys(&body, "table-cold-spots");
        assert_eq!(cold.len(), 1);
        assert!(spots.iter().any(|s| s["school"]["id"] == cold[0].as_str()));
        let (_, prev, next) = pager(&body, "Pages of the impact table").unwrap();
        assert_eq!(
            prev.unwrap(),
            format!("/reports?{q}&engagement_page=3&cold_page=2&costs_page=2#table-impact")
        );
        assert_eq!(next.unwrap(), format!("/reports?{q}&engagement_page=3&impact_page=3&cold_page=2&costs_page=2#table-impact"));

        // Past the end is the last page; an unreadable page is the first.
        let (status, _, body) = page_as(
            &app,
            Some(&cookie),
            &format!("/reports?{q}&engagement_page=99"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(table_keys(&body, "table-engagement"), [schools[3].clone()]);
        assert_eq!(
            pager(&body, "Pages of the engagement table").unwrap().2,
            None
        );
        let (status, _, body) = page_as(
            &app,
            Some(&cookie),
            &format!("/reports?{q}&engagement_page=second"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(table_keys(&body, "table-engagement"), [schools[0].clone()]);

        // A cross-table: each cluster on a page with its staff groups, never cut from them.
        let pairs = json_as(
            &app,
            &member.token,
            &format!("/api/v1/reports/engagement?{q}&group_by=cluster,staff_group"),
        )
        .await;
        for (i, g) in pairs["groups"].as_array().unwrap().iter().enumerate() {
            let (_, _, body) = page_as(
                &app,
                Some(&cookie),
                &format!(
                    "/reports?{q}&group_by=cluster&then_by=staff_group&engagement_page={}",
                    i + 1
                ),
            )
            .await;
            let key = g["key"].as_str().unwrap();
            let mut expected = vec![key.to_string()];
            expected.extend(
                g["subgroups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| format!("{key}/{}", s["key"].as_str().unwrap())),
            );
            assert!(expected.len() > 1, "the cluster has staff groups");
            assert_eq!(table_keys(&body, "table-engagement"), expected);
            assert_eq!(
                pager(&body, "Pages of the engagement table").unwrap().0,
                format!("Cluster {} of 3", i + 1)
            );
        }

        // A school's own view pages its table too, and its links stay on the school's view.
        let (_, _, body) = page_as(
            &app,
            Some(&cookie),
            &format!(
                "/reports/school?school={}&{q}&group_by=course",
                w.schools["A"]
            ),
        )
        .await;
        let (shown, _, next) =
            pager(&body, "Pages of the engagement table").expect("the school's courses in pages");
        assert!(shown.starts_with("Course 1 of "), "{shown}");
        let next = next.unwrap();
        assert!(
            next.starts_with("/reports/school?")
                && next.contains(&format!("school={}", w.schools["A"]))
                && next.contains("engagement_page=2"),
            "{next}"
        );

        // Only names containing: any case, the pages counting what was found, the links
        // keeping it; the lists of schools too; nothing found says so; too long is refused.
        let named = |word: &str| -> Vec<String> {
            by_school["groups"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["label"].as_str().unwrap().to_lowercase().contains(word))
                .map(|g| g["key"].as_str().unwrap().to_string())
                .collect()
        };
        let primary = named("primary");
        assert_eq!(primary.len(), 2, "Ash Primary and Elm Primary booked");
        let (status, _, body) =
            page_as(&app, Some(&cookie), &format!("/reports?{q}&find=PRIMARY")).await;
        assert_eq!(status, 200);
        assert_eq!(table_keys(&body, "table-engagement"), [primary[0].clone()]);
        let (shown, _, next) = pager(&body, "Pages of the engagement table").unwrap();
        assert_eq!(shown, "School 1 of 2");
        assert!(next.unwrap().contains("find=PRIMARY&engagement_page=2"));
        assert!(caption(&body, "table-engagement")
            .contains("names containing \u{201c}PRIMARY\u{201d} (school 1 of 2"));
        assert!(
            body.contains("value=\"PRIMARY\""),
            "the form shows what was asked"
        );
        assert!(
            body.contains("<th scope=\"row\">All, not only those listed</th>"),
            "the totals say they count every school"
        );
        let (_, _, body) = page_as(&app, Some(&cookie), &format!("/reports?{q}&find=damson")).await;
        assert_eq!(
            table_keys(&body, "table-cold-spots"),
            [w.schools["D"].clone()]
        );
        assert!(pager(&body, "Pages of the cold spots").is_none());
        assert!(table_keys(&body, "table-engagement").is_empty());
        assert!(body.contains("No name contains \u{201c}damson\u{201d}."));
        let (_, _, body) = page_as(&app, Some(&cookie), &format!("/reports?{q}&find=birch")).await;
        assert_eq!(table_keys(&body, "table-costs"), ["Birch Academy"]);
        assert_eq!(table_keys(&body, "table-engagement"), named("birch"));
        let (status, _, body) = page_as(
            &app,
            Some(&cookie),
            &format!("/reports?{q}&find={}", "x".repeat(101)),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            body.contains("href=\"#find\"") && body.contains("100 characters or fewer"),
            "{body}"
        );
        assert!(!body.contains("Headline figures"));

        // In a browser at 320 px: the pages fit, pass axe-core, and the keyboard reaches Next.
        let Some(browser) = Browser::start_sized(320, 900).await else {
            return;
        };
        sign_in_browser(&app, &browser, &member.id).await;
        browser
            .goto(&format!("{}/reports?{q}&engagement_page=2", app.address))
            .await;
        browser.assert_fits("a page of the reports at 320 px").await;
        browser.assert_accessible("a page of the reports").await;
        // Tabbing through the page reaches every link, the pagers' too, each visibly focused.
        browser
            .assert_focus_visible("a page of the reports at 320 px")
            .await;
        let next = browser
            .find("nav[aria-label='Pages of the engagement table'] a[rel=next]")
            .await;
        browser
            .execute("arguments[0].focus();", vec![next.to_arg()])
            .await;
        let old = browser.find("html").await;
        browser.press(crate::browser::keys::ENTER).await;
        browser
            .wait_until_stale(&old, std::time::Duration::from_secs(15))
            .await;
        let url = browser.current_url().await;
        assert!(
            url.contains("engagement_page=3") && url.ends_with("#table-engagement"),
            "{url}"
        );
        assert_eq!(
            read_table(&browser, "table-engagement")
                .await
                .keys()
                .filter(|k| *k != "total")
                .cloned()
                .collect::<Vec<_>>(),
            [schools[2].clone()]
        );
        browser
            .assert_accessible("the next page of the reports")
            .await;
    }

    crate::both_backends!(spawn, run);
}

/// The window as the pages write it ("1 September 2025 to 31 August 2026").
fn window_text(from: &str, to: &str) -> String {
    let d = |s: &str| {
        cpd_hub::reports::summary::long_date(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap(),
        )
    };
    format!("{} to {}", d(from), d(to))
}
