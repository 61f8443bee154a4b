//! Scanning: builds a snapshot of one account and runs it through the pipeline.

pub mod fetch;
pub mod links;
pub mod pipeline;
pub mod snapshot;

/// The first `shown` items joined by `sep`, then "and N more" for the rest:
/// how a gap names unreadable resources and a scan names checks it skipped.
pub(crate) fn first_and_more(items: &[String], shown: usize, sep: &str) -> String {
    let named: Vec<&str> = items.iter().take(shown).map(String::as_str).collect();
    match items.len().saturating_sub(shown) {
        0 => named.join(sep),
        n => format!("{} and {n} more", named.join(sep)),
    }
}

#[cfg(test)]
mod tests {
    use super::first_and_more;

    #[test]
    fn names_the_first_few_and_counts_the_rest() {
        let items: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(first_and_more(&items, 2, "; "), "a; b and 2 more");
        assert_eq!(first_and_more(&items, 4, ", "), "a, b, c, d");
        assert_eq!(first_and_more(&[], 3, ", "), "");
    }
}
