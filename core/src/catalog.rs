//! In-memory copies of clients, contact centers and allowed CORS origins, so
//! token issuance, verification and CORS checks never touch SQL. Kept fresh
//! from the store's change feed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_store::model::{Change, Client, ContactCenter};
use tollgate_store::{Db, Result};

#[derive(Default)]
struct Tenants {
    by_id: HashMap<String, Arc<ContactCenter>>,
    by_domain: HashMap<String, Arc<ContactCenter>>,
}

impl Tenants {
    fn build(list: Vec<ContactCenter>) -> Tenants {
        let mut t = Tenants::default();
        for cc in list {
            let cc = Arc::new(cc);
            for d in &cc.domains {
                t.by_domain.insert(d.to_lowercase(), cc.clone());
            }
            t.by_id.insert(cc.id.clone(), cc);
        }
        t
    }
}

/// The allowed origins: every enabled contact center's `cors-origins`
/// setting and its rows of the `cors` table, in normalized form.
async fn load_origins(db: &Db, tenants: &Tenants) -> Result<HashSet<String>> {
    let enabled = |cc: &str| tenants.by_id.get(cc).is_some_and(|cc| cc.enabled);
    let mut origins = HashSet::new();
    for setting in db.list_settings_named(crate::origins::SETTING).await? {
        if enabled(&setting.contact_center_id) {
            // Values written around the API (by hand, by the operator) may
            // hold bad items; skip those rather than lose the good ones.
            origins.extend(
                crate::origins::split_list(&setting.value)
                    .filter_map(|o| crate::origins::normalize(o).ok()),
            );
        }
    }
    for row in db.list_cors_origins(None).await? {
        if enabled(&row.contact_center_id) {
            if let Ok(o) = crate::origins::normalize(&row.origin) {
                origins.insert(o);
            }
        }
    }
    Ok(origins)
}

pub struct Catalog {
    clients: ArcSwap<HashMap<String, Arc<Client>>>,
    tenants: ArcSwap<Tenants>,
    origins: ArcSwap<HashSet<String>>,
    seq: AtomicI64,
    /// One refresh at a time: two overlapping ones could store an older
    /// snapshot after a newer one while the feed position moved past both.
    refreshing: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub async fn load(db: &Db) -> Result<Catalog> {
        // Read the feed position first: a change racing the load is replayed, never missed.
        let seq = db.latest_change_seq().await?;
        let clients = db
            .list_clients()
            .await?
            .into_iter()
            .map(|c| (c.client_id.clone(), Arc::new(c)))
            .collect();
        let tenants = Tenants::build(db.list_contact_centers().await?);
        let origins = load_origins(db, &tenants).await?;
        Ok(Catalog {
            clients: ArcSwap::from_pointee(clients),
            tenants: ArcSwap::from_pointee(tenants),
            origins: ArcSwap::from_pointee(origins),
            seq: AtomicI64::new(seq),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.load().get(client_id).cloned()
    }

    /// Whether any client registered this redirect URI.
    pub fn redirect_uri_registered(&self, uri: &str) -> bool {
        self.clients
            .load()
            .values()
            .any(|c| c.redirect_uris.iter().any(|r| r == uri))
    }

    /// Whether a client of the contact center registered a redirect URI
    /// with this origin (`scheme://host[:port]`).
    pub fn client_origin_for(&self, contact_center_id: &str, origin: &str) -> bool {
        self.clients.load().values().any(|c| {
            (c.contact_center_ids.is_empty()
                || c.contact_center_ids
                    .iter()
                    .any(|id| id == contact_center_id))
                && c.redirect_uris
                    .iter()
                    .any(|r| crate::origins::origin_of(r).as_deref() == Some(origin))
        })
    }

    pub fn contact_center(&self, id: &str) -> Option<Arc<ContactCenter>> {
        self.tenants.load().by_id.get(id).cloned()
    }

    pub fn contact_centers(&self) -> Vec<Arc<ContactCenter>> {
        self.tenants.load().by_id.values().cloned().collect()
    }

    pub fn contact_center_by_domain(&self, domain: &str) -> Option<Arc<ContactCenter>> {
        self.tenants
            .load()
            .by_domain
            .get(&domain.to_lowercase())
            .cloned()
    }

    /// Whether a browser `Origin` may call the Authentication API.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origins = self.origins.load();
        origins.contains(origin)
            || crate::origins::normalize(origin).is_ok_and(|o| origins.contains(&o))
    }

    /// Applies the store's changes since the last call; returns them so other
    /// caches (signing keys) can react.
    pub async fn refresh(&self, db: &Db) -> Result<Vec<Change>> {
        let _one_at_a_time = self.refreshing.lock().await;
        let changes = db.changes_since(self.seq.load(Ordering::Acquire)).await?;
        let Some(last) = changes.last() else {
            return Ok(changes);
        };
        let (mut reload_tenants, mut reload_origins) = (false, false);
        for change in &changes {
            match change.entity.as_str() {
                "client" => self.reload_client(db, &change.id).await?,
                // Enabling or disabling a contact center changes its origins too.
                "contact_center" | "environment" => {
                    reload_tenants = true;
                    reload_origins = true;
                }
                "setting" | "cors" => reload_origins = true,
                _ => {}
            }
        }
        if reload_tenants {
            self.tenants
                .store(Arc::new(Tenants::build(db.list_contact_centers().await?)));
        }
        if reload_origins {
            let origins = load_origins(db, &self.tenants.load()).await?;
            self.origins.store(Arc::new(origins));
        }
        self.seq.fetch_max(last.seq, Ordering::AcqRel);
        Ok(changes)
    }

    /// Re-reads one client (after this process changed it, or a change event).
    pub async fn reload_client(&self, db: &Db, client_id: &str) -> Result<()> {
        let fresh = db.get_client(client_id).await?;
        self.clients.rcu(|map| {
            let mut map = HashMap::clone(map);
            match &fresh {
                Some(c) => map.insert(client_id.to_string(), Arc::new(c.clone())),
                None => map.remove(client_id),
            };
            map
        });
        Ok(())
    }
}
