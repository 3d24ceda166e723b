//! `GET /banks/v1`: the list of banks, from `fixtures/banks.json` or the
//! file named in the config; `?account_types=CURRENT,SAVINGS` keeps the
//! banks supporting any of them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Api;
use super::auth::Caller;
use crate::web::ApiError;
use crate::web::query;

pub async fn list(caller: Caller, State(api): State<Api>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    caller.require_api()?;
    let query = query::parse(raw.as_deref());
    let Some(account_types) = query.get("account_types") else {
        // The whole list, as serialised at start: copying and serialising
        // it was a quarter of a keep-alive call (callgrind, issue #15).
        let json = [(header::CONTENT_TYPE, "application/json")];
        return Ok((json, api.banks_json.clone()).into_response());
    };
    Ok(Json(filter_banks(&api.banks, Some(account_types))).into_response())
}

/// The body of an unfiltered `GET /banks/v1`: `banks` as `Json` writes it.
pub fn body(banks: &serde_json::Value) -> Bytes {
    serde_json::to_vec(banks).expect("a JSON value serialises").into()
}

/// The banks supporting any of the comma-separated `account_types` (all without).
pub fn filter_banks(banks: &serde_json::Value, account_types: Option<&str>) -> serde_json::Value {
    let wanted: Vec<String> = account_types
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
        .collect();
    if wanted.is_empty() {
        return banks.clone();
    }
    let supports = |bank: &&serde_json::Value| {
        bank["supported_account_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .any(|t| wanted.iter().any(|w| w.eq_ignore_ascii_case(t)))
    };
    serde_json::Value::Array(
        banks
            .as_array()
            .into_iter()
            .flatten()
            .filter(supports)
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn banks_filter_by_any_account_type() {
        let banks = json!([
            {"identifier": "A", "supported_account_types": ["CURRENT"]},
            {"identifier": "B", "supported_account_types": ["CREDIT", "SAVINGS"]},
            {"identifier": "C"}
        ]);
        assert_eq!(filter_banks(&banks, None), banks);
        let ids = |v: serde_json::Value| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| b["identifier"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(filter_banks(&banks, Some("savings"))), [json!("B")]);
        assert_eq!(
            ids(filter_banks(&banks, Some("CURRENT, CREDIT"))),
            [json!("A"), json!("B")]
        );
    }
}
