//! The provider's pagination: a zero-based page number and a page size in
//! the query string (`page_number`/`page_size` or `page`/`size`), and the
//! `page: {number, size, total_elements, total_pages, sort}` object every
//! list envelope carries. Pure functions; the envelope around the items is
//! a template of the profile.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::profile::PageStyle;

pub const DEFAULT_SIZE: u64 = 50;
pub const MAX_SIZE: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Zero-based.
    pub number: u64,
    pub size: u64,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        self.number.saturating_mul(self.size)
    }

    /// The `page` object for a list of `total` items.
    pub fn page(self, total: u64) -> Value {
        json!({
            "number": self.number,
            "size": self.size,
            "total_elements": total,
            "total_pages": total.div_ceil(self.size),
            "sort": null,
        })
    }
}

/// The page asked for, or a message saying which parameter is wrong.
pub fn parse(style: PageStyle, query: &BTreeMap<String, String>) -> Result<PageRequest, String> {
    let (number_name, size_name) = match style {
        PageStyle::PageNumber => ("page_number", "page_size"),
        PageStyle::Page => ("page", "size"),
    };
    let read = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
        match query.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}; got '{text}'")),
        }
    };
    Ok(PageRequest {
        number: read(number_name, 0, 0, u32::MAX as u64)?,
        size: read(size_name, DEFAULT_SIZE, 1, MAX_SIZE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_styles_and_the_page_object() {
        let p = parse(PageStyle::PageNumber, &query(&[])).unwrap();
        assert_eq!(
            p,
            PageRequest {
                number: 0,
                size: DEFAULT_SIZE
            }
        );
        let p = parse(
            PageStyle::PageNumber,
            &query(&[("page_number", "2"), ("page_size", "3")]),
        )
        .unwrap();
        assert_eq!((p.offset(), p.page(7)["total_pages"].as_u64()), (6, Some(3)));
        assert_eq!(p.page(7)["sort"], Value::Null);
        let p = parse(
            PageStyle::Page,
            &query(&[("page", "1"), ("size", "10"), ("page_size", "x")]),
        )
        .unwrap();
        assert_eq!(p, PageRequest { number: 1, size: 10 });
        assert_eq!(PageRequest { number: 0, size: 5 }.page(0)["total_pages"], 0);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (name, value) in [
            ("page_size", "0"),
            ("page_size", "501"),
            ("page_number", "-1"),
            ("page_size", "ten"),
        ] {
            let err = parse(PageStyle::PageNumber, &query(&[(name, value)])).unwrap_err();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
