//! Which addresses a tool may reach (docs/security.md, outbound step 6): only global ones,
//! plus what the gateway's own configuration allows. The host resolves names
//! itself and hands back only checked addresses, so nothing resolves twice
//! (DNS rebinding).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Host;

/// IPv4 ranges that are not globally reachable (IANA special-purpose
/// registry), as (network, prefix length).
const NON_GLOBAL_V4: [(Ipv4Addr, u8); 15] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // RFC 1918
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // RFC 1918
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // RFC 1918
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, broadcast
];

/// IPv6 ranges inside global unicast 2000::/3 that are still not globally
/// reachable. Everything outside 2000::/3 is refused anyway, except the
/// forms that embed an IPv4 address, which are checked by that address.
const NON_GLOBAL_V6: [(Ipv6Addr, u8); 5] = [
    // Teredo, benchmarking, ORCHID and other IETF assignments: a tunnel
    // endpoint or a test range, never a plain upstream.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    // 6to4 is deprecated (RFC 7526) and its embedded IPv4 address would be
    // reached through whatever relay is nearest; refused whole.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
    // Local-use NAT64 (RFC 8215): operators pick where the IPv4 address sits
    // inside it, so it cannot be checked by that address.
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
];

/// Where the global unicast space starts and how long its prefix is.
const GLOBAL_UNICAST_V6: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// The well-known NAT64 prefix (RFC 6052): the IPv4 address is the low 32 bits.
const NAT64_WELL_KNOWN: (Ipv6Addr, u8) = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// False for every non-global address (docs/security.md, outbound step 6).
///
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, which covers
/// `::` and `::1`) and well-known NAT64 (`64:ff9b::a.b.c.d`) addresses are
/// judged by the IPv4 address they carry.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_global_v4(v4),
            None => {
                in_v6(v6, GLOBAL_UNICAST_V6) && !NON_GLOBAL_V6.iter().any(|&net| in_v6(v6, net))
            }
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    !NON_GLOBAL_V4.iter().any(|&net| in_v4(ip, net))
}

/// The IPv4 address inside a mapped, compatible or well-known NAT64 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let high = ip.to_bits() >> 32;
    let compatible = high == 0;
    let mapped = high == 0xffff;
    if compatible || mapped || in_v6(ip, NAT64_WELL_KNOWN) {
        // Truncation keeps exactly the low 32 bits, where the address sits.
        Some(Ipv4Addr::from_bits(ip.to_bits() as u32))
    } else {
        None
    }
}

/// Network mask for a prefix length (0 ..= 32).
fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Network mask for a prefix length (0 ..= 128).
fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    ip.to_bits() & mask_v4(len) == net.to_bits() & mask_v4(len)
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    ip.to_bits() & mask_v6(len) == net.to_bits() & mask_v6(len)
}

/// Private addresses and networks the gateway's own configuration lets tools
/// reach (the admin's authority, never a manifest's), e.g. a mock upstream on
/// 127.0.0.1 in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateAllowList {
    nets: Vec<(IpAddr, u8)>,
}

/// Why an allow-list entry was refused; each variant names the entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// Not an IP address.
    #[error("private allow-list entry {entry:?} is not an IP address or CIDR network")]
    InvalidAddress {
        /// The entry as given.
        entry: String,
    },
    /// A prefix length that is not a number or too long for the family.
    #[error("private allow-list entry {entry:?} has an invalid prefix length")]
    InvalidPrefixLength {
        /// The entry as given.
        entry: String,
    },
    /// Bits set beyond the prefix (`10.0.0.1/8`): probably a typo, so refused
    /// rather than silently widened.
    #[error("private allow-list entry {entry:?} has host bits set beyond its prefix")]
    HostBitsSet {
        /// The entry as given.
        entry: String,
    },
}

impl PrivateAllowList {
    /// Nothing beyond global addresses.
    pub fn none() -> Self {
        PrivateAllowList::default()
    }

    /// Parse `"127.0.0.1"`, `"10.0.0.0/8"`, `"::1"`, `"fd00::/8"`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, AddrError> {
        let nets = items
            .iter()
            .map(|item| parse_net(item.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(PrivateAllowList { nets })
    }

    /// Whether a tool may connect to `ip`: it is global, or listed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // A mapped address reaches the IPv4 host, so it is listed as that.
        let ip = ip.to_canonical();
        is_global(ip)
            || self.nets.iter().any(|&(net, len)| match (ip, net) {
                (IpAddr::V4(ip), IpAddr::V4(net)) => in_v4(ip, (net, len)),
                (IpAddr::V6(ip), IpAddr::V6(net)) => in_v6(ip, (net, len)),
                _ => false,
            })
    }
}

fn parse_net(entry: &str) -> Result<(IpAddr, u8), AddrError> {
    let (addr, len) = match entry.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| AddrError::InvalidAddress {
        entry: entry.to_owned(),
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(len) => len
            .parse::<u8>()
            .ok()
            .filter(|&len| len <= max)
            .ok_or_else(|| AddrError::InvalidPrefixLength {
                entry: entry.to_owned(),
            })?,
    };
    let host_bits_clear = match ip {
        IpAddr::V4(v4) => v4.to_bits() & !mask_v4(len) == 0,
        IpAddr::V6(v6) => v6.to_bits() & !mask_v6(len) == 0,
    };
    if !host_bits_clear {
        return Err(AddrError::HostBitsSet {
            entry: entry.to_owned(),
        });
    }
    // Requests are compared in canonical form, so a mapped entry becomes IPv4.
    Ok(match ip {
        IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), len - 96),
            None => (ip, len),
        },
        _ => (ip, len),
    })
}

/// Why resolving a request's host gave nothing to connect to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The lookup failed or found no address.
    #[error("name resolution failed: {0}")]
    Dns(String),
    /// Every address found is non-global and not allow-listed.
    #[error("every address of the host is private or otherwise non-global")]
    PrivateAddress,
    /// The lookup did not finish in time.
    #[error("name resolution timed out")]
    Timeout,
}

/// Resolve in the host (`tokio::net::lookup_host`, under `timeout`), drop
/// every address the allow list does not permit, and return the rest, in
/// resolver order without duplicates; IP hosts are checked without a lookup.
/// Callers connect only to the returned addresses (no second lookup).
pub async fn resolve_checked(
    host: &Host<String>,
    port: u16,
    allow: &PrivateAllowList,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ResolveError> {
    match host {
        Host::Ipv4(ip) => check_literal(IpAddr::V4(*ip), port, allow),
        Host::Ipv6(ip) => check_literal(IpAddr::V6(*ip), port, allow),
        Host::Domain(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            checked_lookup(lookup, allow, timeout).await
        }
    }
}

/// The lookup is a parameter so the timeout can be tested without a network.
async fn checked_lookup<I>(
    lookup: impl Future<Output = io::Result<I>>,
    allow: &PrivateAllowList,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ResolveError>
where
    I: Iterator<Item = SocketAddr>,
{
    let found = match tokio::time::timeout(timeout, lookup).await {
        Err(_elapsed) => return Err(ResolveError::Timeout),
        Ok(Err(e)) => return Err(ResolveError::Dns(e.to_string())),
        Ok(Ok(addrs)) => addrs,
    };
    keep_permitted(found, allow)
}

fn check_literal(
    ip: IpAddr,
    port: u16,
    allow: &PrivateAllowList,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if allow.permits(ip) {
        Ok(vec![SocketAddr::new(ip, port)])
    } else {
        Err(ResolveError::PrivateAddress)
    }
}

fn keep_permitted(
    found: impl IntoIterator<Item = SocketAddr>,
    allow: &PrivateAllowList,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let mut any = false;
    let mut kept: Vec<SocketAddr> = Vec::new();
    for addr in found {
        any = true;
        if allow.permits(addr.ip()) && !kept.contains(&addr) {
            kept.push(addr);
        }
    }
    match (any, kept.is_empty()) {
        (false, _) => Err(ResolveError::Dns("no addresses found".to_owned())),
        (true, true) => Err(ResolveError::PrivateAddress),
        (true, false) => Ok(kept),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn global_or_not() {
        let non_global = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:1ff:ffff::1",
            "2002:c000:0204::1",
            "2002:0808:0808::1",
            "3fff::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::808:808",
            "4000::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::169.254.169.254",
        ];
        for addr in non_global {
            assert!(!is_global(ip(addr)), "{addr} must not be global");
        }
        let global = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2003::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
        ];
        for addr in global {
            assert!(is_global(ip(addr)), "{addr} must be global");
        }
    }

    #[test]
    fn allow_list_parse_errors() {
        let cases = [
            (
                "localhost",
                AddrError::InvalidAddress {
                    entry: "localhost".into(),
                },
            ),
            ("", AddrError::InvalidAddress { entry: "".into() }),
            (
                " 127.0.0.1",
                AddrError::InvalidAddress {
                    entry: " 127.0.0.1".into(),
                },
            ),
            (
                "10.0.0/8",
                AddrError::InvalidAddress {
                    entry: "10.0.0/8".into(),
                },
            ),
            (
                "[::1]",
                AddrError::InvalidAddress {
                    entry: "[::1]".into(),
                },
            ),
            (
                "10.0.0.0/33",
                AddrError::InvalidPrefixLength {
                    entry: "10.0.0.0/33".into(),
                },
            ),
            (
                "10.0.0.0/",
                AddrError::InvalidPrefixLength {
                    entry: "10.0.0.0/".into(),
                },
            ),
            (
                "10.0.0.0/-1",
                AddrError::InvalidPrefixLength {
                    entry: "10.0.0.0/-1".into(),
                },
            ),
            (
                "10.0.0.0/8/8",
                AddrError::InvalidPrefixLength {
                    entry: "10.0.0.0/8/8".into(),
                },
            ),
            (
                "fd00::/129",
                AddrError::InvalidPrefixLength {
                    entry: "fd00::/129".into(),
                },
            ),
            (
                "10.0.0.1/8",
                AddrError::HostBitsSet {
                    entry: "10.0.0.1/8".into(),
                },
            ),
            (
                "fd00::1/8",
                AddrError::HostBitsSet {
                    entry: "fd00::1/8".into(),
                },
            ),
        ];
        for (entry, want) in cases {
            // A bad entry among good ones is still named.
            let items = ["127.0.0.1", entry];
            assert_eq!(PrivateAllowList::parse(&items), Err(want), "{entry:?}");
        }
        let ok =
            PrivateAllowList::parse(&["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0"]);
        assert!(ok.is_ok());
        let none: [&str; 0] = [];
        assert_eq!(PrivateAllowList::parse(&none), Ok(PrivateAllowList::none()));
    }

    #[test]
    fn permits() {
        let allow = PrivateAllowList::parse(&[
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            "fd00::/8",
            "::ffff:192.168.1.0/120",
        ])
        .unwrap();
        let cases = [
            ("8.8.8.8", true, true),
            ("2606:4700::1", true, true),
            ("127.0.0.1", false, true),
            ("127.0.0.2", false, false),
            ("::ffff:127.0.0.1", false, true),
            ("10.1.2.3", false, true),
            ("11.0.0.1", true, true),
            ("172.16.0.1", false, false),
            ("169.254.169.254", false, false),
            ("::1", false, true),
            ("::2", false, false),
            ("fd12::1", false, true),
            ("fc00::1", false, false),
            ("fe80::1", false, false),
            ("192.168.1.7", false, true),
            ("::ffff:192.168.1.7", false, true),
            ("192.168.2.7", false, false),
        ];
        let none = PrivateAllowList::none();
        for (addr, by_default, listed) in cases {
            assert_eq!(none.permits(ip(addr)), by_default, "{addr} without list");
            assert_eq!(allow.permits(ip(addr)), listed, "{addr} with list");
        }
    }

    fn literal(s: &str) -> Host<String> {
        Host::parse(s).unwrap()
    }

    /// Never reached: literals are not looked up and `localhost` comes from
    /// the hosts file; it only bounds a broken resolver.
    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn private_literals_are_refused() {
        let private = [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "[::1]",
            "[::]",
            "[fc00::1]",
            "[fd00:ec2::254]",
            "[fe80::1]",
            "[ff02::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:169.254.169.254]",
            "[::127.0.0.1]",
            "[64:ff9b::10.0.0.1]",
            "[2002:7f00:1::1]",
            // WHATWG spellings of 127.0.0.1, as `url` hands them over.
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
        ];
        let none = PrivateAllowList::none();
        for host in private {
            let got = resolve_checked(&literal(host), 443, &none, WAIT).await;
            assert_eq!(got, Err(ResolveError::PrivateAddress), "{host}");
        }
    }

    #[tokio::test]
    async fn literals_are_not_looked_up() {
        let none = PrivateAllowList::none();
        let got = resolve_checked(&literal("8.8.8.8"), 443, &none, WAIT).await;
        assert_eq!(got, Ok(vec!["8.8.8.8:443".parse().unwrap()]));
        let got = resolve_checked(&literal("[2606:4700::1]"), 8443, &none, WAIT).await;
        assert_eq!(got, Ok(vec!["[2606:4700::1]:8443".parse().unwrap()]));

        let allow = PrivateAllowList::parse(&["127.0.0.1"]).unwrap();
        let got = resolve_checked(&literal("127.0.0.1"), 8080, &allow, WAIT).await;
        assert_eq!(got, Ok(vec!["127.0.0.1:8080".parse().unwrap()]));
        let got = resolve_checked(&literal("127.0.0.2"), 8080, &allow, WAIT).await;
        assert_eq!(got, Err(ResolveError::PrivateAddress));
    }

    #[tokio::test]
    async fn localhost_is_resolved_then_refused() {
        let host = Host::Domain("localhost".to_owned());
        let none = PrivateAllowList::none();
        let got = resolve_checked(&host, 8080, &none, WAIT).await;
        assert_eq!(got, Err(ResolveError::PrivateAddress));

        // Only the listed address survives, whatever else localhost maps to.
        let allow = PrivateAllowList::parse(&["127.0.0.1"]).unwrap();
        let got = resolve_checked(&host, 8080, &allow, WAIT).await;
        assert_eq!(got, Ok(vec!["127.0.0.1:8080".parse().unwrap()]));
    }

    #[tokio::test]
    async fn lookups_are_bounded_and_filtered() {
        let none = PrivateAllowList::none();
        let never = std::future::pending::<io::Result<std::vec::IntoIter<SocketAddr>>>();
        let got = checked_lookup(never, &none, Duration::from_millis(10)).await;
        assert_eq!(got, Err(ResolveError::Timeout));

        let failed = async { Err::<std::vec::IntoIter<SocketAddr>, _>(io::Error::other("nx")) };
        let got = checked_lookup(failed, &none, WAIT).await;
        assert!(matches!(got, Err(ResolveError::Dns(_))), "{got:?}");

        let empty = async { Ok(Vec::<SocketAddr>::new().into_iter()) };
        let got = checked_lookup(empty, &none, WAIT).await;
        assert!(matches!(got, Err(ResolveError::Dns(_))), "{got:?}");

        // A rebinding-style answer: private addresses are dropped, the
        // global one kept once, in order.
        let mixed: Vec<SocketAddr> = ["127.0.0.1:443", "8.8.8.8:443", "[::1]:443", "8.8.8.8:443"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got = checked_lookup(async { Ok(mixed.into_iter()) }, &none, WAIT).await;
        assert_eq!(got, Ok(vec!["8.8.8.8:443".parse().unwrap()]));
    }
}
