//! `fly-replay` directives in both forms (fly.md §1.2 header, §1.3 JSON body), and the
//! `fly-replay-src` / `fly-replay-failed` values the edge writes (§1.4).

use std::time::Duration;

use serde::Deserialize;

/// `fallback`: where a replay that cannot reach its target goes instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// Back to the exact machine that replayed, or an error.
    ForceSelf,
    /// Back to that machine if possible, else any machine of its app.
    PreferSelf,
}

/// A parsed replay answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directive {
    pub app: Option<String>,
    pub instance: Option<String>,
    pub prefer_instance: Option<String>,
    /// Accepted and ignored: flylocal has one region.
    pub region: Option<String>,
    pub state: Option<String>,
    pub elsewhere: bool,
    pub timeout: Option<Duration>,
    pub fallback: Option<Fallback>,
    pub transform: Transform,
}

/// `transform` (JSON form only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Transform {
    pub path: Option<String>,
    pub delete_headers: Vec<String>,
    pub set_headers: Vec<SetHeader>,
}

/// One `transform.set_headers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SetHeader {
    pub name: String,
    pub value: String,
}

/// Why a replay answer could not be followed (Fly's PA03, "invalid replay").
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReplayError {
    #[error("invalid fly-replay field {field}={value:?}")]
    BadField { field: String, value: String },
    #[error("invalid fly-replay JSON body: {0}")]
    BadJson(String),
}

fn bad(field: &str, value: &str) -> ReplayError {
    ReplayError::BadField {
        field: field.to_owned(),
        value: value.to_owned(),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, ReplayError> {
    humantime::parse_duration(value).map_err(|_| bad("timeout", value))
}

fn parse_fallback(value: &str) -> Result<Fallback, ReplayError> {
    match value {
        "force_self" => Ok(Fallback::ForceSelf),
        "prefer_self" => Ok(Fallback::PreferSelf),
        other => Err(bad("fallback", other)),
    }
}

/// Parses the header form: `key=value` pairs joined by `;`, values optionally double-quoted
/// (a quoted value may contain `,` and `;`). Unknown keys are ignored, as a proxy would.
pub(crate) fn parse_header(value: &str) -> Result<Directive, ReplayError> {
    let mut directive = Directive::default();
    for (key, value) in split_pairs(value) {
        let value = value.as_str();
        match key.as_str() {
            "app" => directive.app = Some(value.to_owned()),
            "instance" => directive.instance = Some(value.to_owned()),
            "prefer_instance" => directive.prefer_instance = Some(value.to_owned()),
            "region" => directive.region = Some(value.to_owned()),
            "state" => directive.state = Some(value.to_owned()),
            "elsewhere" => directive.elsewhere = value == "true",
            "timeout" => directive.timeout = Some(parse_timeout(value)?),
            "fallback" => directive.fallback = Some(parse_fallback(value)?),
            _ => {}
        }
    }
    Ok(directive)
}

fn split_pairs(value: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut push = |field: &mut String| {
        if let Some((k, v)) = field.split_once('=') {
            pairs.push((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ));
        }
        field.clear();
    };
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => push(&mut current),
            _ => current.push(c),
        }
    }
    push(&mut current);
    pairs
}

#[derive(Deserialize)]
struct JsonDirective {
    app: Option<String>,
    instance: Option<String>,
    prefer_instance: Option<String>,
    region: Option<String>,
    state: Option<String>,
    #[serde(default)]
    elsewhere: bool,
    timeout: Option<String>,
    fallback: Option<String>,
    #[serde(default)]
    transform: Transform,
}

/// Parses the `application/vnd.fly.replay+json` body form.
pub(crate) fn parse_json(body: &[u8]) -> Result<Directive, ReplayError> {
    let raw: JsonDirective =
        serde_json::from_slice(body).map_err(|err| ReplayError::BadJson(err.to_string()))?;
    Ok(Directive {
        app: raw.app,
        instance: raw.instance,
        prefer_instance: raw.prefer_instance,
        region: raw.region,
        state: raw.state,
        elsewhere: raw.elsewhere,
        timeout: raw.timeout.as_deref().map(parse_timeout).transpose()?,
        fallback: raw.fallback.as_deref().map(parse_fallback).transpose()?,
        transform: raw.transform,
    })
}

/// `fly-replay-src: instance=…;region=…;t=…;state=…` for the replayed request.
pub(crate) fn replay_src(
    instance: &str,
    region: &str,
    t_micros: u64,
    state: Option<&str>,
) -> String {
    let mut value = format!("instance={instance};region={region};t={t_micros}");
    if let Some(state) = state {
        value.push_str(&format!(";state={state}"));
    }
    value
}

/// Why a replay fell back (`fly-replay-failed` `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailReason {
    Timeout,
    NoCandidate,
}

impl FailReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::NoCandidate => "no_candidate",
        }
    }
}

/// `fly-replay-failed: instance=…;app=…;region=…;replay_source=…;reason=…;elapsed_ms=…`.
pub(crate) fn replay_failed(
    instance: &str,
    app: &str,
    region: &str,
    replay_source: &str,
    reason: FailReason,
    elapsed: Duration,
) -> String {
    format!(
        "instance={instance};app={app};region={region};replay_source={replay_source};reason={};elapsed_ms={}",
        reason.as_str(),
        elapsed.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_form_with_quoted_region_list() {
        let d = parse_header(r#"app=user-abc;instance=3d8d;region="iad,ord";timeout=800ms;fallback=force_self;state=k1"#)
            .expect("valid");
        assert_eq!(d.app.as_deref(), Some("user-abc"));
        assert_eq!(d.instance.as_deref(), Some("3d8d"));
        assert_eq!(d.region.as_deref(), Some("iad,ord"));
        assert_eq!(d.timeout, Some(Duration::from_millis(800)));
        assert_eq!(d.fallback, Some(Fallback::ForceSelf));
        assert_eq!(d.state.as_deref(), Some("k1"));
    }

    #[test]
    fn bad_timeout_is_an_invalid_replay() {
        assert!(matches!(
            parse_header("app=a;timeout=soon"),
            Err(ReplayError::BadField { .. })
        ));
    }

    #[test]
    fn json_form_with_transform() {
        let d = parse_json(
            br#"{"app":"u","prefer_instance":"m1","timeout":"30s","fallback":"prefer_self",
                 "transform":{"path":"/x?y=1","delete_headers":["cookie"],"set_headers":[{"name":"x-user","value":"abc"}]}}"#,
        )
        .expect("valid");
        assert_eq!(d.prefer_instance.as_deref(), Some("m1"));
        assert_eq!(d.fallback, Some(Fallback::PreferSelf));
        assert_eq!(d.transform.path.as_deref(), Some("/x?y=1"));
        assert_eq!(d.transform.set_headers[0].value, "abc");
    }

    #[test]
    fn src_and_failed_values() {
        assert_eq!(
            replay_src("m1", "lcl", 5, Some("s")),
            "instance=m1;region=lcl;t=5;state=s"
        );
        assert_eq!(
            replay_failed(
                "m2",
                "u",
                "lcl",
                "m1",
                FailReason::Timeout,
                Duration::from_millis(12)
            ),
            "instance=m2;app=u;region=lcl;replay_source=m1;reason=timeout;elapsed_ms=12"
        );
    }
}
