//! Kizuna's sync protocol as a sans-IO state machine: no async runtime, no sockets, no database
//! and no clock reads. Inputs arrive through `handle_*` methods with `now` passed in; outputs are
//! drained through `poll_*` methods.
