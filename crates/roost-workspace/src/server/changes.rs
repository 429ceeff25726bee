//! File-change notifications: which clients hear that a workspace file changed.
//!
//! The file tools are the only writers of the workspace, so the tool adapters know exactly when
//! a file changes and publish a [`Change`] here; no filesystem watcher is needed. Two audiences:
//!
//! - legacy (≤ 2025-11-25) sessions: `resources/subscribe` records the session's peer per URI;
//!   every initialized session also hears `notifications/resources/list_changed`;
//! - 2026-07-28 clients: an open `subscriptions/listen` request receives the broadcast and rmcp's
//!   subscription sink drops what its filter did not ask for.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use rmcp::{Peer, RoleServer, model::ResourceUpdatedNotificationParam};
use tokio::sync::broadcast;

/// One change to the workspace, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The contents of this resource URI changed.
    Updated(String),
    /// Files were created or deleted: the resource list changed.
    ListChanged,
}

/// The URIs one legacy session subscribed to with `resources/subscribe`.
pub type SessionSubscriptions = Arc<Mutex<HashSet<String>>>;

/// A legacy session's peer and what it subscribed to.
type LegacySession = (Peer<RoleServer>, SessionSubscriptions);

/// Fan-out of [`Change`]s to subscribed clients.
#[derive(Clone)]
pub struct ChangeHub {
    sender: broadcast::Sender<Change>,
    sessions: Arc<Mutex<Vec<LegacySession>>>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeHub {
    /// An empty hub.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(256);
        Self {
            sender,
            sessions: Arc::default(),
        }
    }

    /// Receive every change from now on (2026 `subscriptions/listen`).
    pub fn subscribe_all(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }

    /// Remember an initialized legacy session: it hears `list_changed`, and `updated` for the
    /// URIs in its subscription set.
    pub fn add_session(&self, peer: Peer<RoleServer>, subscriptions: SessionSubscriptions) {
        let mut sessions = self.lock();
        sessions.retain(|(p, _)| !p.is_transport_closed());
        sessions.push((peer, subscriptions));
    }

    /// Publish a change to everyone who asked for it.
    pub fn publish(&self, change: Change) {
        // No receiver is fine: nobody is listening right now.
        let _ = self.sender.send(change.clone());
        let targets: Vec<Peer<RoleServer>> = self
            .lock()
            .iter()
            .filter(|(peer, subscribed)| {
                !peer.is_transport_closed()
                    && match &change {
                        Change::Updated(uri) => subscribed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .contains(uri),
                        Change::ListChanged => true,
                    }
            })
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in targets {
            let change = change.clone();
            tokio::spawn(async move {
                let sent = match change {
                    Change::Updated(uri) => {
                        peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await
                    }
                    Change::ListChanged => peer.notify_resource_list_changed().await,
                };
                if let Err(error) = sent {
                    tracing::debug!(%error, "could not notify a legacy session");
                }
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LegacySession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}
