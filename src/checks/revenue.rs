//! Revenue checks.

use super::Check;

/// The revenue checks, in catalogue order.
pub const CHECKS: &[Check] = &[];
