//! Why the exporter could not run: [`RunError`], the errors of every stage.

use crate::capture::CaptureError;
use crate::config::ConfigError;
use crate::encode::EncodeError;
use crate::send::SendError;
use crate::serve::ServeError;
use crate::store::StoreError;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("inventory: {0}")]
    Inventory(#[from] eastwest_core::config::ConfigError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}
