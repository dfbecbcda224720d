//! The ids of services and workers: a leaf module every other one may use.

use std::fmt;

/// The id of a worker within its service: `0..workers`. A respawned worker gets the
/// id of the worker it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(usize);

impl WorkerId {
    /// Wraps a raw worker index (for tests of code that takes a `WorkerId`; the
    /// manager hands out the real ones).
    ///
    /// ```
    /// let id = cotyledon::WorkerId::new(3);
    /// assert_eq!(id.to_string(), "3");
    /// ```
    pub const fn new(id: usize) -> Self {
        WorkerId(id)
    }

    /// The worker index, `0..workers`.
    ///
    /// ```
    /// # let id = cotyledon::WorkerId::new(1);
    /// let port = 8000 + id.get();
    /// # assert_eq!(port, 8001);
    /// ```
    pub const fn get(self) -> usize {
        self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The id [`ServiceManager::add`](crate::ServiceManager::add) returns for a
/// registered service: a random (v4) UUID, as in cotyledon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(uuid::Uuid);

impl ServiceId {
    pub(crate) fn new_random() -> Self {
        ServiceId(uuid::Uuid::new_v4())
    }

    /// The 128 bits of the UUID behind this id (its `Display` is the UUID's
    /// usual hyphenated form). The `uuid` crate stays out of the public API, so
    /// that its major versions are not ours.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Light;
    /// # impl cotyledon::Service for Light {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let id = manager.add(|_| Light, 1)?;
    /// // A version 4 (random) UUID.
    /// assert_eq!((id.as_u128() >> 76) & 0xf, 4);
    /// assert_eq!(id.to_string().len(), 36);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub const fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
