//! Regional breakout: the core's PGWs, one per region, each with its own address pool, and the
//! selection table the SGW picks a session's PGW from by APN and the fleet's region (as a real
//! MME/SGW resolves a PGW through APN-DNS).
//!
//! A fleet that names a region always gets that region's PGW, or no session at all: a region
//! keeps its fleets' user-plane data, so nothing falls back to another region's PGW, not even
//! while that PGW restarts. A fleet that names none gets the default region (the first of
//! `up --pgw-regions`).

use std::net::Ipv4Addr;

use simledger_eventlog::catalog::BreakoutRegion;
use simledger_eventlog::places;

use crate::pgw::APNS;

/// The PGW node of a region, as events and CDRs name it.
pub fn pgw_node(region: BreakoutRegion) -> String {
    format!("pgw-{region}")
}

/// The region's address pool: a /12 of 10.64.0.0/10 each, so a device's session address says
/// where it broke out.
pub fn ip_pool(region: BreakoutRegion) -> (Ipv4Addr, u32) {
    let base = match region {
        BreakoutRegion::UsEast => Ipv4Addr::new(10, 64, 0, 0),
        BreakoutRegion::EuWest => Ipv4Addr::new(10, 80, 0, 0),
        BreakoutRegion::ApSoutheast => Ipv4Addr::new(10, 96, 0, 0),
    };
    (base, 1 << 20)
}

/// Where the region's PGW stands, `(latitude, longitude)`.
pub fn site(region: BreakoutRegion) -> (f64, f64) {
    match region {
        BreakoutRegion::UsEast => (39.0, -77.5),     // Ashburn
        BreakoutRegion::EuWest => (53.3, -6.3),      // Dublin
        BreakoutRegion::ApSoutheast => (1.3, 103.8), // Singapore
    }
}

/// Radio and backhaul of the visited network, before the user plane leaves the country.
const RADIO_RTT_MS: f64 = 40.0;
/// Light in fibre covers about 200 km per ms.
const FIBRE_KM_PER_MS: f64 = 200.0;
/// Paths are longer than great circles. Fitted to the figures the platform is sold on: a
/// device in Germany gains about 90 ms, one in Singapore about 245 ms, when its data breaks out
/// in the US rather than near it.
const ROUTE_FACTOR: f64 = 1.6;

/// The user-plane round trip of a device in `iso_country` whose session breaks out in `region`:
/// radio plus the fibre there and back. `None` for a country without a known place.
pub fn user_plane_rtt_ms(iso_country: &str, region: BreakoutRegion) -> Option<f64> {
    let km = places::great_circle_km(places::capital(iso_country)?, site(region));
    Some(RADIO_RTT_MS + 2.0 * km / FIBRE_KM_PER_MS * ROUTE_FACTOR)
}

/// The regions whose PGWs exist and which of them this process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakout {
    /// Every region with a PGW; the first is the default for fleets that name none.
    pub regions: Vec<BreakoutRegion>,
    /// The regions whose PGW runs in this process (the others run with `simledger pgw`).
    pub local: Vec<BreakoutRegion>,
}

impl Default for Breakout {
    /// One PGW, in the US, in this process: the platform as it always was.
    fn default() -> Self {
        Self { regions: vec![BreakoutRegion::UsEast], local: vec![BreakoutRegion::UsEast] }
    }
}

impl Breakout {
    /// `regions` (first the default), of which `remote` run elsewhere. Regions are listed once
    /// and remote ones must be among them.
    pub fn new(regions: Vec<BreakoutRegion>, remote: &[BreakoutRegion]) -> Result<Self, String> {
        if regions.is_empty() {
            return Err("at least one PGW region is needed".into());
        }
        for (i, r) in regions.iter().enumerate() {
            if regions[..i].contains(r) {
                return Err(format!("the PGW region {r} is listed twice"));
            }
        }
        if let Some(r) = remote.iter().find(|r| !regions.contains(r)) {
            return Err(format!("the remote PGW region {r} is not among the PGW regions"));
        }
        let local = regions.iter().copied().filter(|r| !remote.contains(r)).collect();
        Ok(Self { regions, local })
    }

    pub fn default_region(&self) -> BreakoutRegion {
        self.regions[0]
    }

    pub fn selection(&self) -> SelectionTable {
        SelectionTable::new(&self.regions)
    }
}

/// Why no PGW serves a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("MISSING_OR_UNKNOWN_APN")]
    UnknownApn,
    #[error("NO_PGW_FOR_BREAKOUT_REGION: no PGW serves {0}")]
    NoPgw(BreakoutRegion),
}

/// (APN, region) → PGW node: every APN the PGWs serve, in every region with a PGW, goes to
/// that region's PGW (all PGWs serve the same APNs).
#[derive(Debug, Clone)]
pub struct SelectionTable {
    /// The regions with a PGW and its node name.
    nodes: Vec<(BreakoutRegion, String)>,
    default: BreakoutRegion,
}

impl SelectionTable {
    fn new(regions: &[BreakoutRegion]) -> Self {
        Self { nodes: regions.iter().map(|&r| (r, pgw_node(r))).collect(), default: regions[0] }
    }

    /// The region and PGW node of a session on `apn` for a fleet breaking out in `region`
    /// (`None`: the default region).
    pub fn select(&self, apn: &str, region: Option<BreakoutRegion>) -> Result<(BreakoutRegion, &str), SelectionError> {
        if !APNS.contains(&apn) {
            return Err(SelectionError::UnknownApn);
        }
        let region = region.unwrap_or(self.default);
        self.nodes
            .iter()
            .find(|(r, _)| *r == region)
            .map(|(r, node)| (*r, node.as_str()))
            .ok_or(SelectionError::NoPgw(region))
    }

    pub fn default_region(&self) -> BreakoutRegion {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BreakoutRegion::*;

    #[test]
    fn the_model_gives_the_figures_the_platform_is_sold_on() {
        let added = |country: &str, near: BreakoutRegion| {
            user_plane_rtt_ms(country, UsEast).unwrap() - user_plane_rtt_ms(country, near).unwrap()
        };
        let germany = added("DE", EuWest);
        let singapore = added("SG", ApSoutheast);
        assert!((80.0..100.0).contains(&germany), "Germany via the US adds {germany} ms");
        assert!((230.0..260.0).contains(&singapore), "Singapore via the US adds {singapore} ms");
        assert!(user_plane_rtt_ms("XX", EuWest).is_none());
    }

    #[test]
    fn a_named_region_gets_its_own_pgw_or_none_and_no_region_gets_the_default() {
        let table = Breakout::new(vec![UsEast, EuWest], &[]).unwrap().selection();
        assert_eq!(table.select("super", Some(EuWest)), Ok((EuWest, "pgw-eu-west")));
        assert_eq!(table.select("ota.super", None), Ok((UsEast, "pgw-us-east")));
        assert_eq!(table.select("super", Some(ApSoutheast)), Err(SelectionError::NoPgw(ApSoutheast)));
        assert_eq!(table.select("internet.example", Some(EuWest)), Err(SelectionError::UnknownApn));
    }

    #[test]
    fn pools_are_disjoint_and_configuration_is_checked() {
        for a in BreakoutRegion::ALL {
            for b in BreakoutRegion::ALL.into_iter().filter(|b| *b != a) {
                let ((pa, size), (pb, _)) = (ip_pool(a), ip_pool(b));
                let (pa, pb) = (u32::from(pa), u32::from(pb));
                assert!(pb >= pa + size || pa >= pb + size, "{a} and {b} overlap");
            }
        }
        assert!(Breakout::new(vec![], &[]).is_err());
        assert!(Breakout::new(vec![EuWest, EuWest], &[]).is_err());
        assert!(Breakout::new(vec![EuWest], &[UsEast]).is_err());
        let b = Breakout::new(vec![EuWest, UsEast], &[EuWest]).unwrap();
        assert_eq!((b.default_region(), b.local), (EuWest, vec![UsEast]));
    }
}
