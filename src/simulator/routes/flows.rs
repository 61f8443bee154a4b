//! Flow actions and flow messages, in the 2026-07-15 "encoded" shapes: an
//! action's `definition` is one of Klaviyo's typed actions (`send-email`,
//! `send-sms`, `time-delay`, `conditional-split`) whose `data.status` is the
//! step's own status; a message's `definition` is the email or SMS itself.

use serde_json::{Value, json};

use super::{Ctx, collection_by, flow_state, ident, lookup, single};
use crate::simulator::content::{ActionDef, ActionKind, MessageDef};
use crate::simulator::jsonapi::{ApiError, ts};

/// The status a step reports: its own when it differs, else its flow's.
pub(super) fn action_status(ctx: &Ctx, a: &ActionDef) -> &'static str {
    a.status_override.unwrap_or_else(|| {
        ctx.brand
            .flows
            .get(a.flow)
            .map_or("draft", |f| flow_state(ctx, f).0)
    })
}

fn message_def(ctx: &Ctx, m: &MessageDef) -> Value {
    let b = ctx.brand;
    if m.channel == "sms" {
        return json!({
            "body": m.body,
            "image_id": null,
            "dynamic_image": null,
            "shorten_links": true,
            "include_contact_card": false,
            "add_org_prefix": true,
            "add_info_link": true,
            "add_opt_out_language": false,
            "smart_sending_enabled": m.smart_sending,
            "sms_quiet_hours_enabled": true,
            "transactional": false,
            "add_tracking_params": false,
            "custom_tracking_params": null,
            "template_id": null,
            "additional_filters": null,
            "name": m.name,
            "id": m.id,
        });
    }
    json!({
        "from_email": format!("hello@{}.example.com", b.slug),
        "from_label": b.name,
        "reply_to_email": null,
        "cc_email": null,
        "bcc_email": null,
        "subject_line": m.subject,
        "preview_text": m.preview,
        "template_id": m.template_id,
        "smart_sending_enabled": m.smart_sending,
        "transactional": false,
        "add_tracking_params": true,
        "custom_tracking_params": null,
        "additional_filters": null,
        "name": m.name,
        "id": m.id,
    })
}

fn definition(ctx: &Ctx, a: &ActionDef, next: Option<&str>) -> Value {
    let mut d = json!({ "id": a.id, "type": a.kind.type_name() });
    match a.kind {
        ActionKind::SendEmail | ActionKind::SendSms => {
            d["links"] = json!({ "next": next });
            let message = a.message.as_ref().map(|m| message_def(ctx, m));
            d["data"] = json!({ "message": message, "status": action_status(ctx, a) });
        }
        ActionKind::TimeDelay(value, unit) => {
            d["links"] = json!({ "next": next });
            d["data"] = json!({
                "unit": unit,
                "value": value,
                "secondary_value": null,
                "delay_until_time": null,
                "delay_until_weekdays": null,
            });
        }
        ActionKind::ConditionalSplit => {
            // Customers who already ordered leave the flow; the rest go on.
            d["links"] = json!({ "next_if_true": null, "next_if_false": next });
            let main_list = ctx.brand.lists.first().map(|l| l.id.clone());
            d["data"] = json!({ "profile_filter": { "condition_groups": [{ "conditions": [{
                "type": "profile-group-membership",
                "is_member": true,
                "group_ids": main_list.into_iter().collect::<Vec<_>>(),
                "timeframe_filter": null,
            }]}]}});
        }
    }
    d
}

fn action_res(ctx: &Ctx, a: &ActionDef, next: Option<&str>) -> Value {
    let flow_id = ctx.brand.flows.get(a.flow).map_or("", |f| f.id.as_str());
    let messages: Vec<Value> = a
        .message
        .iter()
        .map(|m| ident("flow-message", &m.id))
        .collect();
    json!({
        "type": "flow-action",
        "id": a.id,
        "attributes": {
            "created": ts(a.created),
            "updated": ts(a.updated),
            "definition": definition(ctx, a, next),
        },
        "relationships": {
            "flow": ctx.rel_data("flow-actions", &a.id, "flow", ident("flow", flow_id)),
            "flow-messages": ctx.rel_data("flow-actions", &a.id, "flow-messages", json!(messages)),
        },
        "links": { "self": ctx.link(&format!("flow-actions/{}", a.id)) },
    })
}

fn message_res(ctx: &Ctx, a: &ActionDef, m: &MessageDef) -> Value {
    let template = m
        .template_id
        .as_deref()
        .map_or(Value::Null, |t| ident("template", t));
    json!({
        "type": "flow-message",
        "id": m.id,
        "attributes": {
            "channel": m.channel,
            "created": ts(m.created),
            "updated": ts(m.updated),
            "definition": message_def(ctx, m),
        },
        "relationships": {
            "flow-action": ctx.rel_data("flow-messages", &m.id, "flow-action", ident("flow-action", &a.id)),
            "template": ctx.rel_data("flow-messages", &m.id, "template", template),
        },
        "links": { "self": ctx.link(&format!("flow-messages/{}", m.id)) },
    })
}

/// The actions of flow `flow` as resources, each linked to the next.
fn actions_of(ctx: &Ctx, flow: usize) -> Vec<(ActionDef, Value)> {
    let actions = ctx.brand.flow_actions(flow);
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let next = actions.get(i + 1).map(|n| n.id.as_str());
            (a.clone(), action_res(ctx, a, next))
        })
        .collect()
}

/// Flow action `id` and its resource. Ids alone are cheap to derive, so the
/// flow is found by them and only the one action is built: an `include` of a
/// hundred actions would otherwise build every flow's steps a hundred times.
fn find_action(ctx: &Ctx, id: &str) -> Option<(ActionDef, Value)> {
    let flow = (0..ctx.brand.flows.len())
        .find(|&f| ctx.brand.flow_action_ids(f).iter().any(|a| a == id))?;
    let actions = ctx.brand.flow_actions(flow);
    let i = actions.iter().position(|a| a.id == id)?;
    let next = actions.get(i + 1).map(|n| n.id.as_str());
    Some((actions[i].clone(), action_res(ctx, &actions[i], next)))
}

/// Reads a flow-action filter field: `action_type` and `status` come from the definition.
fn action_field(item: &Value, field: &str) -> Value {
    let def = &item["attributes"]["definition"];
    match field {
        "action_type" => {
            let t = def["type"].as_str().unwrap_or_default();
            json!(t.to_ascii_uppercase().replace('-', "_"))
        }
        "status" => def["data"]["status"].clone(),
        f => lookup(item, f),
    }
}

/// `GET /api/flows/{id}/flow-actions`.
pub(super) fn flow_actions(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let Some(ix) = ctx.brand.flows.iter().position(|f| f.id == id) else {
        return Err(ApiError::not_found(format!(
            "No flow with id `{id}` in this account."
        )));
    };
    let items = actions_of(ctx, ix).into_iter().map(|(_, v)| v).collect();
    // Statuses of time delays and splits follow their flow's.
    let conds = &ctx.q.filter;
    collection_by(ctx, items, conds, |item, field| {
        let v = action_field(item, field);
        if field == "status" && v.is_null() {
            let flow = &ctx.brand.flows[ix];
            json!(flow_state(ctx, flow).0)
        } else {
            v
        }
    })
}

/// `GET /api/flow-actions/{id}`.
pub(super) fn flow_action(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    single(ctx, find_action(ctx, id).map(|(_, v)| v), "flow action", id)
}

/// `GET /api/flow-actions/{id}/flow-messages`.
pub(super) fn action_messages(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let Some((a, _)) = find_action(ctx, id) else {
        return Err(ApiError::not_found(format!(
            "No flow action with id `{id}` in this account."
        )));
    };
    let items = a.message.iter().map(|m| message_res(ctx, &a, m)).collect();
    collection_by(ctx, items, &ctx.q.filter, |item, field| match field {
        "name" => item["attributes"]["definition"]["name"].clone(),
        f => lookup(item, f),
    })
}

/// `GET /api/flow-messages/{id}`.
pub(super) fn flow_message(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    single(ctx, find_message(ctx, id), "flow message", id)
}

/// Flow message `id` as a resource.
fn find_message(ctx: &Ctx, id: &str) -> Option<Value> {
    ctx.brand.all_actions().into_iter().find_map(|a| {
        let m = a.message.as_ref().filter(|m| m.id == id)?;
        Some(message_res(ctx, &a, m))
    })
}

/// A flow action or flow message of this brand, for `included`.
pub(super) fn resolve(ctx: &Ctx, kind: &str, id: &str) -> Option<Value> {
    match kind {
        "flow-action" => find_action(ctx, id).map(|(_, v)| v),
        "flow-message" => find_message(ctx, id),
        _ => None,
    }
}
