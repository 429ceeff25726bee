//! [`Replay`]: builds the `fly-replay` header (fly.md §1.2) and the JSON body (§1.3).

use std::fmt::Write as _;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::{Serialize, Serializer};

use super::ReplayError;
use crate::types::FlyDuration;

/// What the proxy does when the replay target cannot be reached within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Send the request back to the exact Machine that replayed it (with
    /// `fly-replay-failed`), or fail.
    ForceSelf,
    /// Try that Machine first, then any Machine of the original app.
    PreferSelf,
}

impl Fallback {
    fn as_str(self) -> &'static str {
        match self {
            Self::ForceSelf => "force_self",
            Self::PreferSelf => "prefer_self",
        }
    }
}

/// One `transform.set_headers` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SetHeader<'a> {
    /// Header name.
    pub name: &'a str,
    /// Value; replaces any existing header of that name.
    pub value: &'a str,
}

/// `transform` of the JSON form: how the proxy rewrites the request before replaying it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Transform<'a> {
    /// New path and query, e.g. `/mcp?x=1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    /// Headers to remove.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub delete_headers: &'a [&'a str],
    /// Headers to set. A third-party report says `Authorization` may get lost when this is
    /// present (fly.md §1.3, UNVERIFIED): copy it in here if the target needs it.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub set_headers: &'a [SetHeader<'a>],
}

/// A `fly-replay` response: where Fly's proxy should send the original request.
///
/// ```
/// use std::time::Duration;
/// use roost_fly::replay::{Fallback, Replay};
///
/// let replay = Replay::to_app("roost-u-abc")
///     .state("t0k3n")
///     .timeout(Duration::from_secs(30))
///     .fallback(Fallback::PreferSelf);
/// assert_eq!(
///     replay.header_value().unwrap(),
///     "app=roost-u-abc;state=t0k3n;timeout=30s;fallback=prefer_self"
/// );
/// assert_eq!(
///     String::from_utf8(replay.json_body().unwrap()).unwrap(),
///     r#"{"app":"roost-u-abc","state":"t0k3n","timeout":"30s","fallback":"prefer_self"}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Replay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefer_instance: Option<&'a str>,
    #[serde(
        skip_serializing_if = "<[_]>::is_empty",
        serialize_with = "serialize_regions"
    )]
    region: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    elsewhere: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<FlyDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback: Option<Fallback>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transform: Option<Transform<'a>>,
}

impl<'a> Replay<'a> {
    /// A replay to any Machine of `app`.
    pub fn to_app(app: &'a str) -> Self {
        Self {
            app: Some(app),
            ..Self::default()
        }
    }

    /// A replay inside the current app (set `region`, `instance`, …).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this Machine; no fallback to another (forced).
    pub fn instance(mut self, machine_id: &'a str) -> Self {
        self.instance = Some(machine_id);
        self
    }

    /// This Machine first; another of the app if it is missing or at its hard limit (the
    /// target then sees `fly-preferred-instance-unavailable`).
    pub fn prefer_instance(mut self, machine_id: &'a str) -> Self {
        self.prefer_instance = Some(machine_id);
        self
    }

    /// Regions in order of preference (`iad`, or aliases such as `us`, `any`).
    pub fn regions(mut self, regions: &'a [&'a str]) -> Self {
        self.region = regions;
        self
    }

    /// An opaque token the target receives in `fly-replay-src` (`state=…`).
    pub fn state(mut self, state: &'a str) -> Self {
        self.state = Some(state);
        self
    }

    /// Keep the replaying Machine out of the next load-balancing round.
    pub fn elsewhere(mut self) -> Self {
        self.elsewhere = true;
        self
    }

    /// How long the proxy keeps trying to reach the target (best effort). For autostarting
    /// targets, keep it well above the cold-start time (fly.md §1.6).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(FlyDuration(timeout));
        self
    }

    /// What happens when the target cannot be reached in time.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Rewrites of the request (JSON form only).
    pub fn transform(mut self, transform: Transform<'a>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// The `fly-replay` header value: `app=…;instance=…;region="a,b";state=…;timeout=…;…`.
    /// Fails on values that would break the syntax, and on `transform` (JSON form only).
    pub fn header_value(&self) -> Result<HeaderValue, ReplayError> {
        self.validate()?;
        if self.transform.is_some() {
            return Err(ReplayError::TransformNeedsJson);
        }
        let mut out = String::with_capacity(64);
        let mut field = |key: &str, value: &dyn std::fmt::Display| {
            if !out.is_empty() {
                out.push(';');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{key}={value}");
        };
        if let Some(app) = self.app {
            field("app", &app);
        }
        if let Some(id) = self.instance {
            field("instance", &id);
        }
        if let Some(id) = self.prefer_instance {
            field("prefer_instance", &id);
        }
        match self.region {
            [] => {}
            [one] => field("region", one),
            many => field("region", &format_args!("\"{}\"", many.join(","))),
        }
        if let Some(state) = self.state {
            field("state", &state);
        }
        if self.elsewhere {
            field("elsewhere", &"true");
        }
        if let Some(timeout) = self.timeout {
            field("timeout", &timeout);
        }
        if let Some(fallback) = self.fallback {
            field("fallback", &fallback.as_str());
        }
        HeaderValue::from_str(&out).map_err(|_| ReplayError::BadValue { field: "header" })
    }

    /// The JSON body for `Content-Type: application/vnd.fly.replay+json`.
    pub fn json_body(&self) -> Result<Vec<u8>, ReplayError> {
        let mut out = Vec::with_capacity(128);
        self.write_json(&mut out)?;
        Ok(out)
    }

    /// Appends the JSON body to `out` (reuse a buffer on a hot path).
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), ReplayError> {
        self.validate()?;
        if let Some(transform) = &self.transform {
            validate_transform(transform)?;
        }
        // Serializing borrowed strings and numbers into a Vec cannot fail.
        serde_json::to_writer(out, self).map_err(|_| ReplayError::BadValue { field: "json" })
    }

    fn validate(&self) -> Result<(), ReplayError> {
        let fields = [
            ("app", self.app),
            ("instance", self.instance),
            ("prefer_instance", self.prefer_instance),
            ("state", self.state),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                check_token(field, value)?;
            }
        }
        for region in self.region {
            check_token("region", region)?;
        }
        Ok(())
    }
}

/// A value that survives `key=value;…` without escaping.
fn check_token(field: &'static str, value: &str) -> Result<(), ReplayError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'=' | b'"' | b'\''));
    if ok {
        Ok(())
    } else {
        Err(ReplayError::BadValue { field })
    }
}

fn validate_transform(t: &Transform<'_>) -> Result<(), ReplayError> {
    if let Some(path) = t.path
        && (!path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ReplayError::BadTransform { field: "path" });
    }
    if t.delete_headers
        .iter()
        .any(|name| HeaderName::from_bytes(name.as_bytes()).is_err())
    {
        return Err(ReplayError::BadTransform {
            field: "delete_headers",
        });
    }
    if t.set_headers.iter().any(|h| {
        HeaderName::from_bytes(h.name.as_bytes()).is_err()
            || HeaderValue::from_str(h.value).is_err()
    }) {
        return Err(ReplayError::BadTransform {
            field: "set_headers",
        });
    }
    Ok(())
}

/// The JSON form takes the same comma-separated list the header form quotes.
fn serialize_regions<S: Serializer>(regions: &&[&str], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{}", regions.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_form_uses_semicolons_and_quotes_region_lists() {
        let replay = Replay::to_app("user-abc")
            .instance("3d8d413b29d089")
            .regions(&["iad", "ord", "us"]);
        assert_eq!(
            replay.header_value().unwrap(),
            r#"app=user-abc;instance=3d8d413b29d089;region="iad,ord,us""#
        );
        let single = Replay::new().regions(&["ams"]).elsewhere();
        assert_eq!(single.header_value().unwrap(), "region=ams;elsewhere=true");
    }

    #[test]
    fn timeouts_follow_flys_duration_spelling() {
        let replay = Replay::to_app("w").timeout(Duration::from_millis(800));
        assert_eq!(replay.header_value().unwrap(), "app=w;timeout=800ms");
    }

    #[test]
    fn json_form_carries_every_field_and_the_transform() {
        let set = [SetHeader {
            name: "x-user",
            value: "abc",
        }];
        let replay = Replay::to_app("user-abc")
            .prefer_instance("3d8d")
            .regions(&["sjc", "any"])
            .state("s1")
            .timeout(Duration::from_secs(30))
            .fallback(Fallback::ForceSelf)
            .transform(Transform {
                path: Some("/new/path?param=value"),
                delete_headers: &["cookie"],
                set_headers: &set,
            });
        let json: serde_json::Value = serde_json::from_slice(&replay.json_body().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "app": "user-abc",
                "prefer_instance": "3d8d",
                "region": "sjc,any",
                "state": "s1",
                "timeout": "30s",
                "fallback": "force_self",
                "transform": {
                    "path": "/new/path?param=value",
                    "delete_headers": ["cookie"],
                    "set_headers": [{"name": "x-user", "value": "abc"}]
                }
            })
        );
        assert_eq!(replay.header_value(), Err(ReplayError::TransformNeedsJson));
    }

    #[test]
    fn values_that_break_the_syntax_are_refused() {
        for bad in ["a;b", "a,b", "a=b", "a\"b", "a'b", "a b", ""] {
            let err = Replay::to_app("x").state(bad).header_value().unwrap_err();
            assert_eq!(err, ReplayError::BadValue { field: "state" }, "{bad:?}");
            assert!(Replay::to_app("x").state(bad).json_body().is_err());
        }
        assert!(Replay::to_app("a;instance=evil").header_value().is_err());
    }

    #[test]
    fn bad_transforms_are_refused() {
        let t = Transform {
            path: Some("no-slash"),
            ..Transform::default()
        };
        assert_eq!(
            Replay::to_app("a").transform(t).json_body(),
            Err(ReplayError::BadTransform { field: "path" })
        );
        let set = [SetHeader {
            name: "x",
            value: "a\nb",
        }];
        let t = Transform {
            set_headers: &set,
            ..Transform::default()
        };
        assert!(Replay::to_app("a").transform(t).json_body().is_err());
    }
}
