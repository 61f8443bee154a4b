//! The brands' web stores, which their templates link to: `GET` or `HEAD
//! /__sites/{host}/{path}` for a host `{slug}.example.com`. The store answers
//! 200 for `/shop` (the page every template's "Shop now" links to) and 404 for
//! anything else; a `broken-link` fault takes `/shop` down (404), the way a
//! store's redesign drops a page the emails still point at.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::super::Inner;
use super::super::faults::FaultKind;

/// The pages a brand's store serves.
const PAGES: &[&str] = &["shop"];

/// The brand whose store `host` is (`{slug}.example.com`), by index.
fn brand_of(inner: &Inner, host: &str) -> Option<usize> {
    host.to_ascii_lowercase()
        .strip_suffix(".example.com")
        .and_then(|slug| inner.brand_index(slug))
}

/// A page of a brand's store, by its host and path.
pub(super) async fn page(
    State(inner): State<Arc<Inner>>,
    Path((host, path)): Path<(String, String)>,
) -> StatusCode {
    let Some(brand) = brand_of(&inner, &host) else {
        return StatusCode::NOT_FOUND;
    };
    let page = path.trim_matches('/');
    if !PAGES.contains(&page) || inner.fault_in_force(brand, FaultKind::BrokenLink, inner.now()) {
        return StatusCode::NOT_FOUND;
    }
    StatusCode::OK
}

/// The store's home page.
pub(super) async fn home(State(inner): State<Arc<Inner>>, Path(host): Path<String>) -> StatusCode {
    match brand_of(&inner, &host) {
        Some(_) => StatusCode::OK,
        None => StatusCode::NOT_FOUND,
    }
}
