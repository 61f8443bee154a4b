//! Reports built from a client's findings history, for people rather than chat threads.

pub mod chart;
