//! The query string as the sandbox reads it: one parser (form encoding,
//! the last of repeated names wins) for every handler that takes options.

use std::collections::BTreeMap;

/// The query string as a map (the last of repeated names wins).
pub fn parse(query: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
