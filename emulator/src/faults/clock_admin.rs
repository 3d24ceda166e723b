//! `/admin/clock` on the auth host (bearer token with scope `admin`): read,
//! set, advance and reset the sandbox's clock, or one application's time
//! (`"app": NAME` in the change, `?app=NAME` to read; see
//! [`crate::clock::Clock::now_for`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::FaultState;
use crate::apps::App;
use crate::oauth::bearer::Admin;
use crate::web::ApiError;
use crate::web::body::ApiJson;

/// `{"advance": "2h"}` (also "-30m"), `{"set": "<RFC 3339>"}`, or
/// `{"reset": true}` (back to the machine's real time); with `"app": NAME`,
/// that application's time only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    advance: Option<String>,
    set: Option<String>,
    #[serde(default)]
    reset: bool,
    app: Option<String>,
}

pub async fn get_clock(
    _: Admin,
    State(state): State<FaultState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let app = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "app")
        .map(|(_, name)| application(&state, &name))
        .transpose()?;
    now(&state, app.as_deref())
}

pub async fn change_clock(
    _: Admin,
    State(state): State<FaultState>,
    ApiJson(change): ApiJson<ClockChange>,
) -> Result<impl IntoResponse, ApiError> {
    let clock = &state.clock;
    let app = change
        .app
        .as_deref()
        .map(|name| application(&state, name))
        .transpose()?;
    let id = app.as_ref().map(|app| app.id.as_str());
    match (change.advance, change.set, change.reset) {
        (None, None, true) => match id {
            Some(id) => clock.reset_for(id),
            None => clock.reset(),
        },
        (Some(span), None, false) => {
            let (negative, rest) = match span.trim() {
                s if s.starts_with('-') => (true, &s[1..]),
                s => (false, s.trim_start_matches('+')),
            };
            let by =
                crate::clock::parse_span(rest).map_err(|e| ApiError::invalid_parameters(format!("advance: {e}")))?;
            let by = if negative { -by } else { by };
            match id {
                Some(id) => clock.advance_for(id, by),
                None => clock.advance(by),
            }
            .map_err(|e| ApiError::invalid_parameters(format!("advance: '{span}' refused: {e}")))?;
        }
        (None, Some(text), false) => {
            let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
                ApiError::invalid_parameters(format!(
                    "set: '{text}' is not an RFC 3339 time like 2030-01-01T00:00:00Z: {e}"
                ))
            })?;
            match id {
                Some(id) => clock.set_for(id, at),
                None => clock.set(at),
            }
            .map_err(|e| ApiError::invalid_parameters(format!("set: '{text}' refused: {e}")))?;
        }
        _ => {
            return Err(ApiError::invalid_parameters(
                "give exactly one of {\"advance\": \"2h\"}, {\"set\": \"2030-01-01T00:00:00Z\"} or {\"reset\": true} \
                 (and \"app\": NAME for one application's time)",
            ));
        }
    }
    now(&state, app.as_deref())
}

fn application(state: &FaultState, name: &str) -> Result<Arc<App>, ApiError> {
    state
        .apps
        .find(name)
        .ok_or_else(|| ApiError::not_found(format!("no application named '{name}' (GET /admin/apps lists them)")))
}

/// The sandbox's "now" (or `app`'s), its setting, and how it differs from
/// real time; for an application, also its offset from the sandbox clock.
fn now(state: &FaultState, app: Option<&App>) -> Result<Json<serde_json::Value>, ApiError> {
    let clock = &state.clock;
    let offset = app.map_or(0, |app| clock.offset_for(&app.id));
    let now = app
        .map_or_else(|| clock.now(), |app| clock.now_for(&app.id))
        .format(&Rfc3339)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let described = clock.describe();
    let real_time = described.is_none() && offset == 0;
    let sandbox = described.unwrap_or_else(|| "real time".into());
    let mut data = json!({
        "now": now,
        "setting": clock.mode(),
        "real_time": real_time,
        "description": sandbox,
    });
    if let Some(app) = app {
        let own = match offset {
            0 => "on the sandbox clock".to_owned(),
            _ => format!("{} the sandbox clock", crate::clock::describe_offset(offset)),
        };
        data["description"] = json!(format!("{}: {own} ({sandbox})", app.name));
        data["app"] = json!({ "name": app.name, "offset_seconds": offset });
    }
    Ok(Json(json!({ "data": data })))
}
