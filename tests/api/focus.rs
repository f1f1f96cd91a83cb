//! Keyboard focus that can be seen (WCAG 2.4.7, 1.4.11, 1.4.3): on the pages a member of staff
//! and a school lead use, every element that Tab reaches shows the focus style, its indicator
//! stands out from what surrounds it by at least 3:1, and a focused link's text reads at 4.5:1
//! on the focus band. A visited link is checked from the pixels Chromium draws, since a page's
//! scripts are never told which links are visited.

use serde_json::Value;

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world};
use crate::browser::{keys, sign_in_browser, Browser, COLOUR_JS};
use crate::helpers::TestApp;

/// The two colours covering most of the element's box as Chromium drew it (from a
/// screenshot, decoded into a canvas on a blank page, since cpd-hub's pages forbid images
/// from data URLs), and the contrast between them: for a focused link, the focus band and
/// the text on it (run after [`COLOUR_JS`]). The arguments: the PNG as base64, and the box
/// as `[x, y, w, h, viewport width]`.
const DRAWN_CONTRAST: &str = r#"
    const [png, r] = arguments;
    return (async () => {
        const img = new Image();
        img.src = 'data:image/png;base64,' + png;
        await img.decode();
        const scale = img.naturalWidth / r[4];
        const [x, y, w, h] = r.slice(0, 4).map(v => Math.round(v * scale));
        const canvas = document.createElement('canvas');
        canvas.width = w; canvas.height = h;
        const g = canvas.getContext('2d');
        g.drawImage(img, x, y, w, h, 0, 0, w, h);
        const d = g.getImageData(0, 0, w, h).data;
        const counts = new Map();
        for (let i = 0; i < d.length; i += 4) {
            const k = d[i] + ',' + d[i + 1] + ',' + d[i + 2];
            counts.set(k, (counts.get(k) || 0) + 1);
        }
        const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 2).map(e => e[0].split(',').map(Number));
        if (top.length < 2) return { ratio: 1, colours: top };
        return { ratio: ratio(top[0], top[1]), colours: top };
    })();
"#;

crate::both_backends! {
    /// A school lead, who sees the most links, tabs through the start page, the calendar, a
    /// course, their bookings and the school page: every stop shows the focus band, the
    /// ring stands out at 3:1 or more and focused text reads at 4.5:1 or more. The brand
    /// link, focused after its page was visited, is drawn dark on the focus band, not in
    /// the header's visited-link colour.
    async fn every_focus_stop_is_visible_with_enough_contrast(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Questioning that deepens thinking", 10, |_| {}).await;
        let staff = bk_person(&app, "Fay Focus", Some(&w.school_a), None, &[]).await;
        bk_book_ok(&app, &course, &staff).await;

        let Some(browser) = Browser::start_sized(1280, 900).await else { return };
        sign_in_browser(&app, &browser, &w.lead_a.id).await;
        let pages = [
            ("start page", "/".to_string()),
            ("calendar", "/courses".to_string()),
            ("course", format!("/courses/{course}")),
            ("bookings", "/my/bookings".to_string()),
            ("school", "/school".to_string()),
        ];
        for (name, path) in &pages {
            browser.goto(&format!("{}{path}", app.address)).await;
            let stops = browser.assert_focus_visible(name).await;
            assert!(stops >= 5, "{name}: Tab reached only {stops} elements");
        }

        // The phone layout's menu button too.
        browser.set_window_size(320, 800).await;
        browser.goto(&format!("{}/courses", app.address)).await;
        browser.assert_focus_visible("calendar at 320 px").await;
        browser.set_window_size(1280, 900).await;

        // The brand link points at the start page, which this browser has visited: its
        // visited style must not win over focus. Chromium hides :visited from scripts, so
        // the colours are read from a screenshot.
        // Chromium counts a link as visited only once it was followed from a page of the same
        // site, so follow it once first.
        browser.goto(&format!("{}/courses", app.address)).await;
        let brand = browser.find(".brand").await;
        browser.click_and_wait(&brand).await;
        assert_eq!(browser.current_url().await, format!("{}/", app.address));
        browser.goto(&format!("{}/courses", app.address)).await;
        let brand = browser.find(".brand").await;
        assert_eq!(brand.attribute("href").await.as_deref(), Some("/"));
        for _ in 0..10 {
            browser.press(keys::TAB).await;
            if browser.active_element().await.attribute("class").await.unwrap_or_default().contains("brand") {
                break;
            }
        }
        assert!(brand.is_focused().await, "Tab reaches the brand link");
        let rect = browser
            .execute(
                "const r = arguments[0].getBoundingClientRect(); \
                 return [r.left, r.top, r.width, r.height, window.innerWidth];",
                vec![brand.to_arg()],
            )
            .await;
        let png = browser.screenshot_base64().await;
        browser.goto("about:blank").await;
        let drawn = browser
            .execute(&format!("{COLOUR_JS}{DRAWN_CONTRAST}"), vec![Value::String(png), rect.clone()])
            .await;
        let ratio = drawn["ratio"].as_f64().unwrap();
        assert!(ratio >= 4.5, "the focused, visited brand link is drawn at {ratio:.2}:1: {drawn}");
    }
}
