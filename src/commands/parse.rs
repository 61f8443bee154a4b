//! Text to `Command`.
