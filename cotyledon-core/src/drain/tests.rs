//! Unit tests of the drain.
