//! Functional-test harness (stub).
