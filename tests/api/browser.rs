//! A small WebDriver client for tests that drive cpd-hub's pages in headless Chromium.
//!
//! [`Browser::start`] launches `chromedriver` on a free port and opens a W3C WebDriver
//! session in headless Chromium with a phone-sized window (412×915, see
//! [`Browser::start_sized`] for others). Everything else is plain HTTP to the driver with
//! `reqwest`. Browsers are heavy on a small machine, so only `CPD_BROWSERS` (default: one
//! per core) run at once across the whole test binary; the others wait their turn. A
//! passing test's browser is kept, made as new, for the next test that starts one of the same
//! size (see `Idle`): starting Chromium is most of a short browser test's CPU.
//!
//! `CPD_SKIP_BROWSER=1`, or a machine without Chromium or chromedriver, makes
//! [`Browser::start`] return `None` (the test then skips its browser part, saying so; see
//! `tools`); with `CPD_REQUIRE_TOOLS=1`, as CI sets, a missing browser fails the test instead.
//! The browser is Chromium's headless shell (`/usr/bin/chromium-headless-shell`) where it is
//! installed, else Chromium; `CPD_CHROMIUM` and `CPD_CHROMEDRIVER` point at other binaries.
//! `CPD_BROWSER_TIMES=1` prints, as each browser closes, the time its WebDriver commands took
//! by kind.
//!
//! ```ignore
//! let Some(browser) = Browser::start().await else { return };
//! sign_in_browser(&app, &browser, &person_id).await;
//! browser.goto(&format!("{}/", app.address)).await;
//! browser.find("button[type=submit]").await.click().await;
//! let h1 = browser.wait_for("h1", Duration::from_secs(5)).await.text().await;
//! ```

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::helpers::TestApp;

/// The key WebDriver uses for element references in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Phone-sized window (a common large Android phone), CSS pixels.
pub const PHONE: (u32, u32) = (412, 915);

/// Keys for [`Browser::press`] (WebDriver's private-use code points).
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SPACE: &str = "\u{E00D}";
    pub const SHIFT: &str = "\u{E008}";
}

/// How many browsers may be in use at once (`CPD_BROWSERS`, default one per core): a test's
/// two halves (SQLite and PostgreSQL) sort side by side and so usually run at the same time;
/// with one browser for both, one half waited for the other, and the browser tests took most
/// of the suite's time.
fn browsers_at_once() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("CPD_BROWSERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

fn permits() -> Arc<Semaphore> {
    static POOL: OnceLock<Arc<Semaphore>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Semaphore::new(browsers_at_once())))
        .clone()
}

/// A browser a finished test left behind for the next test that wants one of its size.
///
/// Starting Chromium under its driver and stopping it again costs about a CPU-second, and
/// the browser tests start nearly a hundred (docs/performance.md, "CI time"). A browser is
/// kept only when its test passed; the next test gets it back as a new one would be (see
/// [`Browser::reset`]), or a new one when that fails.
struct Idle {
    size: (u32, u32),
    driver: Child,
    driver_port: u16,
    session_id: String,
}

/// The idle browsers, oldest first. Each driver runs under a shell that stops its whole
/// process group when its standard input closes, so the browsers left here when the test
/// binary exits stop with it.
fn idle() -> &'static std::sync::Mutex<Vec<Idle>> {
    static IDLE: OnceLock<std::sync::Mutex<Vec<Idle>>> = OnceLock::new();
    IDLE.get_or_init(Default::default)
}

/// Stops a driver's process group: the driver, its shell and any browser it started.
fn stop_driver(driver: &mut Child) {
    let pid = driver.id();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// Colour helpers for the scripts that measure contrast in the page: `rgb` reads a CSS colour,
/// `opaque` says whether it covers what is under it, `lum` and `ratio` are WCAG's relative
/// luminance and contrast ratio, `behind(e)` is the nearest opaque background from `e` up
/// (white if none).
pub const COLOUR_JS: &str = r#"
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
"#;

/// The focused element's indicator and text, measured from its computed styles: the best
/// contrast of its outline or box-shadow colour against the background around it (the
/// nearest opaque background of its parent), the outline's width, and, for an element with
/// text, the contrast of its text on its own background.
/// (Run after [`COLOUR_JS`].)
const FOCUS_STYLE: &str = r#"
    const el = arguments[0];
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

/// Whether browser tests are switched off (`CPD_SKIP_BROWSER=1`).
pub fn skipped() -> bool {
    std::env::var("CPD_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

/// The binary named by `var` (else `default`), if it is there.
fn binary(var: &str, default: &str) -> Option<String> {
    let path = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    std::path::Path::new(&path).exists().then_some(path)
}

/// A headless Chromium under a chromedriver of its own. Dropping it after a passing test
/// keeps it for the next test (see [`Idle`]); after a failing one it ends the session and
/// stops the driver (and so the browser).
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session_url: String,
    driver_port: u16,
    session_id: String,
    /// The driver's shell (see [`idle`]); `None` once handed to the idle browsers.
    driver: Option<Child>,
    /// The window size it was started with, which only a browser of the same size reuses.
    size: (u32, u32),
    /// The viewport set by [`Browser::set_window_size`], which Chromium forgets on each new
    /// page: set again after every navigation the tests make.
    viewport: std::sync::Mutex<Option<(u32, u32)>>,
    /// With `CPD_BROWSER_TIMES=1`: how many WebDriver commands of each kind were sent and how
    /// long they took, printed when the browser is dropped (to see where a test's time goes).
    times: Option<std::sync::Mutex<std::collections::BTreeMap<String, (u32, Duration)>>>,
    started: Instant,
    /// Whether dropping it may keep it for another test (not after a failed reset).
    keep: bool,
    // Last: released only once the browser is gone or kept.
    permit: Option<OwnedSemaphorePermit>,
}

/// An element on the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    /// WebDriver's reference to the element.
    pub id: String,
}

impl Browser {
    /// A phone-sized headless browser; `None` only when `CPD_SKIP_BROWSER=1`.
    pub async fn start() -> Option<Browser> {
        Self::start_sized(PHONE.0, PHONE.1).await
    }

    /// A headless browser with a window of `width`×`height` CSS pixels.
    pub async fn start_sized(width: u32, height: u32) -> Option<Browser> {
        if skipped() {
            eprintln!("CPD_SKIP_BROWSER=1: browser test skipped");
            return None;
        }
        // Chromium's headless shell where it is installed: the same engine without the
        // desktop browser around it, about a fifth less CPU over the page tests
        // (docs/performance.md, "CI time").
        let chromium = binary("CPD_CHROMIUM", "/usr/bin/chromium-headless-shell")
            .or_else(|| binary("CPD_CHROMIUM", "/usr/bin/chromium"));
        let (Some(chromium), Some(chromedriver)) = (
            chromium,
            binary("CPD_CHROMEDRIVER", "/usr/bin/chromedriver"),
        ) else {
            crate::tools::skip(
                "a browser check",
                "Chromium's headless shell or Chromium, and chromedriver (Debian: apt-get \
                 install chromium-headless-shell chromium-driver; or set CPD_CHROMIUM and \
                 CPD_CHROMEDRIVER)",
            );
            return None;
        };
        let mut permit = permits().acquire_owned().await.expect("browser pool open");
        let size = (width, height);

        // A browser of this size that a passing test left, made as a new one is.
        loop {
            let kept = {
                let mut idle = idle().lock().unwrap_or_else(|e| e.into_inner());
                let found = idle.iter().position(|b| b.size == size);
                found.map(|i| idle.remove(i))
            };
            let Some(kept) = kept else { break };
            let mut browser = Browser::new(kept.driver, kept.driver_port, size, permit);
            browser.session_url = format!(
                "http://127.0.0.1:{}/session/{}",
                kept.driver_port, kept.session_id
            );
            browser.session_id = kept.session_id;
            match browser.reset().await {
                Ok(()) => return Some(browser),
                Err(e) => {
                    eprintln!("a kept browser could not be reused ({e}); starting another");
                    permit = browser.discard();
                }
            }
        }

        let port = crate::helpers::reserved_port();
        // The driver runs under a shell in a process group of its own, so the browsers it
        // starts can be stopped with it. The shell stops the group when its standard input
        // closes, as it does when the test binary exits with browsers still kept (see
        // [`idle`]), and when the driver itself exits (so a driver that fails to start is
        // seen at once).
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                "(\"$0\" \"$1\" </dev/null >/dev/null 2>&1; kill -KILL 0) & \
                 read -r _line; kill -KILL 0",
            )
            .arg(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{chromedriver} does not start: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser::new(driver, port, size, permit);

        // Wait for the driver to listen.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            let exited = browser
                .driver
                .as_mut()
                .and_then(|d| d.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("{chromedriver} exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "{chromedriver} did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    // Keeps the console, so tests can see CSP violations and script errors.
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-extensions",
                            "--no-first-run",
                            "--lang=en-GB",
                            format!("--window-size={},{}", width.max(500), height),
                        ],
                        // Desktop Chrome will not make a window narrower than 500 pixels;
                        // a phone's viewport is emulated instead, as its developer tools do.
                        "mobileEmulation": {
                            "deviceMetrics": {
                                "width": width,
                                "height": height,
                                "pixelRatio": 1.0,
                                "touch": false,
                                "mobile": true,
                            },
                        },
                    },
                },
            },
        });
        let r = browser
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new WebDriver session");
        let status = r.status();
        let body: Value = r.json().await.expect("driver answers JSON");
        assert!(
            status.is_success(),
            "Chromium did not start ({chromium}): {}",
            body["value"]["message"]
        );
        browser.session_id = body["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.session_url = format!("{base}/session/{}", browser.session_id);
        // Every page the tests check starts with axe-core already in it (see
        // [`Browser::axe`]): given once to the browser, not sent with each check.
        if let Some(source) = crate::tools::axe_source() {
            browser
                .post(
                    "/goog/cdp/execute",
                    json!({ "cmd": "Page.addScriptToEvaluateOnNewDocument",
                            "params": { "source": source } }),
                )
                .await;
        }
        Some(browser)
    }

    /// A browser on the driver `driver` listening on `port`, before its session is known.
    fn new(driver: Child, port: u16, size: (u32, u32), permit: OwnedSemaphorePermit) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            session_url: String::new(),
            driver_port: port,
            session_id: String::new(),
            driver: Some(driver),
            size,
            viewport: std::sync::Mutex::new(None),
            times: std::env::var("CPD_BROWSER_TIMES")
                .is_ok_and(|v| v == "1")
                .then(Default::default),
            started: Instant::now(),
            keep: true,
            permit: Some(permit),
        }
    }

    /// Makes a kept browser what a new one of its size is: one window on a blank page, no
    /// key held, no cookies and nothing cached (the service's ports come round again), the
    /// screen's media type and the window size it started with, and no console messages
    /// from the test before. Chromium's phone emulation, which [`Browser::set_window_size`]
    /// may have overridden, is given back by its driver on the next page (the reason
    /// [`Browser::goto`] sets a chosen viewport again); `kept_browsers_come_back_as_new`
    /// checks it all.
    async fn reset(&self) -> Result<(), String> {
        use reqwest::Method;
        let windows = self
            .try_command(Method::GET, "/window/handles", None)
            .await?;
        if windows.as_array().map_or(0, Vec::len) != 1 {
            return Err(format!("windows open: {windows}"));
        }
        self.try_command(Method::DELETE, "/actions", None).await?;
        self.try_command(Method::POST, "/url", Some(json!({ "url": "about:blank" })))
            .await?;
        for (cmd, params) in [
            ("Network.clearBrowserCookies", json!({})),
            ("Network.clearBrowserCache", json!({})),
            ("Emulation.setEmulatedMedia", json!({ "media": "" })),
        ] {
            self.try_command(
                Method::POST,
                "/goog/cdp/execute",
                Some(json!({ "cmd": cmd, "params": params })),
            )
            .await?;
        }
        let (width, height) = self.size;
        self.try_command(
            Method::POST,
            "/window/rect",
            Some(json!({ "width": width.max(500), "height": height })),
        )
        .await?;
        self.try_command(Method::POST, "/se/log", Some(json!({ "type": "browser" })))
            .await?;
        Ok(())
    }

    /// Stops this browser rather than keeping it, handing back its place among the browsers
    /// in use.
    fn discard(mut self) -> OwnedSemaphorePermit {
        self.keep = false;
        self.permit.take().expect("a browser in use holds a place")
    }

    /// Sends a command; panics with the driver's message when it fails.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Sends a command; `Err` carries WebDriver's error code and message.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session_url));
        // POST commands always carry a JSON object, even an empty one.
        if method == reqwest::Method::POST {
            req = req.json(&body.unwrap_or_else(|| json!({})));
        }
        let sent = Instant::now();
        let r = req.send().await.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if let Some(times) = &self.times {
            // The command's kind: its path without element ids, e.g. "POST /element/click".
            let kind = path
                .split('/')
                .filter(|part| part.len() < 30)
                .collect::<Vec<_>>()
                .join("/");
            let mut times = times.lock().unwrap();
            let entry = times.entry(format!("{method} {kind}")).or_default();
            entry.0 += 1;
            entry.1 += sent.elapsed();
        }
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                v["value"]["error"].as_str().unwrap_or("error"),
                v["value"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ))
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    fn element(&self, v: &Value) -> Element<'_> {
        Element {
            browser: self,
            id: v[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("not an element reference: {v}"))
                .to_string(),
        }
    }

    /// Opens a URL and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
        self.keep_viewport().await;
    }

    /// Sets the chosen viewport again on a new page (see [`Browser::set_window_size`]).
    async fn keep_viewport(&self) {
        let chosen = *self.viewport.lock().unwrap();
        if let Some((width, height)) = chosen {
            self.set_window_size(width, height).await;
        }
    }

    /// The address of the current page.
    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The current page's title.
    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The current page's HTML (as the browser now has it).
    pub async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector; panics when there is none.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let v = self
            .try_find(css)
            .await
            .unwrap_or_else(|| panic!("no element matches {css:?} on {}", self.session_url));
        v
    }

    /// The first element matching a CSS selector, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        self.try_command(
            reqwest::Method::POST,
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .await
        .ok()
        .map(|v| self.element(&v))
    }

    /// Every element matching a CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .map(|a| a.iter().map(|e| self.element(e)).collect())
            .unwrap_or_default()
    }

    /// Waits until an element matches `css`, polling; panics after `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() >= deadline {
                let url = self.current_url().await;
                let source = self.source().await;
                panic!("no element matched {css:?} within {timeout:?} on {url}; page:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks something that loads a new page (a link, a form's button) and waits until the
    /// new page has loaded, so that later look-ups cannot find the old page's elements.
    pub async fn click_and_wait(&self, element: &Element<'_>) {
        let old = self.find("html").await;
        element.click().await;
        self.wait_until_stale(&old, Duration::from_secs(15)).await;
        self.keep_viewport().await;
    }

    /// Waits until `old` (typically the old page's `html` element) has gone and the new page
    /// has finished loading.
    pub async fn wait_until_stale(&self, old: &Element<'_>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self
                .try_command(reqwest::Method::GET, &old.path("/name"), None)
                .await;
            match r {
                Err(e)
                    if e.starts_with("stale element reference")
                        || e.starts_with("no such element") =>
                {
                    break
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "no new page loaded within {timeout:?} (still on {})",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let state = self.execute("return document.readyState;", vec![]).await;
            if state == "complete" {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not finish loading");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element that has the keyboard focus.
    pub async fn active_element(&self) -> Element<'_> {
        let v = self.get("/element/active").await;
        self.element(&v)
    }

    /// Runs a script in the page (`arguments[0]`… are `args`; elements may be passed with
    /// [`Element::to_arg`]) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Asserts axe-core finds no violation on the page (see [`Browser::axe`]).
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe(page).await;
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }

    /// Checks the page with axe-core against WCAG 2.2 A and AA: each violation as
    /// `rule (impact): help [the elements]`. An empty list when axe-core is missing (the
    /// skip is recorded; CI requires it).
    pub async fn axe(&self, what: &str) -> Vec<String> {
        let Some(source) = crate::tools::axe(what) else {
            return Vec::new();
        };
        // A page exactly like one already checked (the same markup but for ids and tokens,
        // in a window of the same size, scrolled alike, for the same media), as the SQLite and
        // PostgreSQL halves of a test often show, gets the same answer without running the
        // checks again: they are about a fifth of the browser tests' CPU (docs/performance.md,
        // "Shared work").
        let looks = self
            .execute(
                "return [document.documentElement.outerHTML, innerWidth, innerHeight, scrollX,
                         scrollY, matchMedia('print').matches, document.URL];",
                vec![],
            )
            .await;
        let key = page_key(&looks);
        if let Some(found) = checked_pages()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return found.clone();
        }
        // The source is half a megabyte. Sent with each check, it took 80-120 ms a page to
        // arrive and be parsed; the browser now puts it into every new page itself
        // (`Page.addScriptToEvaluateOnNewDocument` at start), about 5 % less CPU over the
        // browser tests (docs/performance.md, "CI time"). A page without it (`about:blank`,
        // say) is sent it here.
        let loaded = self
            .execute("return typeof axe !== 'undefined';", vec![])
            .await;
        if loaded != Value::Bool(true) {
            self.execute(&format!("{source}\nreturn true;"), vec![])
                .await;
        }
        let result = self
            .post(
                "/execute/async",
                json!({
                    "script": "const done = arguments[arguments.length - 1];
                        axe.run(document, { runOnly: { type: 'tag', values:
                            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                          .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): '
                              + v.help + ' ' + JSON.stringify(v.nodes.map(n => n.target)))))
                          .catch(e => done(['axe failed: ' + e]));",
                    "args": [],
                }),
            )
            .await;
        let violations: Vec<String> = result
            .as_array()
            .expect("axe answers a list")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        checked_pages()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, violations.clone());
        violations
    }

    /// Presses and releases keys in turn on whatever has the focus (see [`keys`]).
    pub async fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": k.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": k.to_string() }));
        }
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await;
        self.command(reqwest::Method::DELETE, "/actions", None)
            .await;
    }

    /// The browser console's errors since the last call (CSP violations, failed loads,
    /// script errors), as text.
    pub async fn console_errors(&self) -> Vec<String> {
        let v = self.post("/se/log", json!({ "type": "browser" })).await;
        v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A PNG screenshot of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        base64_decode(&self.screenshot_base64().await)
    }

    /// A PNG screenshot of the window as base64, as the driver sends it (a page can decode
    /// it as a data URL to read the colours drawn).
    pub async fn screenshot_base64(&self) -> String {
        let v = self.get("/screenshot").await;
        v.as_str().expect("screenshot is base64").to_string()
    }

    /// When `CPD_SCREENSHOT_DIR` is set, takes a screenshot and saves it there as
    /// `<name>.png` (to look at a page after a test run); otherwise does nothing. For tests
    /// that check nothing in the picture: a tall screenshot takes Chromium a second or more on
    /// a busy machine, and the tests take dozens.
    pub async fn save_screenshot(&self, name: &str) {
        if std::env::var_os("CPD_SCREENSHOT_DIR").is_some() {
            self.keep_screenshot(name).await;
        }
    }

    /// Takes a screenshot and, when `CPD_SCREENSHOT_DIR` is set, saves it there as
    /// `<name>.png` (to look at a page after a test run). Returns the PNG.
    pub async fn keep_screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.screenshot().await;
        if let Some(dir) = std::env::var_os("CPD_SCREENSHOT_DIR") {
            let path = std::path::Path::new(&dir).join(format!("{name}.png"));
            std::fs::write(&path, &png)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        png
    }

    /// The WCAG contrast ratio of an element's text colour against the background it is
    /// drawn on (the nearest ancestor with an opaque background; white if none).
    pub async fn contrast(&self, element: &Element<'_>) -> f64 {
        const SCRIPT: &str = r#"
            const el = arguments[0];
            return ratio(rgb(getComputedStyle(el).color), behind(el));
        "#;
        self.execute(&format!("{COLOUR_JS}{SCRIPT}"), vec![element.to_arg()])
            .await
            .as_f64()
            .expect("a contrast ratio")
    }

    /// Makes the page use another CSS media type (`"print"`, or `""` for the screen again),
    /// through Chromium's DevTools protocol, to check print styles.
    pub async fn emulate_media(&self, media: &str) {
        self.post(
            "/goog/cdp/execute",
            json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": media } }),
        )
        .await;
    }

    /// The current page printed to PDF (as the browser's Print command would).
    pub async fn print_pdf(&self) -> Vec<u8> {
        let v = self.post("/print", json!({})).await;
        base64_decode(v.as_str().expect("PDF is base64"))
    }

    /// Sets a cookie for the current page's site (open a page of the site first).
    pub async fn set_cookie(&self, name: &str, value: &str) {
        self.post(
            "/cookie",
            json!({ "cookie": { "name": name, "value": value, "path": "/", "httpOnly": true } }),
        )
        .await;
    }

    /// Forgets every cookie.
    pub async fn delete_cookies(&self) {
        self.command(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// Resizes the window and the page's viewport (CSS pixels): the viewport is emulated
    /// (see [`Browser::start_sized`]), so it is set through the DevTools protocol too; a
    /// width under 500 is a phone's.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        *self.viewport.lock().unwrap() = Some((width, height));
        self.post(
            "/window/rect",
            json!({ "width": width.max(500), "height": height }),
        )
        .await;
        self.post(
            "/goog/cdp/execute",
            json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500,
                "screenWidth": width, "screenHeight": height,
            } }),
        )
        .await;
        let inner = self.execute("return window.screen.width;", vec![]).await;
        assert_eq!(
            inner.as_u64(),
            Some(u64::from(width)),
            "the viewport is resized"
        );
    }

    /// Tabs through the page from its top and checks each element the focus lands on (WCAG
    /// 2.4.7, 1.4.11): it matches `:focus-visible`, its outline or box-shadow stands out from
    /// what surrounds it at 3:1 or more, and a focused link's or button's text reads at 4.5:1
    /// or more. Returns how many elements were checked.
    pub async fn assert_focus_visible(&self, page: &str) -> usize {
        let browser = self;
        // Start from the top of the document, as a keyboard user arriving on the page does.
        browser
            .execute(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await;
        let mut seen: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        // One script per stop reads where the focus is and how it looks: a round trip per
        // question would make this loop the slowest part of the browser tests.
        let script = format!(
            "const e = document.activeElement; if (!e || e === document.body) return null; \
             const p = []; for (let n = e; n && n !== document.body; n = n.parentElement) \
             p.push(n.tagName + [...n.parentElement.children].indexOf(n)); \
             const key = p.join('/'); \
             const style = (function () {{ {COLOUR_JS}{FOCUS_STYLE} }}).call(null, e); \
             return {{ key, style }};"
        );
        for _ in 0..80 {
            browser.press(keys::TAB).await;
            let found = browser.execute(&script, vec![]).await;
            let Some(key) = found["key"].as_str().map(str::to_string) else {
                break;
            };
            if seen.contains(&key) {
                break; // back round to the start
            }
            seen.push(key);
            let v = &found["style"];
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

    /// The page is no wider than the viewport (WCAG 1.4.10: no sideways scrolling at 320 px);
    /// otherwise names the elements that stick out of it (outside any scrolling region).
    pub async fn assert_fits(&self, page: &str) {
        let scroll = self
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await;
        let client = self
            .execute("return document.documentElement.clientWidth;", vec![])
            .await;
        if scroll.as_f64() > client.as_f64() {
            let wide = self
                .execute(
                    "const w = document.documentElement.clientWidth; \
                     return [...document.querySelectorAll('body *')] \
                     .filter(e => e.getBoundingClientRect().right > w + 0.5 \
                       && !(e.parentElement && e.parentElement.closest('.table-scroll, .scroll'))) \
                     .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' \
                       + Math.round(e.getBoundingClientRect().right));",
                    vec![],
                )
                .await;
            panic!("{page} scrolls sideways: {scroll} > {client}: {wide}");
        }
    }
}

/// Ends a WebDriver session with a plain blocking request (this runs in `Drop`).
fn end_session(driver_port: u16, session_id: &str) {
    if session_id.is_empty() {
        return;
    }
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", driver_port)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{driver_port}\r\nConnection: close\r\n\r\n",
    );
    // The driver answers once the browser has quit; the answer itself does not matter
    // (and the driver may keep the connection open, so read only its start).
    let mut answer = [0u8; 512];
    let _ = s.read(&mut answer);
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(times) = &self.times {
            let times = times.lock().unwrap();
            let mut rows: Vec<_> = times.iter().collect();
            rows.sort_by_key(|(_, (_, d))| std::cmp::Reverse(*d));
            eprintln!(
                "browser: {:.1} s from start to drop",
                self.started.elapsed().as_secs_f64()
            );
            for (kind, (n, d)) in rows {
                eprintln!("  {:>8.2} s {n:>5}x {kind}", d.as_secs_f64());
            }
        }
        let Some(mut driver) = self.driver.take() else {
            return;
        };
        // A passing test's browser is kept for the next (see [`Idle`]); a failing test's is
        // stopped, whatever state it is in.
        if self.keep && !self.session_id.is_empty() && !std::thread::panicking() {
            let evicted = {
                let mut idle = idle().lock().unwrap_or_else(|e| e.into_inner());
                idle.push(Idle {
                    size: self.size,
                    driver,
                    driver_port: self.driver_port,
                    session_id: std::mem::take(&mut self.session_id),
                });
                // A few of each size the tests use, without keeping a browser per test.
                let over = idle.len().saturating_sub(3 * browsers_at_once());
                idle.drain(..over).collect::<Vec<_>>()
            };
            for mut old in evicted {
                end_session(old.driver_port, &old.session_id);
                stop_driver(&mut old.driver);
            }
            return;
        }
        end_session(self.driver_port, &self.session_id);
        stop_driver(&mut driver);
    }
}

impl<'b> Element<'b> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    /// This element as a script argument for [`Browser::execute`].
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// Clicks the element (scrolling it into view first, as a person would).
    pub async fn click(&self) {
        self.browser.post(&self.path("/click"), json!({})).await;
    }

    /// Types text into the element.
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .post(&self.path("/value"), json!({ "text": text }))
            .await;
    }

    /// Types text into the element (a synonym of [`Element::send_keys`]).
    pub async fn type_text(&self, text: &str) {
        self.send_keys(text).await
    }

    /// Empties an input.
    pub async fn clear(&self) {
        self.browser.post(&self.path("/clear"), json!({})).await;
    }

    /// The element's rendered text.
    pub async fn text(&self) -> String {
        self.browser
            .get(&self.path("/text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// An HTML attribute, if present.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .get(&self.path(&format!("/attribute/{name}")))
            .await
            .as_str()
            .map(str::to_string)
    }

    /// A DOM property (`value`, `checked`, …).
    pub async fn property(&self, name: &str) -> Value {
        self.browser
            .get(&self.path(&format!("/property/{name}")))
            .await
    }

    /// A computed CSS value.
    pub async fn css(&self, property: &str) -> String {
        self.browser
            .get(&self.path(&format!("/css/{property}")))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element's tag name, lower case.
    pub async fn tag_name(&self) -> String {
        self.browser
            .get(&self.path("/name"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    }

    /// The element's box in CSS pixels: (x, y, width, height).
    pub async fn rect(&self) -> (f64, f64, f64, f64) {
        let v = self.browser.get(&self.path("/rect")).await;
        let n = |k: &str| v[k].as_f64().unwrap_or_default();
        (n("x"), n("y"), n("width"), n("height"))
    }

    /// The first descendant matching a CSS selector; panics when there is none.
    pub async fn find(&self, css: &str) -> Element<'b> {
        let v = self
            .browser
            .post(
                &self.path("/element"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        self.browser.element(&v)
    }

    /// Every descendant matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'b>> {
        let v = self
            .browser
            .post(
                &self.path("/elements"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .map(|a| a.iter().map(|e| self.browser.element(e)).collect())
            .unwrap_or_default()
    }

    /// Whether this is the element with the keyboard focus.
    pub async fn is_focused(&self) -> bool {
        self.browser
            .execute(
                "return document.activeElement === arguments[0];",
                vec![self.to_arg()],
            )
            .await
            .as_bool()
            .unwrap_or(false)
    }
}

/// What axe-core found on each page checked in this run, by [`page_key`].
fn checked_pages() -> &'static std::sync::Mutex<std::collections::HashMap<String, Vec<String>>> {
    static CHECKED: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>> =
        OnceLock::new();
    CHECKED.get_or_init(Default::default)
}

/// A digest of what axe-core's checks depend on, from `[markup, width, height, scroll x,
/// scroll y, print media, URL]` as [`Browser::axe`] reads them: the page's markup with each
/// id or token (a run of 12 or more letters, digits, `-` and `_` with at least three digits
/// and either two letters or hex digits alone, as no class name or word of a page is: a
/// UUID, a token, the tail of a UUID in an email address) numbered in the order it
/// first appears, so pages that differ only in those (each test's own rows, CSRF tokens) are
/// alike, while any other difference (a word, a class, an attribute, one id used in two
/// places rather than two) tells them apart. The URL counts only by its path, whatever the
/// port of the service that served it.
fn page_key(looks: &Value) -> String {
    use sha2::Digest;
    // The URL's path and the page's markup, then the window's size, scroll and media.
    let url = looks[6].as_str().unwrap_or_default();
    let path = url
        .split_once("//")
        .and_then(|(_, after)| after.find('/').map(|i| &after[i..]))
        .unwrap_or(url);
    let html = looks[0].as_str().expect("the page's markup");
    let mut normal = String::with_capacity(html.len() + path.len());
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for text in [path, html] {
        let mut rest = text;
        while !rest.is_empty() {
            let start = rest.find(is_part).unwrap_or(rest.len());
            normal.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !is_part(c)).unwrap_or(rest.len());
            let run = &rest[..end];
            let digits = run.bytes().filter(u8::is_ascii_digit).count();
            let letters = run.bytes().filter(u8::is_ascii_alphabetic).count();
            let hex = run.bytes().all(|b| b.is_ascii_hexdigit());
            if run.len() >= 12 && digits >= 3 && (letters >= 2 || hex) {
                let n = seen.len();
                let n = *seen.entry(run).or_insert(n);
                normal.push_str(&format!("\u{1}{n}\u{1}"));
            } else {
                normal.push_str(run);
            }
            rest = &rest[end..];
        }
        normal.push('\u{1}');
    }
    for i in 1..6 {
        normal.push_str(&looks[i].to_string());
        normal.push('\u{1}');
    }
    format!("{:x}", sha2::Sha256::digest(normal.as_bytes()))
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    fn value(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    }
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// Whether bytes are a PNG image: the signature, then an `IHDR` chunk; returns its width and
/// height.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let n = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((n(16), n(20)))
}

/// Starts a browser session (a `web_sessions` row, as following an emailed sign-in link
/// makes) for a person and returns the `cpd_session` cookie value. Use it with reqwest
/// (`cookie: cpd_session=<value>`) or [`sign_in_browser`].
pub async fn web_session_cookie(app: &TestApp, person_id: &str) -> String {
    use cpd_hub::db::schema::web_sessions;
    use diesel::prelude::*;

    let secret = cpd_hub::auth::tokens::random_hex(32);
    let hash = cpd_hub::auth::tokens::hash(&secret);
    let person_id = person_id.to_string();
    app.with_db(move |conn| {
        let now = cpd_hub::domain::time::now();
        diesel::insert_into(web_sessions::table)
            .values((
                web_sessions::id.eq(cpd_hub::store::new_id()),
                web_sessions::person_id.eq(&person_id),
                web_sessions::token_hash.eq(&hash),
                web_sessions::created_at.eq(now),
                web_sessions::last_seen_at.eq(now),
                web_sessions::expires_at.eq(now + chrono::Duration::days(1)),
            ))
            .execute(conn)
            .expect("web session created");
    })
    .await;
    secret
}

/// Signs the browser in as a person: starts a web session for them and puts its cookie in
/// the browser (opening the app's stylesheet first, since a cookie belongs to a site).
/// Returns the cookie value.
pub async fn sign_in_browser(app: &TestApp, browser: &Browser, person_id: &str) -> String {
    let secret = web_session_cookie(app, person_id).await;
    browser
        .goto(&format!("{}/static/app.css", app.address))
        .await;
    browser
        .set_cookie(cpd_hub::auth::session::COOKIE, &secret)
        .await;
    secret
}

#[test]
fn base64_decodes_padded_and_unpadded_text() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode(""), b"");
}

#[test]
fn pages_alike_but_for_ids_and_tokens_share_a_key_and_no_others_do() {
    let page = |url: &str, html: &str| json!([html, 412, 915, 0, 0, false, url]);
    let key = |url: &str, html: &str| page_key(&page(url, html));
    let a = r#"<html><body><a href="/admin/people/01a24fc9-a040-7720-9e9b-fe586fdd4d3e">Priya</a>
        <input type="hidden" name="csrf" value="Zk3x9QmP0aL7vR2sT8uW4yB6nC1dE5fG">
        <td>priya.patel.fe586fdd4d3e@school.test</td></body></html>"#;
    let b = a
        .replace(
            "01a24fc9-a040-7720-9e9b-fe586fdd4d3e",
            "01a24fc9-9faf-750e-9be2-557ae1b4097f",
        )
        .replace("fe586fdd4d3e", "557ae1b4097f")
        .replace(
            "Zk3x9QmP0aL7vR2sT8uW4yB6nC1dE5fG",
            "q8Wc2Lr5Tn0Yb7Vd4Hs1Jk9Mf3Gx6Pz0",
        );
    let here = "http://127.0.0.1:40655/admin/people/01a24fc9-a040-7720-9e9b-fe586fdd4d3e";
    let there = "http://127.0.0.1:39277/admin/people/01a24fc9-9faf-750e-9be2-557ae1b4097f";
    // Other ids and tokens, another port: the same page.
    assert_eq!(key(here, a), key(there, &b));
    // Any other difference is another page: a word, a class, another path, another size.
    assert_ne!(key(here, a), key(here, &a.replace("Priya", "Priyanka")));
    assert_ne!(
        key(here, a),
        key(here, &a.replace("<a href", "<a class=\"button\" href"))
    );
    assert_ne!(key(here, a), key("http://127.0.0.1:40655/admin/people", a));
    let mut wider = page(here, a);
    wider[1] = json!(320);
    assert_ne!(key(here, a), page_key(&wider));
    // One id used in two places is not two ids each used once.
    let twice = a.replace("fe586fdd4d3e@", "01a24fc9-a040-7720-9e9b-fe586fdd4d3e@");
    let two = a.replace("fe586fdd4d3e@", "01a24fc9-9faf-750e-9be2-557ae1b4097f@");
    assert_ne!(key(here, &twice), key(here, &two));
}

/// How a page sees the browser: its viewport, screen, pixel ratio and media, the cookies it
/// can read and the window around it.
async fn looks(browser: &Browser) -> Value {
    browser
        .execute(
            "return { inner: [innerWidth, innerHeight], outer: [outerWidth, outerHeight], \
               screen: [screen.width, screen.height], ratio: devicePixelRatio, \
               coarse: matchMedia('(pointer: coarse)').matches, \
               print: matchMedia('print').matches, cookies: document.cookie, \
               agent: navigator.userAgent };",
            vec![],
        )
        .await
}

/// A browser a passing test leaves is kept for the next test that wants one of its size,
/// and comes back as a new one would be: whatever the last test did to its size, media type,
/// cookies and console, a page sees the same browser as the first time.
#[tokio::test]
async fn kept_browsers_come_back_as_new() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await else {
        return;
    };
    // A size no other test starts, so the second start here finds the first's browser.
    const SIZE: (u32, u32) = (333, 777);
    let page = format!("{}/", app.address);
    let Some(first) = Browser::start_sized(SIZE.0, SIZE.1).await else {
        return;
    };
    first.goto(&page).await;
    let new = looks(&first).await;
    assert_eq!(new["inner"], json!([SIZE.0, SIZE.1]), "{new}");
    assert_eq!(new["cookies"], "", "{new}");
    let session = first.session_id.clone();

    first.set_window_size(1280, 1000).await;
    first.emulate_media("print").await;
    first
        .execute(
            "document.cookie = 'left=behind; path=/'; console.error('left behind');",
            vec![],
        )
        .await;
    let changed = looks(&first).await;
    assert_ne!(changed, new, "the first test changed the browser");
    drop(first);

    let second = Browser::start_sized(SIZE.0, SIZE.1)
        .await
        .expect("a browser");
    assert_eq!(second.session_id, session, "the kept browser is reused");
    assert_eq!(second.console_errors().await, Vec::<String>::new());
    second.goto(&page).await;
    assert_eq!(looks(&second).await, new);
}

crate::both_backends! {
    /// The harness itself: a real page in a real browser, a form post that passes the
    /// cross-site check, a signed-in page through the cookie helper, a screenshot.
    async fn harness_renders_the_sign_in_page(app: TestApp) {
        use crate::browser::*;
        let Some(browser) = Browser::start().await else { return };
        browser.goto(&format!("{}/", app.address)).await;
        assert_eq!(browser.title().await, "Sign in – cpd-hub");
        browser.assert_focus_visible("sign-in page").await;
        let label = browser.find("label[for=email]").await;
        assert_eq!(label.text().await, "Your work email address");

        // The window is phone-sized.
        let width = browser.execute("return window.innerWidth;", vec![]).await;
        assert_eq!(width.as_u64(), Some(u64::from(PHONE.0)));

        // Typing and submitting a form works, and the browser's post passes the CSRF check.
        let email = browser.find("#email").await;
        email.send_keys("nobody@school.test").await;
        assert_eq!(email.property("value").await, "nobody@school.test");
        let submit = browser.find("form[action='/auth/sign-in'] button").await;
        browser.click_and_wait(&submit).await;
        let h1 = browser.wait_for("h1", Duration::from_secs(10)).await;
        assert_eq!(h1.text().await, "Check your email");
        assert!(browser.source().await.contains("nobody@school.test"));

        // Signed in through the cookie helper, the home page greets the person.
        let person = app.create_person("jo@school.test", "Jo Browser", None, &[]);
        sign_in_browser(&app, &browser, &person).await;
        browser.goto(&format!("{}/", app.address)).await;
        assert_eq!(browser.find("h1").await.text().await, "Welcome, Jo Browser");

        // Keyboard: Tab moves the focus to the skip link first.
        browser.press(keys::TAB).await;
        let focused = browser.active_element().await;
        assert_eq!(focused.text().await, "Skip to main content");
        assert!(focused.is_focused().await);

        let png = browser.screenshot().await;
        let (w, h) = png_size(&png).expect("a PNG screenshot");
        assert!(w > 0 && h > 0 && png.len() > 2_000, "{w}×{h}, {} bytes", png.len());
    }
}

/// The admin pages' layout rules (issue 17 item 7), for any page: it fits a desktop and a
/// tablet, is no taller than a limit (long lists page instead), its header's menu is one row,
/// and a wide table keeps its first column in view.
impl Browser {
    /// Widths the admin's pages must work at: a desktop and a tablet.
    pub const ADMIN_WIDTHS: [u32; 2] = [1280, 768];

    /// At 1280 px and at 768 px: the page is at most `max_height` CSS pixels tall
    /// (`document.documentElement.scrollHeight`) and nothing makes it scroll sideways (a wide
    /// table scrolls inside its own box). The viewport is set back as it was.
    pub async fn assert_page_fits(&self, page: &str, max_height: u32) {
        let before = *self.viewport.lock().unwrap();
        for width in Self::ADMIN_WIDTHS {
            self.set_window_size(width, 900).await;
            let height = self
                .execute("return document.documentElement.scrollHeight;", vec![])
                .await
                .as_u64()
                .expect("a height");
            eprintln!("{page} at {width} px: {height} px tall");
            assert!(
                height <= u64::from(max_height),
                "{page} at {width} px is {height} px tall, over {max_height}: page it instead"
            );
            self.assert_fits(&format!("{page} at {width} px")).await;
        }
        if let Some((w, h)) = before {
            self.set_window_size(w, h).await;
        }
    }

    /// How many rows the header's menu takes at the current width: the distinct tops of its
    /// items (the wide menu, or the header itself on a phone).
    pub async fn menu_rows(&self) -> usize {
        self.execute(
            "const items = [...document.querySelectorAll('.site-nav--wide > ul > li')] \
               .filter(e => e.offsetParent !== null); \
             return new Set(items.map(e => Math.round(e.getBoundingClientRect().top))).size;",
            vec![],
        )
        .await
        .as_u64()
        .expect("a count") as usize
    }

    /// The table in the scrolling box `region` is wider than the box at the current width,
    /// and once the box is scrolled sideways its first column is still at the box's left edge
    /// while the second column has moved under it.
    pub async fn assert_sticky_first_column(&self, region: &str) {
        let v = self
            .execute(
                "const r = document.querySelector(arguments[0]); \
                 if (!r) return {missing: true}; \
                 r.scrollLeft = 0; \
                 const row = r.querySelector('tbody tr'); \
                 const first = row.children[0], second = row.children[1]; \
                 const secondBefore = second.getBoundingClientRect().left; \
                 r.scrollLeft = 160; \
                 const out = { wide: r.scrollWidth > r.clientWidth + 1, scrolled: r.scrollLeft, \
                   box: r.getBoundingClientRect().left, first: first.getBoundingClientRect().left, \
                   secondMoved: secondBefore - second.getBoundingClientRect().left, \
                   headFirst: r.querySelector('thead th').getBoundingClientRect().left }; \
                 r.scrollLeft = 0; return out;",
                vec![Value::String(region.to_string())],
            )
            .await;
        assert_ne!(v["missing"], Value::Bool(true), "no {region}");
        assert_eq!(
            v["wide"],
            Value::Bool(true),
            "{region} does not scroll here: {v}"
        );
        let at = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        assert!(at("scrolled") > 0.0, "{region} did not scroll: {v}");
        assert!(
            (at("first") - at("box")).abs() < 1.5 && (at("headFirst") - at("box")).abs() < 1.5,
            "{region}'s first column left the box's edge when it scrolled: {v}"
        );
        assert!(
            at("secondMoved") > 1.0,
            "{region}'s second column did not scroll: {v}"
        );
    }
}
