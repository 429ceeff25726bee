//! Request and response bodies of the Machines API, with Fly's exact JSON field names.
//!
//! Field names and `omitempty` follow fly-go's struct tags (`fly-machines-fields.json`): an
//! optional field is `Option` with `skip_serializing_if`, so a request never carries a field
//! the caller did not set. Responses tolerate unknown fields, and the types a caller sends back
//! after reading them (the Machine config, for a full-config update, fly.md §2.3) keep unknown
//! fields in `extra` so a round trip through this crate does not drop settings it does not
//! model.

mod app;
mod lease;
mod machine;
mod machine_config;
mod secret;
mod volume;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use app::ListAppsResponse;
pub use app::{App, AppOrganization, CreateAppRequest, CreatedApp};
pub(crate) use lease::{AcquireLeaseRequest, LeaseEnvelope};
pub use lease::{Lease, LeaseNonce};
pub use machine::{
    CreateMachineRequest, Machine, MachineEvent, MachineImageRef, MachineState,
    RestartMachineRequest, StartMachineResponse, StopMachineRequest, UpdateMachineRequest,
};
pub use machine_config::{
    Autostop, Concurrency, Extra, GuestConfig, HttpOptions, InitConfig, MachineCheck,
    MachineConfig, MachineHttpHeader, MachinePort, MachineService, Mount, RestartConfig,
    RestartPolicy, StopConfig, TlsOptions,
};
pub use secret::AppSecret;
pub(crate) use secret::{SecretsResponse, UpdateSecretsRequest};
pub use volume::{CreateVolumeRequest, Volume};

/// A Go `time.Duration` on the wire: fly-go writes strings such as `"10s"` and `"1m30s"` and
/// reads either such a string or an integer number of nanoseconds (fly.md §2.3 "checks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FlyDuration(pub Duration);

impl From<Duration> for FlyDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl fmt::Display for FlyDuration {
    /// Whole seconds as `"10s"`, anything finer as milliseconds (`"800ms"`), which Go's
    /// `time.ParseDuration` and Fly's `timeout` fields both accept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

impl Serialize for FlyDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FlyDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Nanos(u64),
            Text(String),
        }
        match Wire::deserialize(d)? {
            Wire::Nanos(n) => Ok(Self(Duration::from_nanos(n))),
            Wire::Text(t) => humantime::parse_duration(&t)
                .map(Self)
                .map_err(|e| serde::de::Error::custom(format!("bad duration {t:?}: {e}"))),
        }
    }
}

/// Serde helpers for string enums that must survive values Fly adds later: known values map to
/// variants, anything else is kept verbatim in an `Other(String)` variant and sent back as is.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}
pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_go_strings_and_accept_nanoseconds() {
        let d: FlyDuration = serde_json::from_str(r#""1m30s""#).unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        let d: FlyDuration = serde_json::from_str("15000000000").unwrap();
        assert_eq!(d.0, Duration::from_secs(15));
        assert_eq!(
            serde_json::to_string(&FlyDuration(Duration::from_secs(10))).unwrap(),
            r#""10s""#
        );
        assert_eq!(
            serde_json::to_string(&FlyDuration(Duration::from_millis(800))).unwrap(),
            r#""800ms""#
        );
    }
}
