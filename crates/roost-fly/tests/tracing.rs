//! What the client logs about a Fly call: a `fly_api` span with endpoint, app, machine id,
//! attempt, status and Fly's request id, and never the token.
//!
//! Its own test binary with a process-wide subscriber: tracing caches per-callsite interest
//! globally, so a thread-local subscriber in a binary whose other tests run in parallel threads
//! misses events at random.

#[path = "support/fake_fly.rs"]
mod fake_fly;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fake_fly::{FakeFly, Reply};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn calls_are_traced_with_endpoint_app_machine_status_and_request_id_but_never_the_token() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let calls = AtomicUsize::new(0);
    let fly = FakeFly::start(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(503, r#"{"error":"unavailable"}"#)
        } else {
            Reply::fixture(200, "machine.json")
        }
    })
    .await;
    let mut config = fly.config();
    config.token = "fm2_verysecretmacaroon".into();
    roost_fly::FlyClient::new(config)
        .unwrap()
        .get_machine("roost-u-abc", "3d8d413b29d089")
        .await
        .unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let retry = logs
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_else(|| panic!("no retry line in:\n{logs}"));
    for expected in [
        "endpoint=\"machines.get\"",
        "app=\"roost-u-abc\"",
        "machine_id=\"3d8d413b29d089\"",
        "attempt=1",
        "status=503",
        "request_id=\"01TESTREQUESTID\"",
    ] {
        assert!(retry.contains(expected), "missing {expected} in: {retry}");
    }
    let success = logs
        .lines()
        .find(|l| l.contains("Fly API call succeeded"))
        .unwrap_or_else(|| panic!("no success line in:\n{logs}"));
    assert!(success.contains("attempt=2"), "{success}");
    assert!(success.contains("status=200"), "{success}");
    assert!(
        !logs.contains("verysecret"),
        "the token leaked into the logs:\n{logs}"
    );
}
