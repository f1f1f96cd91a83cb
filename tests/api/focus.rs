//! Keyboard focus that can be seen (WCAG 2.4.7, 1.4.11, 1.4.3): on the pages a member of staff
//! and a school lead use, every element that Tab reaches shows the focus style, its indicator
//! stands out from what surrounds it by at least 3:1, and a focused link's text reads at 4.5:1
//! on the focus band. A visited link is checked from the pixels Chromium draws, since a page's
//! scripts are never told which links are visited.

use serde_json::Value;

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world};
use crate::browser::{keys, sign_in_browser, Browser};
use crate::helpers::TestApp;

/// The focused element's indicator and text, measured from its computed styles: the best
/// contrast of its outline or box-shadow colour against the background around it (the
/// nearest opaque background of its parent), the outline's width, and, for an element with
/// text, the contrast of its text on its own background.
const FOCUS_STYLE: &str = r#"
    const el = arguments[0];
    const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
    const opaque = c => c.length === 3 || (c.length === 4 && c[3] === 1);
    const lum = ([r, g, b]) => {
        const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (x, y) => { const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p); return (a + 0.05) / (b + 0.05); };
    const behind = start => {
        for (let e = start; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (opaque(c)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const s = getComputedStyle(el);
    const around = behind(el.parentElement);
    const rings = [];
    if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) rings.push(rgb(s.outlineColor).slice(0, 3));
    const shadow = s.boxShadow.match(/rgba?\([^)]*\)/g) || [];
    for (const c of shadow) { const v = rgb(c); if (opaque(v)) rings.push(v.slice(0, 3)); }
    const ring = rings.length ? Math.max(...rings.map(c => ratio(c, around))) : 0;
    const hasText = el.matches('a, button, summary') && el.innerText.trim() !== '';
    const text = hasText ? ratio(rgb(s.color).slice(0, 3), behind(el)) : null;
    return {
        what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).split(' ')[0] : '')
            + ' "' + (el.innerText || el.value || '').trim().slice(0, 30) + '"',
        visible: el.matches(':focus-visible'),
        ring, text,
    };
"#;

/// The two colours covering most of the element's box as Chromium drew it (from a
/// screenshot, decoded into a canvas on a blank page, since cpd-hub's pages forbid images
/// from data URLs), and the contrast between them: for a focused link, the focus band and
/// the text on it. The arguments: the PNG as base64, and the box as `[x, y, w, h, viewport
/// width]`.
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
        const lum = ([r, g, b]) => {
            const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        if (top.length < 2) return { ratio: 1, colours: top };
        const [a, b] = [lum(top[0]), lum(top[1])].sort((p, q) => q - p);
        return { ratio: (a + 0.05) / (b + 0.05), colours: top };
    })();
"#;

/// Tabs through the page from its top and checks each element the focus lands on; returns
/// how many were checked.
async fn tab_through(browser: &Browser, page: &str) -> usize {
    // Start from the top of the document, as a keyboard user arriving on the page does.
    browser
        .execute(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await;
    let mut seen: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for _ in 0..80 {
        browser.press(keys::TAB).await;
        let active = browser.active_element().await;
        let key = browser
            .execute(
                "const e = arguments[0]; if (e === document.body) return null; \
                 const p = []; for (let n = e; n && n !== document.body; n = n.parentElement) \
                 p.push(n.tagName + [...n.parentElement.children].indexOf(n)); return p.join('/');",
                vec![active.to_arg()],
            )
            .await;
        let Some(key) = key.as_str().map(str::to_string) else {
            break;
        };
        if seen.contains(&key) {
            break; // back round to the start
        }
        seen.push(key);
        let v: Value = browser.execute(FOCUS_STYLE, vec![active.to_arg()]).await;
        let what = v["what"].as_str().unwrap_or_default().to_string();
        if v["visible"] != Value::Bool(true) {
            problems.push(format!("{what}: not :focus-visible"));
        }
        let ring = v["ring"].as_f64().unwrap_or(0.0);
        if ring < 3.0 {
            problems.push(format!("{what}: focus indicator at {ring:.2}:1"));
        }
        if let Some(text) = v["text"].as_f64() {
            if text < 4.5 {
                problems.push(format!("{what}: focused text at {text:.2}:1"));
            }
        }
    }
    assert!(problems.is_empty(), "{page}: {problems:#?}");
    seen.len()
}

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
            let stops = tab_through(&browser, name).await;
            assert!(stops >= 5, "{name}: Tab reached only {stops} elements");
        }

        // The phone layout's menu button too.
        browser.set_window_size(320, 800).await;
        browser.goto(&format!("{}/courses", app.address)).await;
        tab_through(&browser, "calendar at 320 px").await;
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
        let drawn = browser.execute(DRAWN_CONTRAST, vec![Value::String(png), rect.clone()]).await;
        let ratio = drawn["ratio"].as_f64().unwrap();
        assert!(ratio >= 4.5, "the focused, visited brand link is drawn at {ratio:.2}:1: {drawn}");
    }
}
