//! Kizuna's storage crate: the SS-MIX2 format core (read leniently, write strictly, never alter
//! the original bytes) and, later, the node's durable content-addressed store.

pub mod ssmix2;
pub mod store;
