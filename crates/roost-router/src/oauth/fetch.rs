//! An HTTP fetcher for URLs chosen by strangers (Client ID Metadata Documents), safe against
//! server-side request forgery (MCP security best practices §SSRF, CIMD §6).
//!
//! * Only `https` URLs, without user info.
//! * Every host name is resolved by `VettingResolver`, which drops private, loopback,
//!   link-local, unique-local, CGNAT, unspecified, multicast and documentation addresses, and
//!   reqwest connects only to the addresses it returns: there is no second DNS look-up an
//!   attacker could answer differently (DNS rebinding). IP-literal hosts never reach a resolver,
//!   so they are checked before the request.
//! * Redirects are followed by hand, at most [`MAX_HOPS`], each hop checked like the first.
//! * One overall timeout, and a size cap enforced while reading (not trusting
//!   `Content-Length`).
//!
//! Tests cannot serve https on a public address, so [`AddressPolicy`] can admit loopback and
//! plain http; that switch exists only with the `testing` cargo feature, so a production build
//! cannot turn it on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header;
use url::Url;

/// Most redirects followed for one fetch.
pub const MAX_HOPS: usize = 3;

/// Why a fetch failed, in words the consent/error page can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an acceptable URL.
    #[error("{url} cannot be fetched: {why}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        why: &'static str,
    },
    /// The host resolves only to addresses the router refuses to contact.
    #[error(
        "{host} resolves to a private or reserved address ({addr}); the router only fetches from public addresses"
    )]
    PrivateAddress {
        /// The host.
        host: String,
        /// One refused address.
        addr: IpAddr,
    },
    /// DNS found nothing.
    #[error("{host} could not be resolved")]
    Unresolvable {
        /// The host.
        host: String,
    },
    /// Too many redirects.
    #[error("{url} redirected more than {MAX_HOPS} times")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is larger than the cap.
    #[error("{url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// Timeout or connection failure.
    #[error("{url} could not be fetched: {why}")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong.
        why: String,
    },
}

/// Which addresses and schemes may be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_loopback: bool,
}

impl AddressPolicy {
    /// Production: public unicast addresses over https only.
    pub const PUBLIC_ONLY: AddressPolicy = AddressPolicy {
        allow_loopback: false,
    };

    /// Tests only: additionally loopback addresses and plain http (to a test server). Every
    /// other private range stays refused.
    #[cfg(feature = "testing")]
    pub const fn allow_loopback_for_tests() -> AddressPolicy {
        AddressPolicy {
            allow_loopback: true,
        }
    }

    /// Whether `ip` may be contacted.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        is_public(ip)
    }

    fn allows_scheme(&self, scheme: &str) -> bool {
        scheme == "https" || (self.allow_loopback && scheme == "http")
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (may reach IPv4 private space)
                || (s[0] == 0x2002) // 6to4 (embeds an arbitrary IPv4)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// reqwest's resolver for the fetcher: resolves with the system resolver, then keeps only the
/// addresses the policy allows. Refusing here means reqwest never connects anywhere else.
struct VettingResolver {
    policy: AddressPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(FetchError);

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(Refused(FetchError::Unresolvable { host: host.clone() }))
                })?
                .collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let error = match found.first() {
                    Some(addr) => FetchError::PrivateAddress {
                        host,
                        addr: addr.ip(),
                    },
                    None => FetchError::Unresolvable { host },
                };
                return Err(Box::new(Refused(error)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The SSRF-safe fetcher. Cheap to clone.
#[derive(Clone)]
pub struct SafeFetcher {
    http: reqwest::Client,
    policy: AddressPolicy,
    timeout: Duration,
    max_bytes: usize,
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, if given (and no `no-store`/`no-cache`: then `Some(0)`).
    pub max_age: Option<Duration>,
}

impl SafeFetcher {
    /// A fetcher with `policy`, an overall `timeout` and a body cap of `max_bytes`.
    pub fn new(policy: AddressPolicy, timeout: Duration, max_bytes: usize) -> Self {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(VettingResolver { policy }))
            .redirect(reqwest::redirect::Policy::none())
            // An operator's HTTP(S)_PROXY would resolve names itself, outside the policy.
            .no_proxy()
            .connect_timeout(timeout)
            .user_agent(concat!(
                "roost-router/",
                env!("CARGO_PKG_VERSION"),
                " (client metadata fetcher)"
            ))
            .build()
            .expect("a reqwest client with static settings builds");
        SafeFetcher {
            http,
            policy,
            timeout,
            max_bytes,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// GETs `url` as JSON, following at most [`MAX_HOPS`] checked redirects.
    pub async fn get_json(&self, url: &str) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.timeout, self.get_inner(url))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Network {
                    url: url.to_owned(),
                    why: "timed out".into(),
                })
            })
    }

    async fn get_inner(&self, first: &str) -> Result<Fetched, FetchError> {
        let mut url = Url::parse(first).map_err(|_| FetchError::Url {
            url: first.to_owned(),
            why: "not a URL",
        })?;
        for _hop in 0..=MAX_HOPS {
            self.check_url(&url)?;
            let response = self
                .http
                .get(url.clone())
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| network_error(url.as_str(), &e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Status {
                        url: url.to_string(),
                        status: status.as_u16(),
                    })?;
                url = url.join(location).map_err(|_| FetchError::Url {
                    url: location.to_owned(),
                    why: "the redirect target is not a URL",
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let max_age = cache_max_age(response.headers());
            let body = self.read_capped(url.as_str(), response).await?;
            return Ok(Fetched { body, max_age });
        }
        Err(FetchError::TooManyRedirects {
            url: first.to_owned(),
        })
    }

    /// Scheme, user info, and literal IP addresses (which no resolver sees).
    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        let refuse = |why| {
            Err(FetchError::Url {
                url: url.to_string(),
                why,
            })
        };
        if !self.policy.allows_scheme(url.scheme()) {
            return refuse("only https URLs are fetched");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("URLs with user info are not fetched");
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return refuse("the URL has no host"),
        };
        if self.policy.allows(ip) {
            Ok(())
        } else {
            Err(FetchError::PrivateAddress {
                host: url.host_str().unwrap_or_default().to_owned(),
                addr: ip,
            })
        }
    }

    async fn read_capped(
        &self,
        url: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, FetchError> {
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: self.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| network_error(url, &e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error as a [`FetchError`], surfacing the resolver's refusal when that was it.
fn network_error(url: &str, error: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(Refused(refusal)) = e.downcast_ref::<Refused>() {
            return refusal.clone();
        }
        source = e.source();
    }
    let why = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    FetchError::Network {
        url: url.to_owned(),
        why,
    }
}

/// `max-age` from `Cache-Control`; `no-store`/`no-cache` count as zero.
fn cache_max_age(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            max_age = seconds
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "ff02::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip), "{ip} counted as public");
            assert!(!AddressPolicy::PUBLIC_ONLY.allows(ip), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_control_max_age_is_read() {
        let mut h = header::HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        assert_eq!(cache_max_age(&h), Some(Duration::from_secs(600)));
        h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(cache_max_age(&h), Some(Duration::ZERO));
    }

    #[tokio::test]
    async fn literal_private_addresses_and_plain_http_are_refused_before_connecting() {
        let f = SafeFetcher::new(AddressPolicy::PUBLIC_ONLY, Duration::from_secs(2), 1024);
        let err = f
            .get_json("https://10.0.0.1/client.json")
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{err}");
        let err = f
            .get_json("https://[fd00::1]/client.json")
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{err}");
        let err = f
            .get_json("http://example.com/client.json")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("only https"), "{err}");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
        let f = SafeFetcher::new(AddressPolicy::PUBLIC_ONLY, Duration::from_secs(2), 1024);
        let err = f
            .get_json("https://localhost:9/client.json")
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{err}");
        assert!(err.to_string().contains("private or reserved"), "{err}");
    }
}
