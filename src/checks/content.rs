//! Content checks.

use super::Check;

/// The content checks, in catalogue order.
pub const CHECKS: &[Check] = &[];
