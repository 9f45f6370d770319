//! The catalogue of mobile networks (MCC/MNC) a SIM may attach to, from `data/networks.csv`
//! (MIT, see `data/networks.LICENSE`). Each network's `HW` SID is derived from its MCC and MNC,
//! so it is the same in every instance and every release.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::catalog::NetworkRef;

/// One network of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub sid: String,
    pub mcc: String,
    pub mnc: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub iso_country: String,
    pub friendly_name: String,
}

impl Network {
    pub fn to_ref(&self) -> NetworkRef {
        NetworkRef {
            mcc: self.mcc.clone(),
            mnc: self.mnc.clone(),
            friendly_name: self.friendly_name.clone(),
            iso_country: self.iso_country.clone(),
            sid: self.sid.clone(),
        }
    }
}

pub struct NetworkCatalog {
    networks: Vec<Network>,
    by_sid: HashMap<String, usize>,
    by_plmn: HashMap<(String, String), usize>,
}

impl NetworkCatalog {
    /// Every network, in SID order.
    pub fn all(&self) -> &[Network] {
        &self.networks
    }

    pub fn by_sid(&self, sid: &str) -> Option<&Network> {
        self.by_sid.get(sid).map(|&i| &self.networks[i])
    }

    pub fn by_plmn(&self, mcc: &str, mnc: &str) -> Option<&Network> {
        self.by_plmn.get(&(mcc.to_owned(), mnc.to_owned())).map(|&i| &self.networks[i])
    }
}

/// The stable `HW` SID of a network.
pub fn network_sid(mcc: &str, mnc: &str) -> String {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("simledger-network:{mcc}-{mnc}").as_bytes());
    format!("HW{}", id.simple())
}

static CATALOG: LazyLock<NetworkCatalog> = LazyLock::new(|| {
    #[derive(serde::Deserialize)]
    struct Row {
        mcc: String,
        mnc: String,
        iso_country: String,
        operator: String,
        brand: String,
    }
    let mut reader = csv::Reader::from_reader(include_str!("../data/networks.csv").as_bytes());
    let mut catalog = NetworkCatalog { networks: Vec::new(), by_sid: HashMap::new(), by_plmn: HashMap::new() };
    for row in reader.deserialize::<Row>().flatten() {
        // Test and unassigned codes have no country; a duplicate MCC/MNC keeps its first entry.
        let key = (row.mcc.trim().to_owned(), row.mnc.trim().to_owned());
        if row.iso_country.trim().is_empty()
            || key.0.is_empty()
            || key.1.is_empty()
            || catalog.by_plmn.contains_key(&key)
        {
            continue;
        }
        let friendly_name = if row.brand.trim().is_empty() { row.operator.trim() } else { row.brand.trim() };
        let network = Network {
            sid: network_sid(&key.0, &key.1),
            mcc: key.0.clone(),
            mnc: key.1.clone(),
            iso_country: row.iso_country.trim().to_uppercase(),
            friendly_name: friendly_name.to_owned(),
        };
        catalog.by_plmn.insert(key, 0);
        catalog.networks.push(network);
    }
    // In SID order, so the API can page through it by SID.
    catalog.networks.sort_by(|a, b| a.sid.cmp(&b.sid));
    for (i, n) in catalog.networks.iter().enumerate() {
        catalog.by_sid.insert(n.sid.clone(), i);
        catalog.by_plmn.insert((n.mcc.clone(), n.mnc.clone()), i);
    }
    catalog
});

/// The catalogue, parsed once per process.
pub fn catalog() -> &'static NetworkCatalog {
    &CATALOG
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_real_networks_with_stable_sids() {
        let c = catalog();
        assert!(c.all().len() > 1000, "{}", c.all().len());
        let vodafone_uk = c.by_plmn("234", "15").expect("234/15 is in the list");
        assert_eq!(vodafone_uk.iso_country, "GB");
        assert_eq!(vodafone_uk.sid, network_sid("234", "15"));
        assert_eq!(vodafone_uk.sid.len(), 34);
        assert_eq!(c.by_sid(&vodafone_uk.sid), Some(vodafone_uk));
    }
}
