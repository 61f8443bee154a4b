//! Segments, profiles, templates, tags, forms, catalog items and webhooks:
//! resources built from the brand's derived content (see `content`).

use serde_json::{Value, json};

use super::{Ctx, bad_cursor, collection, collection_by, ident, lookup, profile_count, single};
use crate::simulator::content::{
    CatalogItemDef, FormDef, PROFILE_POOL, ProfileDef, SegmentDef, TemplateDef, WebhookDef,
};
use crate::simulator::jsonapi::{ApiError, decode_cursor, encode_cursor, parse_time, ts};

// ---------- segments ----------

fn segment_res(ctx: &Ctx, s: &SegmentDef, with_count: bool) -> Value {
    let main = ctx.brand.lists.first();
    let group_ids: Vec<&str> = main.iter().map(|l| l.id.as_str()).collect();
    let mut v = json!({
        "type": "segment",
        "id": s.id,
        "attributes": {
            "name": s.name,
            "definition": { "condition_groups": [{ "conditions": [{
                "type": "profile-group-membership",
                "is_member": true,
                "group_ids": group_ids,
                "timeframe_filter": null,
            }]}]},
            "created": ts(s.created),
            "updated": ts(s.updated),
            "is_active": true,
            "is_processing": false,
            "is_starred": s.is_starred,
        },
        "relationships": {
            "profiles": ctx.rel("segments", &s.id, "profiles"),
            "tags": ctx.rel_data("segments", &s.id, "tags", json!([])),
            "flow-triggers": ctx.rel_data("segments", &s.id, "flow-triggers", json!([])),
        },
        "links": { "self": ctx.link(&format!("segments/{}", s.id)) },
    });
    if with_count {
        let base = main.map_or(0, |l| profile_count(ctx, l));
        v["attributes"]["profile_count"] = json!((base as f64 * s.share).round() as u64);
    }
    v
}

/// `GET /api/segments`.
pub(super) fn segments(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx
        .brand
        .segments()
        .iter()
        .map(|s| segment_res(ctx, s, false))
        .collect();
    collection(ctx, items, &ctx.q.filter)
}

/// `GET /api/segments/{id}` (`additional-fields[segment]=profile_count` adds the count).
pub(super) fn segment(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let with_count = ctx.q.wants("segment", "profile_count");
    let s = ctx.brand.segments().into_iter().find(|s| s.id == id);
    single(
        ctx,
        s.map(|s| segment_res(ctx, &s, with_count)),
        "segment",
        id,
    )
}

// ---------- profiles ----------

fn profile_res(ctx: &Ctx, p: &ProfileDef, with_subscriptions: bool) -> Value {
    let b = ctx.brand;
    let mut v = json!({
        "type": "profile",
        "id": p.id,
        "attributes": {
            "email": p.email,
            "phone_number": p.phone,
            "external_id": null,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "organization": null,
            "locale": null,
            "title": null,
            "image": null,
            "created": ts(p.created),
            "updated": ts(p.updated),
            "last_event_date": ts(p.updated),
            "location": {
                "address1": null,
                "address2": null,
                "city": null,
                "country": p.country,
                "latitude": null,
                "longitude": null,
                "region": p.region,
                "zip": null,
                "timezone": b.timezone,
                "ip": null,
            },
            "properties": {},
        },
        "relationships": {
            "lists": ctx.rel("profiles", &p.id, "lists"),
            "segments": ctx.rel("profiles", &p.id, "segments"),
            "push-tokens": ctx.rel_data("profiles", &p.id, "push-tokens", json!([])),
            "conversations": ctx.rel_data("profiles", &p.id, "conversations", json!([])),
        },
        "links": { "self": ctx.link(&format!("profiles/{}", p.id)) },
    });
    if with_subscriptions {
        let double = b.lists.first().is_some_and(|l| l.opt_in == "double_opt_in");
        v["attributes"]["subscriptions"] = json!({ "email": { "marketing": {
            "can_receive_email_marketing": p.subscribed,
            "consent": if p.subscribed { "SUBSCRIBED" } else { "UNSUBSCRIBED" },
            "consent_timestamp": ts(p.created),
            "last_updated": ts(p.updated),
            // Consent as the list records it: confirmed or not.
            "method": if double { "DOUBLE_OPT_IN" } else { "SINGLE_OPT_IN" },
            "method_detail": null,
            "custom_method_detail": null,
            "double_optin": double,
            "suppression": [],
            "list_suppressions": [],
        }}});
    }
    v
}

/// The first pool index whose profile was created at or after `t`
/// (creation times rise with the index).
fn first_created_at_or_after(ctx: &Ctx, t: chrono::DateTime<chrono::Utc>) -> u64 {
    let (mut lo, mut hi) = (0, PROFILE_POOL);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ctx.brand.profile(mid).is_some_and(|p| p.created < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `GET /api/profiles`: the pool, oldest first, paged by index. Filters on
/// `id`, `email` and `created` are served; the spec's other filters are a 400.
pub(super) fn profiles(ctx: &Ctx) -> Result<Value, ApiError> {
    if ctx.q.wants("profile", "predictive_analytics") {
        return Err(ApiError::bad_param(
            "additional-fields[profile]",
            "The simulator does not model predictive analytics; ask for `subscriptions` only.",
        ));
    }
    let with_subs = ctx.q.wants("profile", "subscriptions");
    let (mut lo, mut hi) = (0u64, PROFILE_POOL);
    let mut only: Option<Vec<u64>> = None;
    for c in &ctx.q.filter {
        match c.field.as_str() {
            "id" | "email" => {
                let found: Vec<u64> = c
                    .value
                    .items()
                    .iter()
                    .filter_map(|v| {
                        if c.field == "id" {
                            ctx.brand.profile_by_id(v)
                        } else {
                            ctx.brand.profile_by_email(v)
                        }
                    })
                    .map(|p| p.index)
                    .collect();
                only = Some(match only {
                    None => found,
                    Some(prev) => prev.into_iter().filter(|i| found.contains(i)).collect(),
                });
            }
            "created" => {
                let t = parse_time(&c.value.text()).ok_or_else(|| {
                    ApiError::bad_param(
                        "filter",
                        format!("`{}` is not a datetime.", c.value.text()),
                    )
                })?;
                let i = first_created_at_or_after(ctx, t);
                match c.op.as_str() {
                    // Creation times are whole seconds, so `> t` is `>= t + 1s`.
                    "greater-than" => {
                        lo = lo.max(first_created_at_or_after(
                            ctx,
                            t + chrono::Duration::seconds(1),
                        ))
                    }
                    _ => hi = hi.min(i),
                }
            }
            f => {
                return Err(ApiError::bad_param(
                    "filter",
                    format!(
                        "Filtering profiles on `{f}` is not supported by the simulator; use id, email or created."
                    ),
                ));
            }
        }
    }
    let desc = match &ctx.q.sort {
        None => false,
        Some((k, d)) if k == "created" || k == "id" => *d,
        Some((k, _)) => {
            return Err(ApiError::bad_param(
                "sort",
                format!("The simulator sorts profiles by created or id only, not `{k}`."),
            ));
        }
    };
    let mut indices: Box<dyn Iterator<Item = u64>> = match only {
        Some(mut v) => {
            v.retain(|i| (lo..hi).contains(i));
            v.sort_unstable();
            v.dedup();
            if desc {
                v.reverse();
            }
            Box::new(v.into_iter())
        }
        None if desc => Box::new((lo..hi).rev()),
        None => Box::new(lo..hi),
    };
    let after = match &ctx.q.cursor {
        None => None,
        Some(c) => Some(
            decode_cursor(c)
                .and_then(|s| s.strip_prefix("p:")?.parse::<u64>().ok())
                .ok_or_else(bad_cursor)?,
        ),
    };
    if let Some(a) = after {
        indices = Box::new(indices.filter(move |i| if desc { *i < a } else { *i > a }));
    }
    let size = ctx.q.page_size;
    let page: Vec<u64> = indices.by_ref().take(size + 1).collect();
    let more = page.len() > size;
    let data: Vec<Value> = page
        .iter()
        .take(size)
        .filter_map(|i| ctx.brand.profile(*i))
        .map(|p| profile_res(ctx, &p, with_subs))
        .collect();
    let mut links = json!({ "self": ctx.self_link() });
    if let (true, Some(last)) = (more, page.get(size - 1)) {
        links["next"] = json!(ctx.link_with(Some(&encode_cursor(&format!("p:{last}")))));
    }
    Ok(json!({ "data": data, "links": links }))
}

// ---------- templates ----------

fn template_res(ctx: &Ctx, t: &TemplateDef) -> Value {
    let mut v = json!({
        "type": "template",
        "id": t.id,
        "attributes": {
            "name": t.name,
            "editor_type": "CODE",
            "html": t.html,
            "text": t.text,
            "amp": null,
            "created": ts(t.created),
            "updated": ts(t.updated),
        },
        "links": { "self": ctx.link(&format!("templates/{}", t.id)) },
    });
    if ctx.q.wants("template", "definition") {
        // Code templates have no drag-and-drop definition.
        v["attributes"]["definition"] = Value::Null;
    }
    v
}

/// `GET /api/templates`.
pub(super) fn templates(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx
        .brand
        .templates()
        .iter()
        .map(|t| template_res(ctx, t))
        .collect();
    collection(ctx, items, &ctx.q.filter)
}

/// `GET /api/templates/{id}`.
pub(super) fn template(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let t = ctx.brand.templates().into_iter().find(|t| t.id == id);
    single(ctx, t.map(|t| template_res(ctx, &t)), "template", id)
}

// ---------- tags ----------

fn tag_res(ctx: &Ctx, id: &str, name: &str) -> Value {
    json!({
        "type": "tag",
        "id": id,
        "attributes": { "name": name },
        "relationships": {
            "tag-group": ctx.rel_data("tags", id, "tag-group", ident("tag-group", &ctx.brand.tag_group_id())),
            "lists": ctx.rel("tags", id, "lists"),
            "segments": ctx.rel("tags", id, "segments"),
            "campaigns": ctx.rel("tags", id, "campaigns"),
            "flows": ctx.rel("tags", id, "flows"),
        },
        "links": { "self": ctx.link(&format!("tags/{id}")) },
    })
}

fn tag_group_res(ctx: &Ctx) -> Value {
    let id = ctx.brand.tag_group_id();
    json!({
        "type": "tag-group",
        "id": id,
        "attributes": { "name": "Default Tag Group", "exclusive": false, "default": true },
        "relationships": { "tags": ctx.rel("tag-groups", &id, "tags") },
        "links": { "self": ctx.link(&format!("tag-groups/{id}")) },
    })
}

/// `GET /api/tags`.
pub(super) fn tags(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx
        .brand
        .tags()
        .iter()
        .map(|t| tag_res(ctx, &t.id, t.name))
        .collect();
    collection(ctx, items, &ctx.q.filter)
}

// ---------- forms ----------

fn form_res(ctx: &Ctx, f: &FormDef) -> Value {
    json!({
        "type": "form",
        "id": f.id,
        "attributes": {
            "name": f.name,
            "status": f.status,
            "ab_test": f.ab_test,
            "created_at": ts(f.created),
            "updated_at": ts(f.updated),
        },
        "relationships": { "form-versions": ctx.rel("forms", &f.id, "form-versions") },
        "links": { "self": ctx.link(&format!("forms/{}", f.id)) },
    })
}

/// `GET /api/forms`.
pub(super) fn forms(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx.brand.forms().iter().map(|f| form_res(ctx, f)).collect();
    collection(ctx, items, &ctx.q.filter)
}

// ---------- catalog ----------

/// Every simulated item sits in one category.
const CATEGORY: &str = "$custom:::$default:::all-products";

fn item_attrs(ctx: &Ctx, i: &CatalogItemDef, sku: &str) -> Value {
    let url = format!(
        "https://{}.example.com/products/{}",
        ctx.brand.slug,
        sku.to_ascii_lowercase()
    );
    json!({
        "external_id": sku,
        "title": i.title,
        "description": format!("{} from {}.", i.title, ctx.brand.name),
        "price": i.price,
        "url": url,
        "image_full_url": format!("{url}.jpg"),
        "image_thumbnail_url": format!("{url}-thumb.jpg"),
        "images": [format!("{url}.jpg")],
        "custom_metadata": null,
        "published": i.published,
        "created": ts(i.created),
        "updated": ts(i.updated),
    })
}

fn variant_id(i: &CatalogItemDef) -> String {
    format!("$custom:::$default:::{}-V1", i.sku)
}

fn item_res(ctx: &Ctx, i: &CatalogItemDef) -> Value {
    json!({
        "type": "catalog-item",
        "id": i.id,
        "attributes": item_attrs(ctx, i, &i.sku),
        "relationships": {
            "variants": ctx.rel_data("catalog-items", &i.id, "variants", json!([ident("catalog-variant", &variant_id(i))])),
        },
        "links": { "self": ctx.link(&format!("catalog-items/{}", i.id)) },
    })
}

fn variant_res(ctx: &Ctx, i: &CatalogItemDef) -> Value {
    let id = variant_id(i);
    let sku = format!("{}-V1", i.sku);
    let mut attrs = item_attrs(ctx, i, &sku);
    attrs["sku"] = json!(sku);
    attrs["inventory_policy"] = json!(0);
    attrs["inventory_quantity"] = json!(if i.published { 25 } else { 0 });
    json!({
        "type": "catalog-variant",
        "id": id,
        "attributes": attrs,
        "links": { "self": ctx.link(&format!("catalog-variants/{id}")) },
    })
}

/// `GET /api/catalog-items`.
pub(super) fn catalog_items(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx
        .brand
        .catalog_items(ctx.now)
        .iter()
        .map(|i| item_res(ctx, i))
        .collect();
    collection_by(ctx, items, &ctx.q.filter, |item, field| match field {
        "ids" => item["id"].clone(),
        "category.id" => json!(CATEGORY),
        f => lookup(item, f),
    })
}

// ---------- webhooks ----------

fn webhook_res(ctx: &Ctx, w: &WebhookDef) -> Value {
    let topics: Vec<Value> = w.topics.iter().map(|t| ident("webhook-topic", t)).collect();
    json!({
        "type": "webhook",
        "id": w.id,
        "attributes": {
            "name": w.name,
            "description": null,
            "endpoint_url": w.url,
            "enabled": true,
            "created_at": ts(w.created),
            "updated_at": ts(w.created),
        },
        "relationships": {
            "webhook-topics": ctx.rel_data("webhooks", &w.id, "webhook-topics", json!(topics)),
        },
        "links": { "self": ctx.link(&format!("webhooks/{}", w.id)) },
    })
}

/// `GET /api/webhooks` (not paged).
pub(super) fn webhooks(ctx: &Ctx) -> Result<Value, ApiError> {
    let data: Vec<Value> = ctx
        .brand
        .webhooks()
        .iter()
        .map(|w| webhook_res(ctx, w))
        .collect();
    Ok(json!({ "data": data, "links": { "self": ctx.self_link() } }))
}

/// A resource of the kinds above, for `included`.
pub(super) fn resolve(ctx: &Ctx, kind: &str, id: &str) -> Option<Value> {
    let b = ctx.brand;
    match kind {
        "template" => b
            .templates()
            .iter()
            .find(|t| t.id == id)
            .map(|t| template_res(ctx, t)),
        "tag" => b
            .tags()
            .iter()
            .find(|t| t.id == id)
            .map(|t| tag_res(ctx, &t.id, t.name)),
        "tag-group" => (id == b.tag_group_id()).then(|| tag_group_res(ctx)),
        "segment" => b
            .segments()
            .iter()
            .find(|s| s.id == id)
            .map(|s| segment_res(ctx, s, false)),
        "catalog-variant" => b
            .catalog_items(ctx.now)
            .iter()
            .find(|i| variant_id(i) == id)
            .map(|i| variant_res(ctx, i)),
        "webhook-topic" => b
            .webhooks()
            .iter()
            .any(|w| w.topics.contains(&id))
            .then(|| json!({ "type": "webhook-topic", "id": id, "links": { "self": ctx.link(&format!("webhook-topics/{id}")) } })),
        // Profiles included beside events have no conversations relationship.
        "profile" => b.profile_by_id(id).map(|p| {
            let mut r = profile_res(ctx, &p, false);
            if let Some(rels) = r["relationships"].as_object_mut() {
                rels.remove("conversations");
            }
            r
        }),
        _ => None,
    }
}
