//! The console in a real browser (headless Chromium through ChromeDriver) against a running
//! Sluice moving real RabbitMQ messages: it asks for the token and refuses a wrong one, lists
//! the pipes, its charts move as messages flow, Disable stops consumption (the queue grows,
//! the state reads Disabled) and Enable resumes it. It saves the screenshots the README shows
//! (`docs/screenshots/`).

use serde_json::Value;
use sluice_tests::broker::{self, Rabbit};
use sluice_tests::browser::Browser;
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "console-test-token";

fn screenshot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/screenshots")
        .join(name)
}

/// The pipe row's value of `js` (an expression over `row`, the pipe's `<tr>`).
async fn row(browser: &Browser, pipe: &str, js: &str) -> Value {
    browser
        .eval(&format!(
            "const row = document.querySelector('tr[data-pipe=\"{pipe}\"]'); return row ? ({js}) : null;"
        ))
        .await
}

/// The number in the pipe's Delivered cell.
async fn delivered(browser: &Browser, pipe: &str) -> f64 {
    row(
        browser,
        pipe,
        "row.querySelector('td.delivered').textContent",
    )
    .await
    .as_str()
    .map(|t| t.replace(',', ""))
    .and_then(|t| t.trim().parse().ok())
    .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and Chromium: scripts/test.sh installs and starts them and runs this"]
async fn the_console_shows_pipes_moving_and_stops_and_starts_them() {
    let rabbit = Rabbit::connect().await;
    let function =
        Function::start_slow(0, Duration::from_millis(20), |_| (200, String::new())).await;
    let (orders, audit) = (
        unique("orders").to_lowercase(),
        unique("audit").to_lowercase(),
    );
    let pipe = |name: &str| {
        format!(
            "name: {name}\nsource:\n  rabbitmq: {{url: '{}', queues: [{name}]}}\ntarget:\n  http: {{url: '{}'}}\nbatch: {{size: 10, window: 20ms}}\n",
            broker::url(),
            function.url()
        )
    };
    for q in [&orders, &audit] {
        rabbit.queue(q, &[]).await;
    }
    let mut sluice = Sluice::start_dir_env(
        &[
            ("orders.yaml", &pipe(&orders)),
            ("audit.yaml", &pipe(&audit)),
        ],
        &[("SLUICE_ADMIN_TOKEN", TOKEN)],
    );
    wait_for("sluice ready", LIMIT, || async { sluice.ready().await }).await;
    let browser = Browser::start().await;
    browser.open(&format!("http://{}/", sluice.admin)).await;

    // It asks for the token, and a wrong one is refused.
    wait_for("the token form", LIMIT, || async {
        browser
            .eval("return !document.getElementById('login').hidden")
            .await
            == true
    })
    .await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#login button[type=submit]").await;
    wait_for("a wrong token refused", LIMIT, || async {
        browser
            .eval("return document.getElementById('login-error').textContent")
            .await
            .as_str()
            .is_some_and(|t| t.contains("refused"))
    })
    .await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#login button[type=submit]").await;

    // Every pipe listed, Enabled.
    for p in [&orders, &audit] {
        wait_for("the pipe listed as Enabled", LIMIT, || async {
            row(&browser, p, "row.querySelector('.state').dataset.state").await == "Enabled"
        })
        .await;
    }

    // Messages flow: the counts and the "Records in" chart move.
    rabbit.publish_numbered(&orders, "m", 300).await;
    wait_for("300 delivered on the page", LIMIT, || async {
        delivered(&browser, &orders).await == 300.0
    })
    .await;
    wait_for("the records-in chart moved", LIMIT, || async {
        // The sparkline's y values: a flat line (or none) until a rate above 0 is drawn.
        let ys = row(
            &browser,
            &orders,
            "[...row.querySelector('svg path').getAttribute('d').matchAll(/[ML][\\d.]+ ([\\d.]+)/g)].map(m => +m[1])",
        )
        .await;
        let ys: Vec<f64> = ys.as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        ys.len() >= 2 && ys.iter().any(|y| (y - ys[0]).abs() > 1.0)
    })
    .await;
    browser.screenshot(&screenshot("console.png")).await;

    // Disable: Disabling, then Disabled; the queue grows and nothing consumes it.
    browser
        .click(&format!("button[data-toggle=\"{orders}\"]"))
        .await;
    wait_for("Disabled on the page", LIMIT, || async {
        row(
            &browser,
            &orders,
            "row.querySelector('.state').dataset.state",
        )
        .await
            == "Disabled"
    })
    .await;
    assert_eq!(
        rabbit.consumers(&orders).await,
        0,
        "a disabled pipe consumes nothing"
    );
    rabbit.publish_numbered(&orders, "n", 40).await;
    assert_eq!(
        rabbit.ready(&orders).await,
        40,
        "the queue grows while disabled"
    );
    assert_eq!(delivered(&browser, &orders).await, 300.0);

    // Enable: it resumes and the 40 arrive.
    browser
        .click(&format!("button[data-toggle=\"{orders}\"]"))
        .await;
    wait_for("340 delivered after Enable", LIMIT, || async {
        delivered(&browser, &orders).await == 340.0
    })
    .await;
    assert_eq!(
        row(
            &browser,
            &orders,
            "row.querySelector('.state').dataset.state"
        )
        .await,
        "Enabled"
    );

    // The pipe's page: its charts, counters and configuration.
    browser
        .click(&format!("tr[data-pipe=\"{orders}\"] a"))
        .await;
    wait_for("the pipe page", LIMIT, || async {
        browser
            .eval("return document.querySelectorAll('svg.chart').length")
            .await
            == 5
            && browser
                .eval("return document.querySelector('dl.counters').textContent")
                .await
                .as_str()
                .is_some_and(|t| t.contains("340"))
            && browser
                .eval(
                    "const c = document.querySelector('pre.config'); return c ? c.textContent : ''",
                )
                .await
                .as_str()
                .is_some_and(|t| t.contains(&format!("\"{orders}\"")) && t.contains("guest:***@"))
    })
    .await;
    browser.screenshot(&screenshot("console-pipe.png")).await;
    // Readable on a phone: the table turns into cards, nothing wider than the screen.
    browser.open(&format!("http://{}/#/", sluice.admin)).await;
    browser.resize(390, 844).await;
    wait_for("the list on a phone", LIMIT, || async {
        browser
            .eval("return document.querySelectorAll('tr[data-pipe]').length")
            .await
            == 2
    })
    .await;
    assert_eq!(
        browser
            .eval("return document.documentElement.scrollWidth <= window.innerWidth + 1")
            .await,
        true,
        "no horizontal scrolling on a phone"
    );
    browser.screenshot(&screenshot("console-phone.png")).await;
    drop(browser);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    for q in [&orders, &audit] {
        rabbit.delete(q).await;
    }
}
