//! Logs on stderr, `SLUICE_LOG` filter, `SLUICE_LOG_FORMAT=json`, with every registered secret
//! replaced by `***` (see `sluice_core::redact`) whatever part of Sluice or of a library wrote
//! the line.

use std::io::Write;
use tracing_subscriber::fmt::MakeWriter;

pub(crate) fn init() {
    use tracing_subscriber::EnvFilter;
    // lapin logs its own view of connection errors (including our own clean closes) at ERROR;
    // Sluice reports every connection problem itself, with the pipe and what it does next.
    let filter = EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=off,amq_protocol=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr);
    if std::env::var("SLUICE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Hands out one buffer per log event; the event is redacted and written whole on drop.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> EventBuffer {
        EventBuffer(Vec::with_capacity(256))
    }
}

struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let shown = sluice_core::redact::redact(&text);
        // Nowhere to report a failed write to stderr.
        let _ = std::io::stderr().write_all(shown.as_bytes());
    }
}
