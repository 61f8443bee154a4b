//! Reports: numbers from the findings history for the people who sell and run
//! the service (renewal, monthly client report, SLA; the portfolio is a
//! command over open findings), their charts and the files they travel in.
//! Each report is a pure function over findings, so its figures are tested
//! against hand-built histories; the handlers in `commands/` fetch and show.

pub mod access;
pub mod chart;
pub mod files;
pub mod monthly;
pub mod renewal;
pub mod sla;
