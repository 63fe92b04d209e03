//! Kizuna's sync protocol as a sans-IO state machine: no async runtime, no sockets, no database
//! and no clock reads. Inputs arrive through `handle_*` methods with `now` passed in; outputs are
//! drained through `poll_*` methods.
//!
//! Items are reconciled with range-based set reconciliation (RBSR, as in negentropy): peers compare
//! fingerprints of key ranges, split ranges that differ, and exchange id lists only for small ranges,
//! so the cost follows the size of the difference rather than the size of the set. Large sets
//! first try a rateless IBLT phase over id prefixes, which costs ~54 bytes per difference in a
//! few round trips and falls back to RBSR when it cannot finish (see `DESIGN.md`).
//!
//! - [`item`]: item ids, the `(timestamp_ms, id)` order, additive range fingerprints.
//! - [`store`]: the narrow [`ItemSet`] trait the protocol reads through, and [`MemItemSet`].
//! - [`riblt`]: rateless IBLT coded symbols, encoder and peeling decoder.
//! - [`wire`]: the versioned, bounded message format.
//! - [`session`]: the sans-IO [`Session`] state machine and its polling order.
//! - [`meta`]: item metadata (kind, SS-MIX2 data type, facility, scopes) and [`ItemSource`].
//! - [`scope`]: [`ScopePolicy`], the hello that agrees on scopes, and [`ScopedSync`], which
//!   reconciles each agreed scope with a nested [`Session`].
//! - [`priority`]: the bounded [`TransferQueue`] (emergency summary first, documents last).
//! - [`transfer`]: the sans-IO [`Transfer`] of item bodies in verified, resumable chunks.
//! - [`doc`]: Automerge documents whose changes travel as items.
//! - [`limits`]: the bounds of the layers above, each with its reason.

pub mod doc;
pub mod item;
pub mod limits;
pub mod meta;
pub mod priority;
pub mod riblt;
pub mod scope;
pub mod session;
pub mod store;
pub mod transfer;
pub mod wire;

pub use doc::{Applied, ChangeItem, Doc, DocError, DocId};
pub use item::{Accumulator, Fingerprint, ItemId, Key};
pub use meta::{DataType, ItemKind, ItemMeta, ItemSource, MemItemSource, Priority, ScopeTag};
pub use priority::TransferQueue;
pub use scope::{AgreedScope, AllowList, ScopePolicy, ScopedEvent, ScopedSync};
pub use session::{Config, Event, FailReason, Millis, Session};
pub use store::{ItemSet, MemItemSet, StoreError};
pub use transfer::{ChunkStore, MemChunkStore, Transfer, TransferEvent};
pub use wire::{Message, WireError};
