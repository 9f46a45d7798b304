//! The engine's errors, each of a kind the API maps to Docker's HTTP status code.

/// What went wrong, classified the way Docker's API reports it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: no such container, image, ...
    #[error("{0}")]
    NotFound(String),
    /// 409: a name in use, removing a running container, ...
    #[error("{0}")]
    Conflict(String),
    /// 400: a request the engine cannot act on as given.
    #[error("{0}")]
    InvalidArgument(String),
    /// 401: a registry refused the credentials (`docker login`).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: an operation Docker forbids (removing a predefined network).
    #[error("{0}")]
    Forbidden(String),
    /// 304: start of a running container, stop of a stopped one.
    #[error("{0}")]
    NotModified(String),
    /// 500: the engine or the system failed.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn internal(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Internal(format!("{context}: {e}"))
    }
}

impl From<berth_image::Error> for Error {
    fn from(e: berth_image::Error) -> Error {
        match e {
            berth_image::Error::ImageNotFound(_) => Error::NotFound(e.to_string()),
            berth_image::Error::AmbiguousImage(_) => Error::Conflict(e.to_string()),
            berth_image::Error::InvalidReference { .. }
            | berth_image::Error::InvalidDigest { .. } => Error::InvalidArgument(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}
