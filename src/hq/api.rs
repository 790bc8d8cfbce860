//! The HTTP API (see `tillpoint_core::headoffice` for its table): axum on
//! the caller's tokio runtime. One PostgreSQL connection serves every
//! request in turn; ingest takes a row lock per till, so a second
//! connection (or a pool) would change no result, only the rate.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tillpoint_core::headoffice::{ApiError, EnrolRequest, JournalBatch, MAX_BATCH};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::db::HqError;
use crate::ingest;
use crate::tills::{self, TillId};

/// What the handlers share.
pub struct HqState {
    db: Mutex<Client>,
    /// Woken after each ingest that stored entries, so the projector books
    /// them at once rather than on its next round.
    pub ingested: tokio::sync::Notify,
}

impl HqState {
    pub fn new(client: Client) -> Arc<HqState> {
        Arc::new(HqState {
            db: Mutex::new(client),
            ingested: tokio::sync::Notify::new(),
        })
    }
}

/// The API's routes under `/api/v1/`.
pub fn router(state: Arc<HqState>) -> Router {
    Router::new()
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/journal/head", get(journal_head))
        .route("/api/v1/journal", post(journal))
        // A full batch of large entries, with room to spare.
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

/// Serves the API on `listener` until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<HqState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

fn error(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(ApiError { error: text.into() })).into_response()
}

fn failed(e: HqError) -> Response {
    match e {
        HqError::Refused(why) => error(StatusCode::FORBIDDEN, why),
        HqError::Db(e) => {
            tracing::error!(error = %e, "PostgreSQL");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "head office cannot reach its database; the till keeps its entries and tries again",
            )
        }
    }
}

async fn enrol(State(s): State<Arc<HqState>>, Json(req): Json<EnrolRequest>) -> Response {
    let mut db = s.db.lock().await;
    match tills::enrol(&mut db, &req.code).await {
        Ok(e) => Json(e).into_response(),
        Err(e) => failed(e),
    }
}

/// The till behind the request's bearer credential.
async fn till(db: &Client, headers: &HeaderMap) -> Result<TillId, Response> {
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "no till credential"))?;
    match tills::authenticate(db, credential).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(error(
            StatusCode::UNAUTHORIZED,
            "this till's credential is unknown or revoked: enrol it again",
        )),
        Err(e) => Err(failed(e)),
    }
}

async fn journal_head(State(s): State<Arc<HqState>>, headers: HeaderMap) -> Response {
    let db = s.db.lock().await;
    let t = match till(&db, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match ingest::head(&db, &t).await {
        Ok(h) => Json(h).into_response(),
        Err(e) => failed(e),
    }
}

async fn journal(
    State(s): State<Arc<HqState>>,
    headers: HeaderMap,
    Json(batch): Json<JournalBatch>,
) -> Response {
    if batch.entries.len() > MAX_BATCH {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_BATCH} entries in a batch"),
        );
    }
    let mut db = s.db.lock().await;
    let t = match till(&db, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let result = ingest::ingest(&mut db, &t, &batch.entries).await;
    if matches!(&result, Ok(r) if r.accepted > 0) {
        s.ingested.notify_one();
    }
    match result {
        Ok(r) if r.refused.is_some() => (StatusCode::CONFLICT, Json(r)).into_response(),
        Ok(r) => Json(r).into_response(),
        Err(e) => failed(e),
    }
}
