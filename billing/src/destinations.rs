//! Destinations: named prefix lists (`Dest_AU_Mobile` = `614`), and the reverse index the
//! debit algorithm walks from the longest prefix of a number down.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The tenant of global destinations. CGrateS's destinations have no tenant: every account
/// rates against the same ones. Here the operator's destinations set without a `Tenant` are
/// global in the same way; each tenant's catalog reads them under its own, and a tenant's own
/// destination of the same ID takes precedence. Customers define their own only. No account
/// SID can take this name.
pub const GLOBAL_TENANT: &str = "*global";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Destinations {
    by_id: BTreeMap<String, BTreeSet<String>>,
    by_prefix: BTreeMap<String, BTreeSet<String>>,
}

impl Destinations {
    /// Sets (replaces) a destination's prefixes.
    pub fn set(&mut self, id: &str, prefixes: impl IntoIterator<Item = String>) {
        self.remove(id);
        let prefixes: BTreeSet<String> = prefixes.into_iter().filter(|p| !p.is_empty()).collect();
        for p in &prefixes {
            self.by_prefix.entry(p.clone()).or_default().insert(id.to_owned());
        }
        self.by_id.insert(id.to_owned(), prefixes);
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            for p in old {
                if let Some(ids) = self.by_prefix.get_mut(&p) {
                    ids.remove(id);
                    if ids.is_empty() {
                        self.by_prefix.remove(&p);
                    }
                }
            }
        }
    }

    pub fn prefixes(&self, id: &str) -> Option<&BTreeSet<String>> {
        self.by_id.get(id)
    }

    /// The destination IDs holding exactly this prefix.
    pub fn ids_with_prefix(&self, prefix: &str) -> impl Iterator<Item = &str> {
        self.by_prefix.get(prefix).into_iter().flatten().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.by_id.iter().map(|(k, v)| (k.as_str(), v))
    }
}
