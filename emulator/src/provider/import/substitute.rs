//! Putting the caller's path parameters into an imported example.
//!
//! The rule, for each path parameter of the request (`/widgets/{id}` called
//! as `/widgets/w_7`: `id` = `w_7`):
//!
//! 1. A JSON string that is exactly the parameter's example value (the
//!    value the file's example was made with, e.g. `"w_1"`) becomes the
//!    caller's value. Only whole strings: `"w_1"` does, `"w_10"` and the
//!    number `1` do not.
//! 2. `{{id}}` and `{id}` anywhere inside a JSON string (or a text body)
//!    become the caller's value: `"/widgets/{{id}}/parts"` →
//!    `"/widgets/w_7/parts"`.
//!
//! Object keys, numbers and booleans are never changed; a value the caller
//! sends is always put in as a string.

use serde_json::Value;

use super::{Body, Param};

/// `body` with the caller's `values` (by parameter name) put in for `params`.
pub fn render(body: &Body, params: &[Param], values: &[(String, String)]) -> Body {
    let pairs: Vec<(&Param, &str)> = params
        .iter()
        .filter_map(|p| {
            let value = values.iter().find(|(name, _)| *name == p.name)?;
            Some((p, value.1.as_str()))
        })
        .collect();
    match body {
        Body::Empty => Body::Empty,
        Body::Text(text) => Body::Text(placeholders(text, &pairs)),
        Body::Json(value) => Body::Json(json(value, &pairs)),
    }
}

fn json(value: &Value, pairs: &[(&Param, &str)]) -> Value {
    match value {
        Value::String(s) => {
            let exact = pairs.iter().find(|(p, _)| p.example.as_deref() == Some(s.as_str()));
            match exact {
                Some((_, caller)) => Value::String((*caller).to_owned()),
                None => Value::String(placeholders(s, pairs)),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| json(v, pairs)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), json(v, pairs))).collect()),
        other => other.clone(),
    }
}

fn placeholders(text: &str, pairs: &[(&Param, &str)]) -> String {
    let mut out = text.to_owned();
    for (param, caller) in pairs {
        if out.contains('{') {
            out = out
                .replace(&format!("{{{{{}}}}}", param.name), caller)
                .replace(&format!("{{{}}}", param.name), caller);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn param(name: &str, example: Option<&str>) -> Param {
        Param {
            name: name.into(),
            example: example.map(str::to_owned),
        }
    }

    #[test]
    fn whole_example_values_and_placeholders_take_the_callers_value() {
        let params = [param("id", Some("w_1")), param("part", None)];
        let body = Body::Json(json!({
            "id": "w_1",
            "w_1": "keys stay",
            "similar": "w_10",
            "count": 1,
            "self": "/widgets/{{id}}/parts/{part}",
            "list": [{"widget": "w_1"}, "{id}"],
        }));
        let values = [
            ("id".to_owned(), "w_7".to_owned()),
            ("part".to_owned(), "p 2".to_owned()),
        ];
        assert_eq!(
            render(&body, &params, &values),
            Body::Json(json!({
                "id": "w_7",
                "w_1": "keys stay",
                "similar": "w_10",
                "count": 1,
                "self": "/widgets/w_7/parts/p 2",
                "list": [{"widget": "w_7"}, "w_7"],
            }))
        );
    }

    #[test]
    fn text_bodies_get_placeholders_only_and_unknown_names_stay() {
        let params = [param("id", Some("w_1"))];
        let values = [("id".to_owned(), "w_7".to_owned())];
        let text = Body::Text("widget {{id}} (was w_1), {other}".into());
        assert_eq!(
            render(&text, &params, &values),
            Body::Text("widget w_7 (was w_1), {other}".into())
        );
        assert_eq!(render(&Body::Empty, &params, &values), Body::Empty);
    }
}
