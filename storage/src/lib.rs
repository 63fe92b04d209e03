//! Kizuna's storage crate: the SS-MIX2 format core (read leniently, write strictly, never alter
//! the original bytes), the node's durable content-addressed store, and the synthetic region
//! generator.

pub mod ssmix2;
pub mod store;
pub mod synth;
