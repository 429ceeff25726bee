//! Parsers for the request headers Fly's proxy adds to replayed requests (fly.md §1.4):
//! `fly-replay-src` on the target, `fly-replay-failed` on the original Machine after a fallback.
//! Both are `key=value` pairs joined by `;`; unknown keys are ignored so new Fly fields do not
//! break us.

use super::{REPLAY_FAILED_HEADER, REPLAY_SRC_HEADER, ReplayError};

/// `fly-replay-src`: where a replayed request came from. Absent on requests served from the
/// replay cache (fly.md §1.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySrc<'a> {
    /// The Machine that answered with `fly-replay`.
    pub instance: Option<&'a str>,
    /// The region it came from.
    pub region: Option<&'a str>,
    /// When it was replayed, in microseconds since the Unix epoch.
    pub t: Option<u64>,
    /// The replay's `state`, verbatim. Compare secrets in it in constant time.
    pub state: Option<&'a str>,
}

impl<'a> ReplaySrc<'a> {
    /// Parses a header value such as `instance=0123;region=iad;t=1700000000000000;state=abc`.
    pub fn parse(value: &'a str) -> Result<Self, ReplayError> {
        let mut src = Self::default();
        each_pair(value, REPLAY_SRC_HEADER, |key, value| {
            match key {
                "instance" => src.instance = Some(value),
                "region" => src.region = Some(value),
                "t" => src.t = Some(number(value, REPLAY_SRC_HEADER)?),
                "state" => src.state = Some(value),
                _ => {}
            }
            Ok(())
        })?;
        Ok(src)
    }
}

/// Why the proxy gave up on a replay target and used the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason<'a> {
    /// The target did not accept a connection within the replay's `timeout`.
    Timeout,
    /// The proxy ran out of attempts.
    RetriesExhausted,
    /// No Machine could take the request.
    NoCandidate,
    /// A reason Fly added later.
    Other(&'a str),
}

/// `fly-replay-failed`: the replay this Machine asked for did not reach its target, and the
/// `fallback` sent the request back here. A fallback request may not replay again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayFailed<'a> {
    /// The target Machine (when one was chosen).
    pub instance: Option<&'a str>,
    /// The target app.
    pub app: Option<&'a str>,
    /// The target region.
    pub region: Option<&'a str>,
    /// The Machine that asked for the replay.
    pub replay_source: Option<&'a str>,
    /// Why it failed.
    pub reason: Option<FailReason<'a>>,
    /// How long the proxy tried.
    pub elapsed_ms: Option<u64>,
}

impl<'a> ReplayFailed<'a> {
    /// Parses a value such as
    /// `instance=00bb33ff;app=target-app;region=iad;replay_source=11aa44ee;reason=timeout;elapsed_ms=10000`.
    pub fn parse(value: &'a str) -> Result<Self, ReplayError> {
        let mut failed = Self {
            instance: None,
            app: None,
            region: None,
            replay_source: None,
            reason: None,
            elapsed_ms: None,
        };
        each_pair(value, REPLAY_FAILED_HEADER, |key, value| {
            match key {
                "instance" => failed.instance = Some(value),
                "app" => failed.app = Some(value),
                "region" => failed.region = Some(value),
                "replay_source" => failed.replay_source = Some(value),
                "reason" => {
                    failed.reason = Some(match value {
                        "timeout" => FailReason::Timeout,
                        "retries_exhausted" => FailReason::RetriesExhausted,
                        "no_candidate" => FailReason::NoCandidate,
                        other => FailReason::Other(other),
                    })
                }
                "elapsed_ms" => failed.elapsed_ms = Some(number(value, REPLAY_FAILED_HEADER)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(failed)
    }
}

/// Splits `k=v;k=v` lazily (no allocation), trimming spaces and one pair of surrounding double
/// quotes from values. A part without `=` yields `None`; an empty header yields nothing.
fn pairs(value: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    value
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((key.trim(), value))
        })
}

/// Every pair of `value`, or `Malformed` for an empty header or a part without `=`.
fn each_pair<'a>(
    value: &'a str,
    header: &'static str,
    mut f: impl FnMut(&'a str, &'a str) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    let malformed = ReplayError::Malformed { header };
    if value.trim().is_empty() {
        return Err(malformed);
    }
    for pair in pairs(value) {
        let (key, value) = pair.ok_or(malformed.clone())?;
        f(key, value)?;
    }
    Ok(())
}

fn number(value: &str, header: &'static str) -> Result<u64, ReplayError> {
    value.parse().map_err(|_| ReplayError::Malformed { header })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_src_fields_are_read() {
        let src =
            ReplaySrc::parse("instance=3d8d413b;region=iad;t=1700000000123456;state=abc").unwrap();
        assert_eq!(
            src,
            ReplaySrc {
                instance: Some("3d8d413b"),
                region: Some("iad"),
                t: Some(1_700_000_000_123_456),
                state: Some("abc"),
            }
        );
    }

    #[test]
    fn replay_src_without_state_and_with_unknown_keys() {
        let src = ReplaySrc::parse("instance=1; region=ord ;t=5;future=x").unwrap();
        assert_eq!(src.state, None);
        assert_eq!(src.region, Some("ord"));
    }

    #[test]
    fn malformed_replay_src_is_an_error() {
        assert!(ReplaySrc::parse("").is_err());
        assert!(ReplaySrc::parse("instance").is_err());
        assert!(ReplaySrc::parse("t=yesterday").is_err());
    }

    #[test]
    fn replay_failed_matches_the_documented_example() {
        let failed = ReplayFailed::parse(
            "instance=00bb33ff;app=target-app;region=iad;replay_source=11aa44ee;reason=timeout;elapsed_ms=10000",
        )
        .unwrap();
        assert_eq!(failed.instance, Some("00bb33ff"));
        assert_eq!(failed.app, Some("target-app"));
        assert_eq!(failed.region, Some("iad"));
        assert_eq!(failed.replay_source, Some("11aa44ee"));
        assert_eq!(failed.reason, Some(FailReason::Timeout));
        assert_eq!(failed.elapsed_ms, Some(10_000));
        let other = ReplayFailed::parse("reason=no_candidate").unwrap();
        assert_eq!(other.reason, Some(FailReason::NoCandidate));
    }
}
