//! Keeping secrets out of everything Sluice shows: logs, `validate`, `/pipes`, errors.
//!
//! Two mechanisms, because a secret reaches the screen two ways:
//!
//! - By value: every value that came from `${env:...}` or `${file:...}` is [`register`]ed when
//!   a pipe file is loaded, and [`redact`] replaces it (and its percent-encoded form, as a URL
//!   parser would print it) by `***` in any text, wherever it sits: user info, query, path,
//!   an error message. The log writer, the loader's errors and the admin endpoints pass their
//!   text through it. Values shorter than [`MIN_LEN`] bytes are not replaced in free text
//!   (every `a` of a log line would go); URLs still hide them through [`redact_url`].
//! - By place: [`redact_url`] hides a password written literally in a URL, even one holding
//!   `/`, `?` or `#` (which a URL parser would take as the end of the user info).
//!
//! The registry is one process-wide set: secrets are a property of the process's input, and
//! the log writer has no pipe to ask.

use std::borrow::Cow;
use std::sync::RwLock;

/// Shortest secret replaced in free text.
pub const MIN_LEN: usize = 3;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret value (and its percent-encoded form) so that [`redact`] hides it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let mut forms = vec![value.to_owned()];
    let encoded = percent_encode(value);
    if encoded != value {
        forms.push(encoded);
    }
    let mut list = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for f in forms {
        if !list.contains(&f) {
            list.push(f);
        }
    }
    // Longest first, so that a secret containing another is replaced whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if list.is_empty() || !list.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    Cow::Owned(out)
}

/// Every byte outside unreserved characters as `%XX`, as URL user info is encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL for display: the password of its user info replaced by `***`, then every registered
/// secret. The user info ends at the last `@` (a password may hold `/`, `?`, `#` or `@`);
/// when a `:` stands before that `@`, what lies between is taken as a password. A URL with a
/// port and an `@` in its query is over-redacted, never under-redacted.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return redact(url).into_owned();
    };
    let rest = &url[scheme_end + 3..];
    let shown = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &rest[at..])
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    redact(&shown).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_whatever_the_password_holds() {
        assert_eq!(
            redact_url("scheme://user:s3cret@host:5672/%2f"),
            "scheme://user:***@host:5672/%2f"
        );
        for pw in ["a/b", "a?b", "a#b", "a@b", "/?#@:"] {
            let shown = redact_url(&format!("scheme://app:{pw}@host:5672/%2f"));
            assert_eq!(shown, "scheme://app:***@host:5672/%2f", "{pw}");
        }
        assert_eq!(redact_url("scheme://host/%2f"), "scheme://host/%2f");
        assert_eq!(redact_url("http://u@h/"), "http://u@h/");
        assert_eq!(redact_url("https://h/x?email=a@b"), "https://h/x?email=a@b");
    }

    #[test]
    fn registered_secrets_are_hidden_anywhere_in_any_form() {
        register("tok-42/x?y#z");
        assert_eq!(
            redact("GET http://h/path/tok-42/x?y#z?q=1 failed"),
            "GET http://h/path/***?q=1 failed"
        );
        assert_eq!(
            redact("https://h/?token=tok-42%2Fx%3Fy%23z"),
            "https://h/?token=***"
        );
        assert_eq!(
            redact_url("https://h/cb?k=tok-42/x?y#z"),
            "https://h/cb?k=***"
        );
        register("ab");
        assert_eq!(redact("a lab"), "a lab", "too short for free text");
    }
}
