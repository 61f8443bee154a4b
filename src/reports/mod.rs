//! Reports: numbers from the findings history for the people who sell and run
//! the service (renewal report and portfolio today; monthly report and SLA
//! next), and their charts. Each report is a pure function over findings, so
//! its figures are tested against hand-built histories; the handlers in
//! `commands/` fetch and show.

pub mod chart;
pub mod renewal;
pub mod sla;
pub mod files;
