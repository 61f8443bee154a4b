//! `/help [command]`: usage, from the same declarations the parser reads.

use super::{Args, Ctx, HandlerFuture, Reply, spec};
use crate::app::info;
use crate::message::{Accent, Message};

/// Answers privately with the command list or one command's help.
pub fn run<'a>(_ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        Ok(Reply::private(
            match spec::help_text(args.command("command").as_deref()) {
                Ok(t) => info(t),
                Err(e) => Message::text(Accent::Error, e.to_string()),
            },
        ))
    })
}
