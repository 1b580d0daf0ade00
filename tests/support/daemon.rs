//! Moved to `tests/common/daemon.rs` (one home for the test proxy guards):
//! write `use common::daemon;`. This re-export only keeps a test that still
//! says `#[path = "support/daemon.rs"] mod daemon;` compiling.
#![allow(unused_imports)]

pub use crate::common::daemon::*;
