//! Network events as Docker names them: `create` and `destroy` of a network, `connect` and
//! `disconnect` of a container's endpoint when it is wired (a start, or a connect while it
//! runs) and unwired (an exit, or a disconnect while it runs). The actor is the network's id;
//! the attributes its `name` and `type` (the driver), and the `container` for endpoints.

use std::collections::BTreeMap;

use bollard_stubs::models::EndpointSettings;

use crate::engine::Engine;
use crate::events::EventType;

use super::NetworkDef;

impl Engine {
    /// `create` or `destroy` of a network.
    pub(crate) fn network_event(&self, def: &NetworkDef, action: &str) {
        let attrs = [("name", def.name.as_str()), ("type", def.driver.as_str())];
        self.events
            .emit(EventType::NETWORK, action, &def.id, &attrs);
    }

    /// `connect` or `disconnect` of `container` for each of its endpoints (by network name).
    pub(crate) fn endpoint_events(
        &self,
        container: &str,
        endpoints: &BTreeMap<String, EndpointSettings>,
        action: &str,
    ) {
        for (name, ep) in endpoints {
            let def = ep
                .network_id
                .as_deref()
                .and_then(|id| self.networks.find(id).ok())
                .or_else(|| self.networks.find(name).ok());
            if let Some(def) = def {
                self.endpoint_event(container, &def, action);
            }
        }
    }

    /// `connect` or `disconnect` of `container` on one network.
    pub(crate) fn endpoint_event(&self, container: &str, def: &NetworkDef, action: &str) {
        let attrs = [
            ("container", container),
            ("name", def.name.as_str()),
            ("type", def.driver.as_str()),
        ];
        self.events
            .emit(EventType::NETWORK, action, &def.id, &attrs);
    }
}
