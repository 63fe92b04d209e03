//! Cross-crate and end-to-end tests live in `tests/tests/`; reusable harnesses live here.
//!
//! - [`sim`]: the seeded deterministic simulation of nodes syncing over a hostile network.

pub mod sim;
