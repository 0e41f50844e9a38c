//! A real browser for the console tests: Debian's headless Chromium driven through
//! ChromeDriver's W3C WebDriver API (plain HTTP and JSON on loopback), found through
//! `SLUICE_CHROMEDRIVER` and `SLUICE_CHROMIUM` (`scripts/ops-tools.sh` installs both).

use base64::Engine;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One ChromeDriver with one browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Start ChromeDriver and a headless Chromium with an empty profile and no background
    /// networking (the machine has no network beyond loopback).
    pub async fn start() -> Browser {
        let driver_bin = std::env::var("SLUICE_CHROMEDRIVER")
            .expect("SLUICE_CHROMEDRIVER: scripts/test.sh sources scripts/ops-tools.sh");
        let chromium = std::env::var("SLUICE_CHROMIUM").expect("SLUICE_CHROMIUM");
        let port = crate::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let addr = format!("127.0.0.1:{port}");
        crate::wait_for("chromedriver ready", Duration::from_secs(30), || async {
            crate::http_get(&addr, "/status")
                .await
                .is_some_and(|(s, b)| s == 200 && b.contains("\"ready\":true"))
        })
        .await;
        let profile = std::env::temp_dir().join(crate::unique("chromium"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--disable-quic",
                         "--window-size=1400,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let created = post(&addr, "/session", &caps).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            driver,
            addr,
            session,
            profile,
        }
    }

    async fn cmd(&self, path: &str, body: Value) -> Value {
        let v = post(
            &self.addr,
            &format!("/session/{}{path}", self.session),
            &body,
        )
        .await;
        if let Some(e) = v["value"]["error"].as_str() {
            panic!("webdriver {path}: {e}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    /// Load a page.
    pub async fn open(&self, url: &str) {
        self.cmd("/url", json!({"url": url})).await;
    }

    /// Run `script` (a function body; `return` gives the value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.cmd("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element for {css}: {v}"))
            .to_owned()
    }

    /// Click the element `css` selects, as a user would.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(&format!("/element/{e}/click"), json!({})).await;
    }

    /// Type `text` into the element `css` selects (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(&format!("/element/{e}/clear"), json!({})).await;
        self.cmd(&format!("/element/{e}/value"), json!({"text": text}))
            .await;
    }

    /// Resize the window (a phone: 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Save a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = get(&self.addr, &format!("/session/{}/screenshot", self.session)).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().expect("a screenshot"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn get(addr: &str, path: &str) -> Value {
    let (_, body) = crate::http_get(addr, path)
        .await
        .expect("chromedriver answers");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn post(addr: &str, path: &str, body: &Value) -> Value {
    let (_, json) = crate::http_request_with_body(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await
    .expect("chromedriver answers");
    serde_json::from_str(&json).unwrap_or(Value::Null)
}
