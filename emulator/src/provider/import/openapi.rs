//! An OpenAPI 3.0/3.1 document (JSON) → imported requests.
//!
//! Each operation under `paths` is answered with its first 2xx response
//! (`200` before `201`; `2XX` counts as 200): the `content` for
//! `application/json` (else the first JSON media type, else the first),
//! its `example`, else the first (by name) of its `examples`' `value`,
//! else its schema's `example`; a 2xx without content answers an empty
//! body. The path of the first server URL (`https://host/v2` → `/v2`) is
//! put in front of every path, as clients call it. Local `$ref`s
//! (`#/components/...`) are followed. A path parameter's example value is
//! its `example`, the first of its `examples`, or its schema's `example`.

use serde_json::{Map, Value};

use super::{Body, Example, ItemError, Param, Request, check_method, route_path, status};

const OPERATIONS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

pub(super) fn parse(doc: &Value) -> Result<Vec<Request>, ItemError> {
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| ("document".to_owned(), "has no paths object".to_owned()))?;
    let prefix = server_prefix(doc);
    let mut out = Vec::new();
    for (template, item) in paths {
        let item = resolve(doc, item).map_err(|e| (format!("path {template}"), e))?;
        for (key, operation) in item.as_object().into_iter().flatten() {
            if !OPERATIONS.contains(&key.as_str()) {
                continue;
            }
            let at = match operation.get("operationId").and_then(Value::as_str) {
                Some(id) => format!("operation \"{id}\" ({} {template})", key.to_uppercase()),
                None => format!("operation {} {template}", key.to_uppercase()),
            };
            let request = request(doc, &prefix, template, key, item, operation, &at).map_err(|e| (at.clone(), e))?;
            out.push(request);
        }
    }
    Ok(out)
}

fn request(
    doc: &Value,
    prefix: &str,
    template: &str,
    method: &str,
    item: &Value,
    operation: &Value,
    at: &str,
) -> Result<Request, String> {
    let method = check_method(method)?;
    let segments = prefix.split('/').chain(template.split('/'));
    let (path, names) = route_path(segments)?;
    let params = names
        .into_iter()
        .map(|name| {
            let example = param_example(doc, &name, operation).or_else(|| param_example(doc, &name, item));
            Param { name, example }
        })
        .collect();
    Ok(Request {
        item: at.to_owned(),
        method,
        path,
        params,
        example: example(doc, operation)?,
    })
}

fn example(doc: &Value, operation: &Value) -> Result<Example, String> {
    let responses = operation
        .get("responses")
        .and_then(Value::as_object)
        .ok_or("has no responses object")?;
    let (code, number) = responses
        .keys()
        .filter_map(|code| match code.as_str() {
            "2XX" | "2xx" => Some((code, 200)),
            _ => code
                .parse::<u64>()
                .ok()
                .filter(|c| (200..300).contains(c))
                .map(|c| (code, c)),
        })
        .min_by_key(|(_, number)| *number)
        .ok_or("has no 2xx response to answer with")?;
    let at = format!("responses.{code}");
    let response = resolve(doc, &responses[code]).map_err(|e| format!("{at}: {e}"))?;
    let status = status(number)?;
    let Some((media_type, media)) = response.get("content").and_then(Value::as_object).and_then(pick_media) else {
        return Ok(Example {
            status,
            content_type: None,
            body: Body::Empty,
        });
    };
    let at = format!("{at}.content.{media_type}");
    let media = resolve(doc, media).map_err(|e| format!("{at}: {e}"))?;
    let value = media_example(doc, media)
        .map_err(|e| format!("{at}: {e}"))?
        .ok_or_else(|| format!("{at} has no example: add example or examples"))?;
    let content_type = axum::http::HeaderValue::from_str(media_type)
        .map_err(|_| format!("{at}: '{media_type}' is not a valid content type"))?;
    let body = match value {
        Value::String(text) if !media_type.contains("json") => Body::Text(text),
        value => Body::Json(value),
    };
    Ok(Example {
        status,
        content_type: Some(content_type),
        body,
    })
}

/// `application/json`, else the first JSON media type, else the first.
fn pick_media(content: &Map<String, Value>) -> Option<(&str, &Value)> {
    let (name, media) = content
        .get_key_value("application/json")
        .or_else(|| content.iter().find(|(name, _)| name.contains("json")))
        .or_else(|| content.iter().next())?;
    Some((name.as_str(), media))
}

/// `example`, else the first of `examples` (by name), else the schema's.
fn media_example(doc: &Value, media: &Value) -> Result<Option<Value>, String> {
    if let Some(example) = media.get("example") {
        return Ok(Some(example.clone()));
    }
    if let Some((name, first)) = media
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|e| e.iter().next())
    {
        let first = resolve(doc, first).map_err(|e| format!("examples.{name}: {e}"))?;
        return first
            .get("value")
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("examples.{name} has no value (externalValue is not read)"));
    }
    let schema = media.get("schema").map(|s| resolve(doc, s)).transpose()?;
    Ok(schema.and_then(|s| s.get("example")).cloned())
}

/// The example value of path parameter `name` among `owner`'s `parameters`.
fn param_example(doc: &Value, name: &str, owner: &Value) -> Option<String> {
    let param = owner
        .get("parameters")?
        .as_array()?
        .iter()
        .filter_map(|p| resolve(doc, p).ok())
        .find(|p| {
            p.get("in").and_then(Value::as_str) == Some("path") && p.get("name").and_then(Value::as_str) == Some(name)
        })?;
    let value = param
        .get("example")
        .or_else(|| {
            let (_, first) = param.get("examples")?.as_object()?.iter().next()?;
            resolve(doc, first).ok()?.get("value")
        })
        .or_else(|| resolve(doc, param.get("schema")?).ok()?.get("example"))?;
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The path of the first server's URL, without a trailing slash; nothing
/// when it has variables (`{region}`) or no path.
fn server_prefix(doc: &Value) -> String {
    let url = doc.pointer("/servers/0/url").and_then(Value::as_str).unwrap_or("");
    if url.contains('{') {
        return String::new();
    }
    let path = match url.split_once("://") {
        Some((_, after)) => after.find('/').map_or("", |i| &after[i..]),
        None => url,
    };
    path.trim_end_matches('/').to_owned()
}

/// `value`, or what its local `$ref` points to (followed a few times).
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("$ref {reference}: only references inside the document (#/...) are read"))?;
        value = doc
            .pointer(pointer)
            .ok_or_else(|| format!("$ref {reference} points to nothing in the document"))?;
    }
    Err("$ref chain too long (a cycle?)".into())
}
