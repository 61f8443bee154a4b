//! Reports: numbers from the findings history for the people who sell and run
//! the service (renewal report today; monthly report, portfolio and SLA next).
//! Each report is a pure function over findings, so its figures are tested
//! against hand-built histories; the handlers in `commands/` fetch and show.

pub mod renewal;
