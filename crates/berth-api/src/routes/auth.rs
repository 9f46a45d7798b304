//! `POST /auth` (`docker login`): the engine checks the credentials against the registry.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use berth_engine::{Engine, LoginRequest};
use serde_json::{Value, json};

use super::{join_error, json_body};
use crate::error::ApiResult;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/auth", post(login))
}

/// 200 `{"Status":"Login Succeeded"}`, or 401 with the registry's refusal.
async fn login(State(engine): State<Arc<Engine>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: LoginRequest = json_body(&body)?;
    tokio::task::spawn_blocking(move || engine.login(&req))
        .await
        .map_err(join_error)??;
    Ok(Json(
        json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}
