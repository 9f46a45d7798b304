//! Docker's event stream (`GET /events`): every operation emits one [`EventMessage`] with a
//! one-line call (`self.events.emit(EventType::CONTAINER, "start", &id, &attrs)`); the last
//! [`RING`] are kept in memory so that `since` replays them, and subscribers get the live ones
//! through a broadcast channel. Emitting and subscribing take the same lock, so a subscriber
//! sees every event exactly once, replayed or live.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard_stubs::models::{EventActor, EventMessage, EventMessageScopeEnum};
use tokio::sync::broadcast;

use crate::api::Filters;
use crate::error::{Error, Result};

pub use bollard_stubs::models::EventMessageTypeEnum as EventType;

/// How many past events are kept for `since`: Docker's number. An event holds a dozen small
/// allocations, so a ring four times as long was most of an idle daemon's heap after a busy spell.
pub const RING: usize = 256;

/// How far a live subscriber may fall behind before it misses events, as in Docker.
const LIVE_BUFFER: usize = 1024;

/// The engine's event log.
pub struct Events {
    ring: Mutex<VecDeque<Arc<EventMessage>>>,
    live: broadcast::Sender<Arc<EventMessage>>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }
}

/// `GET /events?since=&until=&filters=`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// `type`, `container`, `image`, `event`, `label`, `volume`, `network`.
    pub filters: Filters,
}

/// What a subscriber reads: past events, then live ones, filtered, up to `until`.
pub struct Subscription {
    past: VecDeque<Arc<EventMessage>>,
    live: broadcast::Receiver<Arc<EventMessage>>,
    opts: EventsOptions,
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

impl Events {
    /// Records and broadcasts one event. `attrs` are the actor's attributes (`name`, `image`,
    /// `exitCode`, ...).
    pub fn emit(&self, typ: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) {
        let now = nanos(SystemTime::now());
        let message = Arc::new(EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(now / 1_000_000_000),
            time_nano: Some(now),
        });
        let mut ring = self.ring.lock().expect("events lock");
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(message.clone());
        // Nobody listening is fine.
        let _ = self.live.send(message);
    }

    /// A subscription; checks the filters first (an unknown key is a 400).
    pub fn subscribe(&self, opts: EventsOptions) -> Result<Subscription> {
        for key in opts.filters.keys() {
            if ![
                "type",
                "container",
                "image",
                "event",
                "label",
                "volume",
                "network",
            ]
            .contains(&key.as_str())
            {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let ring = self.ring.lock().expect("events lock");
        let live = self.live.subscribe();
        let past = match opts.since {
            Some(since) => {
                let since = nanos(since);
                ring.iter()
                    .filter(|e| e.time_nano.unwrap_or(0) >= since)
                    .cloned()
                    .collect()
            }
            None => VecDeque::new(),
        };
        Ok(Subscription { past, live, opts })
    }
}

impl Subscription {
    /// The next event that passes the filters; `None` once `until` is reached.
    pub async fn next(&mut self) -> Option<EventMessage> {
        let until = self.opts.until.map(nanos);
        let before_until = |e: &EventMessage| until.is_none_or(|u| e.time_nano.unwrap_or(0) <= u);
        while let Some(e) = self.past.pop_front() {
            if !before_until(&e) {
                return None;
            }
            if matches(&e, &self.opts.filters) {
                return Some(Arc::unwrap_or_clone(e));
            }
        }
        loop {
            let wait = until.map(|u| {
                Duration::from_nanos(u.saturating_sub(nanos(SystemTime::now())).max(0) as u64)
            });
            let received = match wait {
                Some(d) => match tokio::time::timeout(d, self.live.recv()).await {
                    Ok(r) => r,
                    Err(_) => return None,
                },
                None => self.live.recv().await,
            };
            match received {
                Ok(e) if !before_until(&e) => return None,
                Ok(e) if matches(&e, &self.opts.filters) => return Some(Arc::unwrap_or_clone(e)),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// `name:tag` without its tag (`busybox:latest` → `busybox`); digests and ports kept.
fn strip_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !name.contains('@') => repo,
        _ => name,
    }
}

/// Docker's rules: keys AND, values of one key OR; `container` and `image` match an actor's
/// id or name, `volume` and `network` their own events' actor id (prefix) or name, `event` an action (or its part before `:`), `label` the attributes.
fn matches(e: &EventMessage, filters: &Filters) -> bool {
    let empty = HashMap::new();
    let actor = e.actor.as_ref();
    let id = actor.and_then(|a| a.id.as_deref()).unwrap_or_default();
    let attrs = actor.and_then(|a| a.attributes.as_ref()).unwrap_or(&empty);
    let attr = |k: &str| attrs.get(k).map(String::as_str).unwrap_or_default();
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = e.action.as_deref().unwrap_or_default();
    filters.iter().all(|(key, values)| {
        values.iter().any(|v| match key.as_str() {
            "type" => *v == typ,
            "container" => id.starts_with(v.as_str()) || attr("name") == v,
            "image" => {
                let name = if typ == "image" {
                    attr("name")
                } else {
                    attr("image")
                };
                [id, name, strip_tag(id), strip_tag(name)].contains(&v.as_str())
            }
            "event" => action == v || action.split(':').next() == Some(v.as_str()),
            "volume" | "network" => {
                typ == *key && (id.starts_with(v.as_str()) || attr("name") == v)
            }
            "label" => match v.split_once('=') {
                Some((k, want)) => attrs.get(k).is_some_and(|have| have == want),
                None => attrs.contains_key(v),
            },
            _ => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::new();
        for (k, v) in pairs {
            f.entry(k.to_string()).or_default().push(v.to_string());
        }
        f
    }

    #[tokio::test]
    async fn since_replays_and_filters_apply() {
        let events = Events::default();
        let t0 = SystemTime::now();
        events.emit(
            EventType::CONTAINER,
            "create",
            "abc123",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("tier", "front"),
            ],
        );
        events.emit(
            EventType::IMAGE,
            "tag",
            "sha256:1",
            &[("name", "busybox:v2")],
        );
        events.emit(
            EventType::CONTAINER,
            "exec_create: sh -c true",
            "abc123",
            &[("name", "web")],
        );
        let opts = |f: &[(&str, &str)]| EventsOptions {
            since: Some(t0),
            until: Some(SystemTime::now()),
            filters: filters(f),
        };
        let collect = |f: &[(&str, &str)]| {
            let mut s = events.subscribe(opts(f)).unwrap();
            async move {
                let mut actions = Vec::new();
                while let Some(e) = s.next().await {
                    actions.push(e.action.unwrap());
                }
                actions
            }
        };
        assert_eq!(collect(&[]).await.len(), 3);
        assert_eq!(collect(&[("type", "image")]).await, ["tag"]);
        assert_eq!(collect(&[("container", "web")]).await.len(), 2);
        assert_eq!(collect(&[("container", "abc")]).await.len(), 2);
        assert_eq!(collect(&[("image", "busybox")]).await.len(), 2);
        assert_eq!(collect(&[("event", "exec_create")]).await.len(), 1);
        assert_eq!(collect(&[("label", "tier=front")]).await, ["create"]);
        assert_eq!(
            collect(&[("event", "create"), ("event", "tag")]).await,
            ["create", "tag"]
        );
        assert!(events.subscribe(opts(&[("bogus", "x")])).is_err());
    }

    #[tokio::test]
    async fn live_events_arrive_and_the_ring_is_bounded() {
        let events = Events::default();
        let mut s = events.subscribe(EventsOptions::default()).unwrap();
        events.emit(EventType::CONTAINER, "start", "x", &[]);
        assert_eq!(s.next().await.unwrap().action.as_deref(), Some("start"));
        for _ in 0..RING + 5 {
            events.emit(EventType::CONTAINER, "kill", "x", &[]);
        }
        assert_eq!(events.ring.lock().unwrap().len(), RING);
    }
}
