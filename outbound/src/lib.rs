//! Every URL simledger calls on a customer's behalf (webhook sinks, callbacks, `*http_post`)
//! goes through one [`DestinationPolicy`]:
//!
//! - only `http` and `https`, with a host;
//! - no loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast or
//!   unspecified address, unless the operator allows private destinations
//!   (`--allow-private-destinations`), checked when the URL is given *and* at every connection
//!   (the client's resolver drops such addresses, so a name that later resolves to one, DNS
//!   rebinding, reaches nothing);
//! - redirects are never followed: a receiver cannot bounce a request to an address the policy
//!   refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use url::{Host, Url};

/// Why a destination was refused. The text is safe to show the customer who gave the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("is not a valid URL")]
    Malformed,
    #[error("must be an http or https URL")]
    Scheme,
    #[error("must name a host")]
    NoHost,
    #[error("resolves to a private, loopback or link-local address, which this deployment does not call")]
    Private,
}

/// What the operator allows outbound calls to reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allow_private: bool,
}

impl DestinationPolicy {
    /// Public addresses only: the default for a deployment.
    pub const PUBLIC_ONLY: Self = Self { allow_private: false };
    /// Any address: for tests, the simulated fleet and a single-host deployment
    /// (`--allow-private-destinations`).
    pub const ALLOW_PRIVATE: Self = Self { allow_private: true };

    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Parses `url` and checks what can be checked without the network: scheme, host, and an
    /// address given literally.
    pub fn parse(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::Malformed)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Scheme);
        }
        match parsed.host() {
            None => return Err(OutboundError::NoHost),
            Some(url::Host::Domain("")) => return Err(OutboundError::NoHost),
            Some(url::Host::Ipv4(ip)) if !self.permits(IpAddr::V4(ip)) => return Err(OutboundError::Private),
            Some(url::Host::Ipv6(ip)) if !self.permits(IpAddr::V6(ip)) => return Err(OutboundError::Private),
            _ => {}
        }
        Ok(parsed)
    }

    /// [`Self::parse`], then resolves the host: every address it resolves to must be allowed.
    /// Used when a customer gives a URL, so a refused one is refused at once with a clear error.
    /// A name that does not resolve is let through: the connection-time check still applies.
    pub async fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = self.parse(url)?;
        if self.allow_private {
            return Ok(parsed);
        }
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            // A name that does not resolve now reaches nothing now; the client's resolver
            // checks it again at every connection, so it is accepted rather than refused for a
            // passing DNS failure.
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
                Ok(found) => found.collect(),
                Err(_) => Vec::new(),
            };
            if addrs.iter().any(|a| !self.permits(a.ip())) {
                return Err(OutboundError::Private);
            }
        }
        Ok(parsed)
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// An HTTP client that enforces this policy on every connection and follows no redirect.
    pub fn client(&self, timeout: Duration) -> OutboundClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver { policy: *self }))
            .build()
            .expect("an HTTP client with a custom resolver builds");
        OutboundClient { http, policy: *self }
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // carrier-grade NAT 100.64.0.0/10
                || (a == 100 && (64..128).contains(&b))
                // benchmarking 198.18.0.0/15 and reserved 240.0.0.0/4
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // unique local fc00::/7 and link-local fe80::/10
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // NAT64 64:ff9b::/96 can reach IPv4 private space
                || (first == 0x0064 && v6.segments()[1] == 0xff9b))
        }
    }
}

/// Resolves names for the outbound client and drops every address the policy refuses; a name
/// left with none fails to connect.
struct PolicyResolver {
    policy: DestinationPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(OutboundError::Private) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client bound to a [`DestinationPolicy`].
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: DestinationPolicy,
}

impl OutboundClient {
    /// A request to `url`, refused before any connection when the URL itself is not allowed
    /// (an address literal never reaches the resolver).
    pub fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.policy.parse(url)?;
        Ok(self.http.request(method, url))
    }

    pub fn policy(&self) -> DestinationPolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: DestinationPolicy = DestinationPolicy::PUBLIC_ONLY;

    #[test]
    fn internal_addresses_are_refused_by_default() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.8.9.1:8080/",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            assert_eq!(PUBLIC.parse(url), Err(OutboundError::Private), "{url}");
        }
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert_eq!(PUBLIC.parse("file:///etc/passwd"), Err(OutboundError::Scheme));
        assert_eq!(PUBLIC.parse("gopher://example.com/"), Err(OutboundError::Scheme));
        assert_eq!(PUBLIC.parse("not a url"), Err(OutboundError::Malformed));
        assert_eq!(PUBLIC.parse("http://"), Err(OutboundError::Malformed));
    }

    #[test]
    fn public_addresses_pass_and_the_switch_allows_private_ones() {
        assert!(PUBLIC.parse("https://203.0.114.7/hook").is_ok());
        assert!(PUBLIC.parse("https://[2a00:1450::1]/").is_ok());
        assert!(DestinationPolicy::ALLOW_PRIVATE.parse("http://127.0.0.1:9/hook").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        assert_eq!(PUBLIC.check("http://localhost:8080/hook").await, Err(OutboundError::Private));
        assert!(DestinationPolicy::ALLOW_PRIVATE.check("http://localhost:8080/hook").await.is_ok());
    }

    #[tokio::test]
    async fn the_client_does_not_connect_to_a_refused_address() {
        // A listener on loopback that would answer: the policy must stop the request first.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = PUBLIC.client(Duration::from_secs(2));
        let literal = client.request(reqwest::Method::POST, &format!("http://127.0.0.1:{port}/"));
        assert_eq!(literal.err(), Some(OutboundError::Private));
        let by_name = client.request(reqwest::Method::POST, &format!("http://localhost:{port}/")).unwrap();
        assert!(by_name.send().await.is_err(), "a name resolving to loopback must not connect");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let reply = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n";
            s.write_all(reply.as_bytes()).await.unwrap();
        });
        let client = DestinationPolicy::ALLOW_PRIVATE.client(Duration::from_secs(2));
        let r = client.request(reqwest::Method::GET, &format!("http://127.0.0.1:{port}/")).unwrap().send().await;
        assert_eq!(r.unwrap().status(), reqwest::StatusCode::FOUND);
    }
}
