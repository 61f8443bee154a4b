//! The query string of every operation, checked against what Klaviyo's spec
//! says the operation takes (the generated [`QUERY_PARAMS`] table) before a
//! handler runs, and sparse fieldsets applied to the document after it.
//! Anything the spec does not list for the operation is a 400 naming the
//! parameter, as Klaviyo answers.

use serde_json::{Map, Value};

use super::jsonapi::{ApiError, Cond, parse_filter};
pub use super::params::QUERY_PARAMS;

/// What one operation accepts in its query string, per the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryParams {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template, e.g. `/api/flows/{id}`.
    pub path: &'static str,
    /// `fields[<type>]`: the type and the fields it may name.
    pub fields: &'static [(&'static str, &'static [&'static str])],
    /// `additional-fields[<type>]`: the type and the extra fields it may ask for.
    pub additional_fields: &'static [(&'static str, &'static [&'static str])],
    /// Relationships `include=` may name.
    pub include: &'static [&'static str],
    /// Keys `sort=` may name (each also with a `-` prefix).
    pub sort: &'static [&'static str],
    /// `filter=` fields and the operators each allows.
    pub filter: &'static [(&'static str, &'static [&'static str])],
    /// Whether `filter=` is required.
    pub filter_required: bool,
    /// `page[size]` default and maximum, when the operation is size-paged.
    pub page_size: Option<(u32, u32)>,
}

/// Parameters the simulator takes beyond the spec, kept for clients written
/// against earlier simulator versions: `(method, path, parameter, allowed values)`.
const EXTENSIONS: &[(&str, &str, &str, &[&str])] = &[(
    "GET",
    "/api/lists",
    "additional-fields[list]",
    &["profile_count"],
)];

/// The row for `method` and path template `path`.
pub(crate) fn params_for(method: &str, path: &str) -> Option<&'static QueryParams> {
    QUERY_PARAMS
        .iter()
        .find(|p| p.method.eq_ignore_ascii_case(method) && p.path == path)
}

/// A request's query, checked against its operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    /// Every pair as sent (links are rebuilt from these).
    pub(crate) raw: Vec<(String, String)>,
    /// `fields[<type>]`, by type.
    pub(crate) fields: Vec<(String, Vec<String>)>,
    /// `additional-fields[<type>]`, by type.
    pub(crate) additional: Vec<(String, Vec<String>)>,
    /// Relationships to include.
    pub(crate) include: Vec<String>,
    /// Sort key and whether descending.
    pub(crate) sort: Option<(String, bool)>,
    /// `filter=` conditions (fields and operators already allowed).
    pub(crate) filter: Vec<Cond>,
    /// `page[size]`, or the operation's default.
    pub(crate) page_size: usize,
    /// `page[cursor]`.
    pub(crate) cursor: Option<String>,
}

impl Query {
    /// Whether `additional-fields[ty]` asks for `name`.
    pub(crate) fn wants(&self, ty: &str, name: &str) -> bool {
        self.additional
            .iter()
            .any(|(t, v)| t == ty && v.iter().any(|f| f == name))
    }
}

fn split(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn bracket<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

/// Checks `raw` against `p`; the error names the offending parameter.
pub(crate) fn check(p: &QueryParams, raw: Vec<(String, String)>) -> Result<Query, ApiError> {
    let mut q = Query {
        page_size: p.page_size.map_or(usize::MAX, |(d, _)| d as usize),
        ..Query::default()
    };
    for (name, value) in &raw {
        let n = name.as_str();
        if let Some(ext) = EXTENSIONS
            .iter()
            .find(|e| e.0 == p.method && e.1 == p.path && e.2 == n)
        {
            let vals = split(value);
            if let Some(bad) = vals.iter().find(|v| !ext.3.contains(&v.as_str())) {
                return Err(unknown_value(n, bad, ext.3));
            }
            if let Some(ty) = bracket(n, "additional-fields") {
                q.additional.push((ty.to_owned(), vals));
            }
            continue;
        }
        if let Some(ty) = bracket(n, "fields") {
            let allowed = lookup(p.fields, ty).ok_or_else(|| not_taken(p, n))?;
            let vals = split(value);
            if let Some(bad) = vals.iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(unknown_value(n, bad, allowed));
            }
            q.fields.push((ty.to_owned(), vals));
        } else if let Some(ty) = bracket(n, "additional-fields") {
            let allowed = lookup(p.additional_fields, ty).ok_or_else(|| not_taken(p, n))?;
            let vals = split(value);
            if let Some(bad) = vals.iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(unknown_value(n, bad, allowed));
            }
            q.additional.push((ty.to_owned(), vals));
        } else if n == "include" && !p.include.is_empty() {
            let vals = split(value);
            if let Some(bad) = vals.iter().find(|v| !p.include.contains(&v.as_str())) {
                return Err(unknown_value(n, bad, p.include));
            }
            q.include.extend(vals);
        } else if n == "sort" && !p.sort.is_empty() {
            let (desc, key) = value
                .strip_prefix('-')
                .map_or((false, value.as_str()), |k| (true, k));
            if !p.sort.contains(&key) {
                return Err(ApiError::bad_param(
                    "sort",
                    format!(
                        "Cannot sort by `{value}`; use one of {} (prefix `-` for descending).",
                        p.sort.join(", ")
                    ),
                ));
            }
            q.sort = Some((key.to_owned(), desc));
        } else if n == "filter" && !p.filter.is_empty() {
            let conds = parse_filter(value).map_err(|e| {
                ApiError::bad_param("filter", format!("Invalid filter `{value}`: {e}."))
            })?;
            for c in &conds {
                let ops = lookup(p.filter, &c.field).ok_or_else(|| {
                    ApiError::bad_param(
                        "filter",
                        format!(
                            "Filtering on `{}` is not supported here; allowed fields: {}.",
                            c.field,
                            p.filter.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                if !ops.contains(&c.op.as_str()) {
                    return Err(ApiError::bad_param(
                        "filter",
                        format!(
                            "Operator `{}` is not allowed on `{}`; use {}.",
                            c.op,
                            c.field,
                            ops.join(", ")
                        ),
                    ));
                }
            }
            q.filter.extend(conds);
        } else if n == "page[size]" {
            let Some((_, max)) = p.page_size else {
                return Err(ApiError::bad_param(
                    "page[size]",
                    format!("{} does not take page[size]; follow links.next.", p.path),
                ));
            };
            let max = max as usize;
            q.page_size = match value.trim().parse::<usize>() {
                Ok(s) if (1..=max).contains(&s) => s,
                Ok(s) if s > max => {
                    return Err(ApiError::bad_param(
                        "page[size]",
                        format!(
                            "page[size] {s} is over the maximum of {max}: ask for {max} or fewer."
                        ),
                    ));
                }
                _ => {
                    return Err(ApiError::bad_param(
                        "page[size]",
                        format!("page[size] must be a whole number from 1 to {max}."),
                    ));
                }
            };
        } else if (n == "page[cursor]" && p.method == "GET")
            || (n == "page_cursor" && p.method == "POST")
        {
            q.cursor = Some(value.clone());
        } else {
            return Err(not_taken(p, n));
        }
    }
    if p.filter_required && q.filter.is_empty() {
        return Err(ApiError::bad_param(
            "filter",
            format!("{} {} requires a `filter`.", p.method, p.path),
        ));
    }
    q.raw = raw;
    Ok(q)
}

fn lookup<T: Copy>(table: &[(&str, T)], key: &str) -> Option<T> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn not_taken(p: &QueryParams, name: &str) -> ApiError {
    ApiError::bad_param(
        name,
        format!(
            "`{name}` is not a query parameter of {} {}.",
            p.method, p.path
        ),
    )
}

fn unknown_value(param: &str, bad: &str, allowed: &[&str]) -> ApiError {
    let shown: Vec<&str> = allowed.iter().copied().take(40).collect();
    let more = if allowed.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    ApiError::bad_param(
        param,
        format!(
            "`{bad}` is not a valid value for {param}; use {}{more}.",
            shown.join(", ")
        ),
    )
}

/// Applies `fields[<type>]` to every resource in `data` and `included`:
/// only the attributes named stay (a dotted name keeps that nested part).
pub(crate) fn apply_fieldsets(doc: &mut Value, q: &Query) {
    if q.fields.is_empty() {
        return;
    }
    let mut visit = |r: &mut Value| {
        let Some(ty) = r.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        let Some((_, names)) = q.fields.iter().find(|(t, _)| *t == ty) else {
            return;
        };
        let paths: Vec<Vec<&str>> = names
            .iter()
            .filter(|n| *n != "id")
            .map(|n| n.split('.').collect())
            .collect();
        if let Some(Value::Object(attrs)) = r.get_mut("attributes") {
            prune(attrs, &paths);
        }
    };
    match doc.get_mut("data") {
        Some(Value::Array(items)) => items.iter_mut().for_each(&mut visit),
        Some(item @ Value::Object(_)) => visit(item),
        _ => {}
    }
    if let Some(Value::Array(items)) = doc.get_mut("included") {
        items.iter_mut().for_each(&mut visit);
    }
}

fn prune(obj: &mut Map<String, Value>, paths: &[Vec<&str>]) {
    obj.retain(|k, v| {
        let sub: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p| p.first() == Some(&k.as_str()))
            .map(|p| p[1..].to_vec())
            .collect();
        if sub.is_empty() {
            return false;
        }
        if sub.iter().any(Vec::is_empty) {
            return true;
        }
        if let Value::Object(inner) = v {
            prune(inner, &sub);
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn every_row_is_found_and_checks_follow_the_table() {
        let p = params_for("GET", "/api/flows").unwrap();
        assert_eq!(p.page_size, Some((50, 50)));
        let ok = check(
            p,
            q(&[
                ("fields[flow]", "name,status"),
                ("sort", "-updated"),
                ("filter", "equals(status,'live')"),
                ("include", "tags"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.sort, Some(("updated".into(), true)));
        assert_eq!(ok.page_size, 50);
        assert_eq!(ok.include, vec!["tags".to_owned()]);
        // Each bad pair, the parameter the 400 names, and the token its detail quotes.
        for (bad, param, token) in [
            (("fields[flow]", "name,colour"), "fields[flow]", "colour"),
            (
                ("fields[campaign]", "name"),
                "fields[campaign]",
                "fields[campaign]",
            ),
            (("sort", "colour"), "sort", "colour"),
            (("filter", "equals(colour,'x')"), "filter", "colour"),
            (("filter", "contains(status,'li')"), "filter", "contains"),
            (("include", "campaigns"), "include", "campaigns"),
            (("page[size]", "51"), "page[size]", "51"),
            (("colour", "red"), "colour", "colour"),
        ] {
            let e = check(p, q(&[bad])).unwrap_err();
            assert_eq!(e.source, Some(("parameter", param.to_owned())), "{bad:?}");
            assert!(e.detail.contains(token), "{bad:?}: {}", e.detail);
        }
        let campaigns = params_for("GET", "/api/campaigns").unwrap();
        assert!(check(campaigns, q(&[])).is_err());
        let metrics = params_for("GET", "/api/metrics").unwrap();
        assert!(check(metrics, q(&[("page[size]", "5")])).is_err());
        let lists = params_for("GET", "/api/lists").unwrap();
        assert!(check(lists, q(&[("additional-fields[list]", "profile_count")])).is_ok());
    }

    #[test]
    fn sparse_fieldsets_keep_only_what_was_named() {
        let mut doc = json!({"data": [{"type": "flow-action", "id": "1", "attributes": {
            "created": "x", "updated": "y",
            "definition": {"type": "send-email", "data": {"status": "live", "message": {}}}}}],
            "included": [{"type": "flow", "id": "2", "attributes": {"name": "n", "status": "live"}}]});
        let query = Query {
            fields: vec![
                (
                    "flow-action".into(),
                    vec!["created".into(), "definition.data.status".into()],
                ),
                ("flow".into(), vec!["id".into(), "name".into()]),
            ],
            ..Query::default()
        };
        apply_fieldsets(&mut doc, &query);
        assert_eq!(
            doc["data"][0]["attributes"],
            json!({"created": "x", "definition": {"data": {"status": "live"}}})
        );
        assert_eq!(doc["included"][0]["attributes"], json!({"name": "n"}));
    }
}
