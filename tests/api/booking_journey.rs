//! A member of staff books through the pages in headless Chromium, as they would on a phone
//! between lessons: signs in through the link emailed to them, finds the course in the
//! calendar by its words, joins the waiting list from the course page with the keyboard
//! alone, sees it in their bookings, gets the place when someone cancels (and the email
//! saying so, whose link opens the course page), then cancels. axe-core checks every page on
//! the way, at phone width and at desktop width. A school lead, signed in the same way,
//! approves requests in bulk from the school view and books a colleague; a member of staff
//! reads their CPD record and makes a calendar feed.

use std::time::Duration;

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world};
use crate::browser::{keys, Browser};
use crate::email::{parse, spawn_with_sink};
use crate::helpers::Backend;
use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

/// The text part of the newest message to `to` whose subject starts with `subject`.
async fn mail_to(sink: &SmtpSink, to: &str, subject: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        for m in sink.messages().iter().rev() {
            let mail = parse(m);
            if m.rcpt_to.iter().any(|r| r == to)
                && mail.subject().is_some_and(|s| s.starts_with(subject))
            {
                return mail
                    .text_part(0)
                    .unwrap()
                    .text_contents()
                    .unwrap()
                    .to_string();
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no email to {to} starting {subject:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first line of `text` that starts with `prefix`, trimmed.
fn link_in(text: &str, prefix: &str) -> String {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.find(prefix).map(|i| l[i..].to_string()))
        .unwrap_or_else(|| panic!("no {prefix} link in: {text}"))
}

/// The page is no wider than the window (WCAG 1.4.10: no sideways scrolling at 320 px).
async fn fits(browser: &Browser, page: &str) {
    browser.assert_fits(page).await;
}

crate::each_backend!(
    staff_find_book_and_cancel_in_a_browser,
    find_book_and_cancel
);

async fn find_book_and_cancel(backend: Backend) {
    let Some(browser) = Browser::start_sized(320, 900).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    // Links in emails point at this service, so the browser can follow them.
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Phonics for early readers", 1, |_| {}).await;
    bk_course(&app, &w, "Leading a team through change", 20, |_| {}).await;
    let ann = bk_person(&app, "Ann Api", Some(&w.school_a), None, &[]).await;
    let pat = bk_person(&app, "Pat Page", Some(&w.school_b), None, &[]).await;
    let pat_email = crate::booking_support::bk_text(
        &app,
        &format!("SELECT email AS t FROM people WHERE id = '{}'", pat.id),
    )
    .await;
    let ann_booking = bk_book_ok(&app, &course, &ann).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Signed out, the course page offers sign-in, which comes back to it.
    browser
        .goto(&format!("{}/courses/{course}", app.address))
        .await;
    browser.assert_accessible("course page, signed out").await;
    let sign_in = browser.find("#cta-button").await;
    browser.click_and_wait(&sign_in).await;
    browser.assert_accessible("home, signed out").await;
    browser.find("#email").await.type_text(&pat_email).await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let text = mail_to(&sink, &pat_email, "Your sign-in link").await;
    let link = link_in(&text, &format!("{}/auth/magic?token=", app.address));
    browser.goto(&link).await;
    browser.assert_accessible("sign-in confirmation").await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;
    assert_eq!(
        browser.current_url().await,
        format!("{}/courses/{course}", app.address),
        "signing in returns to the page that asked for it"
    );

    // The calendar, filtered by words from its form.
    browser.goto(&format!("{}/courses", app.address)).await;
    browser.assert_accessible("calendar").await;
    fits(&browser, "calendar").await;
    browser.find("#filter-q").await.type_text("phonics").await;
    let show = browser.find("form.filters button[type=submit]").await;
    browser.click_and_wait(&show).await;
    assert!(browser.current_url().await.contains("q=phonics"));
    let titles: Vec<String> = {
        let mut t = Vec::new();
        for e in browser.find_all(".course-card__title").await {
            t.push(e.text().await);
        }
        t
    };
    assert_eq!(titles, ["Phonics for early readers"]);
    browser.assert_accessible("calendar, filtered").await;

    // The course page offers the waiting list; the keyboard alone takes it.
    let open = browser.find(".course-card__title a").await;
    browser.click_and_wait(&open).await;
    browser.assert_accessible("course page").await;
    fits(&browser, "course page").await;
    let cta = browser.find("#cta-button").await;
    assert_eq!(cta.text().await, "Join the waiting list (position 1)");
    let mut tabs = 0;
    while !browser.find("#cta-button").await.is_focused().await {
        browser.press(keys::TAB).await;
        tabs += 1;
        assert!(tabs < 40, "the button is never reached with the Tab key");
    }
    browser.press(keys::ENTER).await;
    let result = browser.wait_for("#booking-result", WAIT).await;
    assert!(
        result
            .text()
            .await
            .contains("you are number 1 on the waiting list"),
        "{}",
        result.text().await
    );
    browser.assert_accessible("course page, waitlisted").await;

    // One's bookings say so.
    browser.goto(&format!("{}/my/bookings", app.address)).await;
    let mine = browser.find("main").await.text().await;
    assert!(mine.contains("Waiting list, number 1"), "{mine}");
    browser.assert_accessible("your bookings").await;
    fits(&browser, "your bookings").await;

    // So does the start page, with the course's date.
    browser.goto(&format!("{}/", app.address)).await;
    let home = browser.find("#held").await.text().await;
    assert!(
        home.contains("Phonics for early readers") && home.contains("Number 1 on the waiting list"),
        "{home}"
    );
    browser.assert_accessible("home, signed in").await;

    // Ann gives up her place: Pat gets it and is emailed; the email's link opens the page.
    let r = app
        .post(
            &format!("/api/v1/bookings/{ann_booking}/cancel"),
            ann.t(),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = mail_to(&sink, &pat_email, "You now have a place").await;
    let details = link_in(&text, &format!("{}/courses/", app.address));
    browser.goto(&details).await;
    let cta = browser.find("#cta-text").await.text().await;
    assert!(cta.starts_with("You have a place."), "{cta}");

    // At desktop width too, then Pat cancels with a reason.
    browser.set_window_size(1280, 900).await;
    browser
        .assert_accessible("course page, booked, desktop")
        .await;
    browser.goto(&format!("{}/my/bookings", app.address)).await;
    browser.find(".cancel-details summary").await.click().await;
    browser
        .find(".cancel-details textarea")
        .await
        .type_text("Covering a colleague's class")
        .await;
    let cancel = browser.find(".cancel-details button[type=submit]").await;
    browser.click_and_wait(&cancel).await;
    let done = browser.wait_for("#booking-result", WAIT).await;
    assert_eq!(done.text().await, "Your booking is cancelled.");
    browser
        .assert_accessible("your bookings, after cancelling")
        .await;
    let mine = browser.find("main").await.text().await;
    assert!(mine.contains("Cancelled"), "{mine}");
    let b = crate::booking_support::bk_text(
        &app,
        &format!(
            "SELECT cancel_reason AS t FROM bookings WHERE person_id = '{}'",
            pat.id
        ),
    )
    .await;
    assert_eq!(b, "Covering a colleague's class");
}

/// Opens `path` signed out, which asks for sign-in; signs `email` in through the link the
/// sign-in form emails; the browser ends back on `path`.
async fn sign_in_at(browser: &Browser, sink: &SmtpSink, address: &str, email: &str, path: &str) {
    browser.goto(&format!("{address}{path}")).await;
    browser.find("#email").await.type_text(email).await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let text = mail_to(sink, email, "Your sign-in link").await;
    let link = link_in(&text, &format!("{address}/auth/magic?token="));
    browser.goto(&link).await;
    let confirm = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&confirm).await;
    assert_eq!(browser.current_url().await, format!("{address}{path}"));
}

crate::each_backend!(
    a_school_lead_approves_and_books_a_colleague_in_a_browser,
    lead_approves_and_books_a_colleague
);

async fn lead_approves_and_books_a_colleague(backend: Backend) {
    let Some(browser) = Browser::start_sized(320, 900).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    let send = bk_course(&app, &w, "Leading SEND provision", 10, |b| {
        b["requires_approval"] = serde_json::json!(true);
    })
    .await;
    let maths = bk_course(&app, &w, "Questioning in maths", 10, |_| {}).await;
    let ann = bk_person(&app, "Ann Asker", Some(&w.school_a), None, &[]).await;
    let ben = bk_person(&app, "Ben Asker", Some(&w.school_a), None, &[]).await;
    let ed = bk_person(&app, "Ed Colleague", Some(&w.school_a), None, &[]).await;
    let cat = bk_person(&app, "Cat Asker", Some(&w.school_a), None, &[]).await;
    for who in [&ann, &ben, &cat] {
        assert_eq!(
            bk_book_ok(&app, &send, who).await["status"],
            "pending_approval"
        );
    }
    let mut emails = Vec::new();
    for id in [&w.lead_a.id, &ann.id, &ed.id, &cat.id] {
        let sql = format!("SELECT email AS t FROM people WHERE id = '{id}'");
        emails.push(crate::booking_support::bk_text(&app, &sql).await);
    }
    let (lead_email, ann_email, ed_email) = (&emails[0], &emails[1], &emails[2]);

    // The approval email for Cat's request: its link, signed out, leads through sign-in to
    // the request, approved there; Cat is told.
    let text = mail_to(&sink, lead_email, "Approval needed: Cat Asker").await;
    let link = link_in(&text, &format!("{}/bookings/", app.address));
    let path = link[app.address.len()..].to_string();
    sign_in_at(&browser, &sink, &app.address, lead_email, &path).await;
    browser
        .assert_accessible("booking request from the email")
        .await;
    fits(&browser, "booking request from the email").await;
    let approve = browser.find("#approve-button").await;
    browser.click_and_wait(&approve).await;
    let decided = browser.wait_for("#decision-result", WAIT).await;
    assert!(decided.text().await.contains("You approved the request."));
    browser.assert_accessible("booking request, approved").await;
    let mail = mail_to(&sink, &emails[3], "Your booking is approved").await;
    assert!(mail.contains("Leading SEND provision"), "{mail}");

    browser.goto(&format!("{}/school", app.address)).await;
    browser.assert_accessible("school view").await;
    fits(&browser, "school view").await;
    // On a phone the menu is one button; it opens to the lead's links.
    let menu = browser.find(".site-menu summary").await;
    menu.click().await;
    let links = browser.find(".site-menu").await.text().await;
    assert!(
        links.contains("Your school") && links.contains("Reports"),
        "{links}"
    );
    browser.assert_accessible("school view, menu open").await;
    fits(&browser, "school view, menu open").await;
    menu.click().await;

    // Both requests ticked with the keyboard's space bar, approved at once.
    for id in ["Ann Asker", "Ben Asker"] {
        let boxes = browser.find_all("#waiting tbody tr").await;
        let mut ticked = false;
        for row in boxes {
            if row.text().await.contains(id) {
                let tick = row.find("input[type=checkbox]").await;
                tick.send_keys(" ").await;
                assert_eq!(tick.property("checked").await, serde_json::json!(true));
                ticked = true;
            }
        }
        assert!(ticked, "{id}'s request is listed");
    }
    let approve = browser.find("#approve-ticked").await;
    browser.click_and_wait(&approve).await;
    let done = browser.wait_for("#decided", WAIT).await;
    assert_eq!(
        done.text().await,
        "You approved 2 requests. The people asking have been told by email."
    );
    browser.assert_accessible("school view, decided").await;
    let mail = mail_to(&sink, ann_email, "Your booking is approved").await;
    assert!(mail.contains("Leading SEND provision"), "{mail}");

    // Ed's "Book a course" link, the calendar chosen for Ed, the course, the booking.
    let book_for = browser.find(&format!("#person-{} a", ed.id)).await;
    browser.click_and_wait(&book_for).await;
    assert!(browser
        .find("#booking-for")
        .await
        .text()
        .await
        .contains("Ed Colleague"));
    browser.assert_accessible("calendar, for a colleague").await;
    fits(&browser, "calendar, for a colleague").await;
    let open = browser.find(&format!("a[href^='/courses/{maths}']")).await;
    browser.click_and_wait(&open).await;
    browser
        .assert_accessible("course page, for a colleague")
        .await;
    let cta = browser.find("#cta-button").await;
    assert_eq!(cta.text().await, "Book a place for Ed Colleague");
    browser.click_and_wait(&cta).await;
    let result = browser.wait_for("#booking-result", WAIT).await;
    assert!(
        result.text().await.contains("Ed Colleague has a place."),
        "{}",
        result.text().await
    );
    browser
        .assert_accessible("course page, colleague booked")
        .await;
    let mail = mail_to(&sink, ed_email, "Your place is confirmed").await;
    assert!(mail.contains("Questioning in maths"), "{mail}");

    // Desktop width: the school view lists Ed's booking, and the menu is a row of links.
    browser.set_window_size(1280, 900).await;
    browser.goto(&format!("{}/school", app.address)).await;
    let ed_row = browser
        .find(&format!("#person-{}", ed.id))
        .await
        .text()
        .await;
    assert!(
        ed_row.contains("Questioning in maths") && ed_row.contains("Place confirmed"),
        "{ed_row}"
    );
    let nav = browser.find(".site-nav--wide").await.text().await;
    assert!(nav.contains("Your school"), "{nav}");
    browser.assert_accessible("school view, desktop").await;

    // Ann's record and calendar feed, on a phone.
    browser.delete_cookies().await;
    browser.set_window_size(320, 900).await;
    sign_in_at(&browser, &sink, &app.address, ann_email, "/my/record").await;
    browser.assert_accessible("CPD record").await;
    fits(&browser, "CPD record").await;
    let make = browser.find("#calendar-feed ~ form button").await;
    browser.click_and_wait(&make).await;
    let address = browser.find("#feed-url").await.property("value").await;
    assert!(
        address.as_str().unwrap().contains("/calendar/cal_"),
        "{address}"
    );
    browser.assert_accessible("CPD record, feed made").await;
    fits(&browser, "CPD record, feed made").await;
    browser
        .goto(&format!("{}/my/record?view=print", app.address))
        .await;
    browser.assert_accessible("CPD record, printable").await;
    fits(&browser, "CPD record, printable").await;
}
