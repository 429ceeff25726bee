//! Reading a child's stdout or stderr with a fixed memory bound.
//!
//! A command can print gigabytes; we keep the first half of the budget and the last half (a
//! ring buffer), because the start of output says what ran and the end says how it finished
//! (the error, the summary line). Everything in between is counted and dropped, and the reader
//! keeps draining the pipe so the child never blocks on a full pipe.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// What was kept of one output stream.
#[derive(Debug)]
pub(super) struct Captured {
    /// The output, or its start and end joined by a line saying how much was left out.
    pub text: String,
    /// True when bytes were left out.
    pub truncated: bool,
}

/// Reads `reader` to its end (or until `stop` fires), keeping at most about `max` bytes.
pub(super) async fn capture(
    mut reader: impl AsyncRead + Unpin,
    max: usize,
    stop: CancellationToken,
) -> Captured {
    let head_cap = max / 2;
    let tail_cap = max - head_cap;
    let mut head = Vec::with_capacity(head_cap.min(8192));
    let mut tail = VecDeque::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            () = stop.cancelled() => break,
        };
        total += n;
        let mut chunk = &buf[..n];
        let to_head = chunk.len().min(head_cap - head.len());
        head.extend_from_slice(&chunk[..to_head]);
        chunk = &chunk[to_head..];
        tail.extend(chunk);
        if tail.len() > tail_cap {
            tail.drain(..tail.len() - tail_cap);
        }
    }
    let kept = head.len() + tail.len();
    let truncated = total > kept;
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if truncated {
        text.push_str(&format!(
            "\n[... {} bytes of output omitted ...]\n",
            total - kept
        ));
    }
    let (a, b) = tail.as_slices();
    let tail: Vec<u8> = [a, b].concat();
    text.push_str(&String::from_utf8_lossy(&tail));
    Captured { text, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_short_output_whole() {
        let out = capture(&b"hello\nworld\n"[..], 64, CancellationToken::new()).await;
        assert_eq!(out.text, "hello\nworld\n");
        assert!(!out.truncated);
    }

    #[tokio::test]
    async fn keeps_the_start_and_the_end_of_long_output() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let out = capture(&input[..], 1000, CancellationToken::new()).await;
        assert!(out.truncated);
        assert!(out.text.starts_with("0\n1\n2\n"), "{}", &out.text[..20]);
        assert!(out.text.ends_with("99998\n99999\n"));
        let omitted = input.len() - 1000;
        assert!(
            out.text
                .contains(&format!("[... {omitted} bytes of output omitted ...]"))
        );
        assert!(out.text.len() < 1100);
    }
}
