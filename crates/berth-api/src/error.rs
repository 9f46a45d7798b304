//! Errors: the ones `serve` returns, and the ones a request gets back as Docker's
//! `{"message": "..."}` JSON with Docker's status code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why [`crate::serve`] could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// An error answered to the client: a status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn page_not_found() -> ApiError {
        ApiError::not_found("page not found")
    }
}

impl From<berth_engine::Error> for ApiError {
    fn from(e: berth_engine::Error) -> ApiError {
        use berth_engine::Error as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            E::NotModified(_) => StatusCode::NOT_MODIFIED,
            E::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            // A 304 has no body.
            return self.status.into_response();
        }
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_docker_status_codes() {
        use berth_engine::Error as E;
        let cases = [
            (E::NotFound("x".into()), 404),
            (E::Conflict("x".into()), 409),
            (E::InvalidArgument("x".into()), 400),
            (E::NotModified("x".into()), 304),
            (E::Internal("x".into()), 500),
            (E::Forbidden("x".into()), 403),
        ];
        for (e, code) in cases {
            assert_eq!(ApiError::from(e).status.as_u16(), code);
        }
    }
}
