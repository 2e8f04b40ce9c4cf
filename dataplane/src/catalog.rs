//! In-memory copies of clients and contact centers, so token issuance and
//! verification never touch SQL. Kept fresh from the store's change feed.

use std::collections::HashMap;
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

pub struct Catalog {
    clients: ArcSwap<HashMap<String, Arc<Client>>>,
    tenants: ArcSwap<Tenants>,
    seq: AtomicI64,
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
        Ok(Catalog {
            clients: ArcSwap::from_pointee(clients),
            tenants: ArcSwap::from_pointee(tenants),
            seq: AtomicI64::new(seq),
        })
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.load().get(client_id).cloned()
    }

    pub fn contact_center(&self, id: &str) -> Option<Arc<ContactCenter>> {
        self.tenants.load().by_id.get(id).cloned()
    }

    pub fn contact_center_by_domain(&self, domain: &str) -> Option<Arc<ContactCenter>> {
        self.tenants
            .load()
            .by_domain
            .get(&domain.to_lowercase())
            .cloned()
    }

    /// Applies the store's changes since the last call; returns them so other
    /// caches (signing keys) can react.
    pub async fn refresh(&self, db: &Db) -> Result<Vec<Change>> {
        let changes = db.changes_since(self.seq.load(Ordering::Acquire)).await?;
        let Some(last) = changes.last() else {
            return Ok(changes);
        };
        let mut reload_tenants = false;
        for change in &changes {
            match change.entity.as_str() {
                "client" => self.reload_client(db, &change.id).await?,
                "contact_center" | "environment" => reload_tenants = true,
                _ => {}
            }
        }
        if reload_tenants {
            self.tenants
                .store(Arc::new(Tenants::build(db.list_contact_centers().await?)));
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
