//! Command declarations from `commands/`.
