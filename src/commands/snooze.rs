//! `/snooze <finding> <1h|4h|1d|7d|date|until-worse>`: every snooze ends.

use chrono::Duration;

use super::context::{Transition, transition};
use super::{Args, CommandError, Ctx, HandlerFuture, SnoozeSpec, parse};
use crate::findings::FindingError;

/// Snoozes the finding until the end asked for (at most 30 days).
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let finding = ctx.need(args.finding("finding"), "finding")?;
        let spec = ctx.need(args.snooze("for"), "for")?;
        // "Until worse" still ends: after `findings.until_worse_max_days`.
        let cap = Duration::days(i64::from(ctx.app.config.findings.until_worse_max_days));
        let until = spec.end(ctx.now, cap);
        if until > ctx.now + Duration::days(parse::MAX_SNOOZE_DAYS) {
            return Err(CommandError::Finding(FindingError::Invalid(format!(
                "a snooze can last at most {} days; pick an earlier date",
                parse::MAX_SNOOZE_DAYS
            ))));
        }
        let worse = spec == SnoozeSpec::UntilWorse;
        transition(ctx, finding, Transition::Snooze { until, worse }).await
    })
}
