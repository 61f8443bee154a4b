//! Compliance checks.

use super::Check;

/// The compliance checks, in catalogue order.
pub const CHECKS: &[Check] = &[];
