//! Worker side (stub).

pub(crate) fn request_graceful_exit() {}
