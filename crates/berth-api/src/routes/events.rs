//! `GET /events?since=&until=&filters=`: Docker's EventMessage, one JSON document per line;
//! past events from `since`, then live ones until `until` (or until the client goes).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_engine::Engine;
use berth_engine::events::EventsOptions;

use super::containers::parse_time;
use crate::error::ApiResult;
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/events", get(events))
}

async fn events(State(engine): State<Arc<Engine>>, params: Params) -> ApiResult<Response> {
    let opts = EventsOptions {
        since: parse_time(&params, "since")?,
        until: parse_time(&params, "until")?,
        filters: params.filters()?,
    };
    let subscription = engine.subscribe_events(opts)?;
    let lines = futures_util::stream::unfold(subscription, |mut s| async move {
        let event = s.next().await?;
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, std::io::Error>(Bytes::from(line)), s))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response())
}
