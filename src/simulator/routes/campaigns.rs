//! Campaigns and campaign messages. At revision 2026-07-15 a campaign's
//! attributes are flat (`name`, `status`, `audiences`, `send_strategy`...); at
//! 2026-10-15 they are `created_at`, `updated_at` and a `definition` object
//! holding the rest (see `API-NOTES.md`). Lists are filtered, sorted and paged
//! in the 2026-07-15 shape, then reshaped, so both revisions page alike.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Ctx, collection, ident, single};
use crate::simulator::content::CAMPAIGN_TEMPLATES;
use crate::simulator::hash::{base62, hash, str_hash};
use crate::simulator::jsonapi::{ApiError, Cond, Revision, ts};
use crate::simulator::portfolio::CampaignDef;

/// Channels `messages.channel` may name.
const CHANNELS: [&str; 3] = ["email", "sms", "mobile_push"];

fn opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(ts(t)))
}

/// The id of a campaign's one message.
pub(super) fn message_id(c: &CampaignDef) -> String {
    base62(hash(&[str_hash(&c.id), 3]), 26)
}

/// Tags on a campaign, by what its name says it is.
fn campaign_tags(ctx: &Ctx, c: &CampaignDef) -> Vec<Value> {
    let wanted = if c.name.starts_with("Weekly Newsletter") {
        "Newsletter"
    } else if c.name.contains("Sale") || c.name.contains("Offer") {
        "Promo"
    } else {
        return Vec::new();
    };
    ctx.brand
        .tags()
        .iter()
        .filter(|t| t.name == wanted)
        .map(|t| ident("tag", &t.id))
        .collect()
}

fn send_strategy(c: &CampaignDef) -> Value {
    match c.send_time {
        Some(t) => {
            json!({ "method": "static", "datetime": ts(t), "options": { "is_local": false } })
        }
        // A draft has no send time yet: Klaviyo reports it as an immediate send.
        None => json!({ "method": "immediate" }),
    }
}

fn tracking(c: &CampaignDef) -> Value {
    if c.channel == "email" {
        json!({"add_tracking_params": false, "is_tracking_clicks": true, "is_tracking_opens": true})
    } else {
        json!({"add_tracking_params": false, "is_tracking_clicks": true})
    }
}

/// A campaign in the 2026-07-15 shape.
pub(super) fn campaign_res(ctx: &Ctx, c: &CampaignDef) -> Value {
    json!({
        "type": "campaign",
        "id": c.id,
        "attributes": {
            "name": c.name,
            "status": c.status,
            "archived": false,
            "audiences": { "included": [c.audience], "excluded": [] },
            "send_options": { "use_smart_sending": true },
            "tracking_options": tracking(c),
            "send_strategy": send_strategy(c),
            "created_at": ts(c.created_at),
            "scheduled_at": opt(c.scheduled_at),
            "updated_at": ts(c.updated_at),
            "send_time": opt(c.send_time),
        },
        "relationships": {
            "campaign-messages": ctx.rel_data("campaigns", &c.id, "campaign-messages",
                json!([ident("campaign-message", &message_id(c))])),
            "tags": ctx.rel_data("campaigns", &c.id, "tags", json!(campaign_tags(ctx, c))),
        },
        "links": { "self": ctx.link(&format!("campaigns/{}", c.id)) },
    })
}

/// Moves a 2026-07-15 campaign's attributes into the 2026-10-15 shape:
/// `created_at`, `updated_at` and a `definition` holding the rest.
fn reshape_2026_10_15(res: &mut Value) {
    let Some(a) = res.get("attributes").cloned() else {
        return;
    };
    res["attributes"] = json!({
        "created_at": a["created_at"],
        "updated_at": a["updated_at"],
        "definition": {
            "name": a["name"],
            "builder": "drag_and_drop",
            "archived": a["archived"],
            "color": null,
            "description": null,
            "status": a["status"],
            "audiences": a["audiences"],
            "send_settings": {
                "send_strategy": a["send_strategy"],
                "send_options": a["send_options"],
                "tracking_options": a["tracking_options"],
            },
            "scheduled_at": a["scheduled_at"],
            "send_time": a["send_time"],
        },
    });
}

/// Reshapes every campaign in `doc["data"]` for the request's revision.
fn for_revision(ctx: &Ctx, mut doc: Value) -> Value {
    if ctx.rev >= Revision::V2026_10_15 {
        match doc.get_mut("data") {
            Some(Value::Array(items)) => items.iter_mut().for_each(reshape_2026_10_15),
            Some(item @ Value::Object(_)) => reshape_2026_10_15(item),
            _ => {}
        }
    }
    doc
}

/// Every campaign of every channel as it stands now.
fn all_campaigns(ctx: &Ctx) -> Vec<CampaignDef> {
    ["email", "sms"]
        .iter()
        .flat_map(|ch| ctx.brand.campaigns(ch, ctx.now))
        .collect()
}

/// `GET /api/campaigns` (the query checks already required a filter).
pub(super) fn campaigns(ctx: &Ctx) -> Result<Value, ApiError> {
    let need = || {
        ApiError::bad_param(
            "filter",
            "A channel filter is required: add `filter=equals(messages.channel,'email')` (or 'sms', 'mobile_push').",
        )
    };
    let (channel, rest): (Vec<Cond>, Vec<Cond>) = ctx
        .q
        .filter
        .iter()
        .cloned()
        .partition(|c| c.field == "messages.channel");
    let channel = match channel.as_slice() {
        [c] => c.value.text(),
        _ => return Err(need()),
    };
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(ApiError::bad_param(
            "filter",
            format!("`{channel}` is not a channel: use 'email', 'sms' or 'mobile_push'."),
        ));
    }
    let items = ctx
        .brand
        .campaigns(&channel, ctx.now)
        .iter()
        .map(|c| campaign_res(ctx, c))
        .collect();
    Ok(for_revision(ctx, collection(ctx, items, &rest)?))
}

/// `GET /api/campaigns/{id}`.
pub(super) fn campaign(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let c = all_campaigns(ctx).into_iter().find(|c| c.id == id);
    let doc = single(ctx, c.map(|c| campaign_res(ctx, &c)), "campaign", id)?;
    Ok(for_revision(ctx, doc))
}

fn message_res(ctx: &Ctx, c: &CampaignDef) -> Value {
    let b = ctx.brand;
    let id = message_id(c);
    let definition = if c.channel == "email" {
        json!({
            "channel": "email",
            "label": c.name,
            "content": {
                "subject": c.name,
                "preview_text": format!("News from {}", b.name),
                "from_email": format!("hello@{}.example.com", b.slug),
                "from_label": b.name,
                "reply_to_email": null,
                "cc_email": null,
                "bcc_email": null,
            },
        })
    } else {
        json!({
            "channel": "sms",
            "content": {
                "body": format!("{}: {} https://{}.example.com Reply STOP to opt out.", b.name, c.name, b.slug),
                "media_url": null,
            },
            "render_options": {
                "shorten_links": true,
                "add_org_prefix": true,
                "add_info_link": true,
                "add_opt_out_language": false,
            },
        })
    };
    let send_times: Value = c.send_time.map_or(
        Value::Null,
        |t| json!([{ "datetime": ts(t), "is_local": false }]),
    );
    let template = if c.channel == "email" {
        let k = (str_hash(&c.id) % CAMPAIGN_TEMPLATES.len() as u64) as usize;
        ident("template", &b.campaign_template_id(k))
    } else {
        Value::Null
    };
    json!({
        "type": "campaign-message",
        "id": id,
        "attributes": {
            "definition": definition,
            "send_times": send_times,
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
        },
        "relationships": {
            "campaign": ctx.rel_data("campaign-messages", &id, "campaign", ident("campaign", &c.id)),
            "template": ctx.rel_data("campaign-messages", &id, "template", template),
            "image": ctx.rel_data("campaign-messages", &id, "image", Value::Null),
        },
        "links": { "self": ctx.link(&format!("campaign-messages/{id}")) },
    })
}

/// `GET /api/campaigns/{id}/campaign-messages`.
pub(super) fn campaign_messages(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let Some(c) = all_campaigns(ctx).into_iter().find(|c| c.id == id) else {
        return Err(ApiError::not_found(format!(
            "No campaign with id `{id}` in this account."
        )));
    };
    let data = vec![message_res(ctx, &c)];
    Ok(json!({ "data": data, "links": { "self": ctx.self_link() } }))
}

/// `GET /api/campaign-messages/{id}`.
pub(super) fn campaign_message(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let c = all_campaigns(ctx).into_iter().find(|c| message_id(c) == id);
    single(ctx, c.map(|c| message_res(ctx, &c)), "campaign message", id)
}

/// A campaign or campaign message of this brand, for `included`.
pub(super) fn resolve(ctx: &Ctx, kind: &str, id: &str) -> Option<Value> {
    let all = all_campaigns(ctx);
    match kind {
        "campaign" => all.iter().find(|c| c.id == id).map(|c| {
            let mut r = campaign_res(ctx, c);
            if ctx.rev >= Revision::V2026_10_15 {
                reshape_2026_10_15(&mut r);
            }
            r
        }),
        "campaign-message" => all
            .iter()
            .find(|c| message_id(c) == id)
            .map(|c| message_res(ctx, c)),
        _ => None,
    }
}
