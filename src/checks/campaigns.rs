//! Checks: campaigns and content.

use super::Check;

/// The checks of this family.
pub const CHECKS: &[Check] = &[];
