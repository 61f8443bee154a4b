//! `/help [command]`: usage, from the same declarations the parser reads,
//! and the person's own role so they know what they may do.

use super::{Args, Ctx, HandlerFuture, Reply, Role, spec};
use crate::app::info;
use crate::message::{Accent, Message};

/// Answers privately with the command list or one command's help.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        Ok(Reply::private(
            match spec::help_text(args.command("command").as_deref()) {
                Ok(t) => info(format!("{t}\n{}", role_line(ctx.role))),
                Err(e) => Message::text(Accent::Error, e.to_string()),
            },
        ))
    })
}

/// What the person's role lets them do, in one line.
fn role_line(role: Role) -> String {
    let can = match role {
        Role::Viewer => {
            "you can read findings and notes; changing anything needs the am role or higher, so ask an admin"
        }
        Role::Am => "you can act on findings, scan and add notes",
        Role::Lead => "you can act on findings and see across clients (portfolio, SLA, audit)",
        Role::Admin => "you can do everything, including changing where findings go",
    };
    format!("Your role: {}: {can}.", role.as_str())
}
