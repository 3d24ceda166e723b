//! The lookup table behind [`super::Apps`]: the running applications by
//! name, app token, client id, owner id and portal login, all hash-map (or
//! ordered-map) lookups so a request costs the same with a hundred
//! applications as with one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::App;

/// The running applications, indexed by every key a request or a portal
/// login presents; one table so the indexes change together.
#[derive(Default)]
pub(super) struct Table {
    pub(super) by_name: BTreeMap<String, Arc<App>>,
    pub(super) by_token: HashMap<String, Arc<App>>,
    pub(super) by_client: HashMap<String, Arc<App>>,
    pub(super) by_id: HashMap<String, Arc<App>>,
    /// By portal token and by portal session (path segment).
    pub(super) by_portal: HashMap<String, Arc<App>>,
    pub(super) by_session: HashMap<String, Arc<App>>,
}

impl Table {
    pub(super) fn insert(&mut self, app: Arc<App>) {
        self.by_token.insert(app.app_token.clone(), app.clone());
        self.by_client.insert(app.client_id.clone(), app.clone());
        self.by_id.insert(app.id.clone(), app.clone());
        if let Some(link) = &app.portal {
            self.by_portal.insert(link.token.clone(), app.clone());
            self.by_session.insert(link.session.clone(), app.clone());
        }
        self.by_name.insert(app.name.clone(), app);
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<Arc<App>> {
        let app = self.by_name.remove(name)?;
        self.by_token.remove(&app.app_token);
        self.by_client.remove(&app.client_id);
        self.by_id.remove(&app.id);
        if let Some(link) = &app.portal {
            self.by_portal.remove(&link.token);
            self.by_session.remove(&link.session);
        }
        Some(app)
    }
}
