//! A Postman collection v2.1 → imported requests.
//!
//! Items nest in folders; a request's `url` is a string or an object with
//! `raw`/`host`/`path`/`variable`. The host part (`{{baseUrl}}`,
//! `https://api.example.com`) is dropped: the sandbox answers on the path.
//! `:name` and `{{name}}` segments are path parameters. Each request is
//! answered with its first saved 2xx response (or its first response when
//! none is 2xx). A parameter's example value is the one the saved response
//! was made with (`originalRequest.url`), else the request's own
//! `url.variable`, else the collection's `variable`.

use serde_json::Value;

use super::{Example, ItemError, Param, Request, body_from_text, check_method, route_path, status};

pub(super) fn parse(doc: &Value) -> Result<Vec<Request>, ItemError> {
    let items = doc
        .get("item")
        .and_then(Value::as_array)
        .ok_or_else(|| ("collection".to_owned(), "has no item array".to_owned()))?;
    let variables = doc.get("variable").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk(items, &mut Vec::new(), &variables, &mut out)?;
    Ok(out)
}

fn walk(
    items: &[Value],
    folders: &mut Vec<String>,
    variables: &Value,
    out: &mut Vec<Request>,
) -> Result<(), ItemError> {
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
        let at = describe(name, folders);
        if let Some(children) = item.get("item") {
            let children = children
                .as_array()
                .ok_or_else(|| (at.clone(), "item is not an array".to_owned()))?;
            folders.push(name.to_owned());
            walk(children, folders, variables, out)?;
            folders.pop();
        } else {
            out.push(request(item, &at, variables).map_err(|detail| (at, detail))?);
        }
    }
    Ok(())
}

/// `item "Get widget" (folder "Widgets/Parts")`.
fn describe(name: &str, folders: &[String]) -> String {
    if folders.is_empty() {
        format!("item \"{name}\"")
    } else {
        format!("item \"{name}\" (folder \"{}\")", folders.join("/"))
    }
}

fn request(item: &Value, at: &str, variables: &Value) -> Result<Request, String> {
    let request = item
        .get("request")
        .ok_or("has no request (neither a folder with item nor a request)")?;
    let (method, url) = match request {
        Value::String(_) => ("GET", request),
        _ => (
            request.get("method").and_then(Value::as_str).unwrap_or("GET"),
            request.get("url").ok_or("request.url is missing")?,
        ),
    };
    let method = check_method(method).map_err(|e| format!("request.method: {e}"))?;
    let segments = url_segments(url).ok_or("request.url has no path")?;
    let written: Vec<String> = segments.iter().map(|s| as_param(s)).collect();
    let (path, names) = route_path(written.iter().map(String::as_str)).map_err(|e| format!("request.url: {e}"))?;

    let responses = item.get("response").and_then(Value::as_array).map(Vec::as_slice);
    let responses = responses.unwrap_or_default();
    let code = |r: &Value| r.get("code").and_then(Value::as_u64).unwrap_or(200);
    let response = responses
        .iter()
        .find(|r| (200..300).contains(&code(r)))
        .or(responses.first())
        .ok_or("has no saved example response: send it in Postman and Save Response as an example")?;
    let example = example(response, code(response)).map_err(|e| {
        let name = response.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
        format!("response \"{name}\": {e}")
    })?;

    let original = response.pointer("/originalRequest/url");
    let original_segments = original.and_then(url_segments).unwrap_or_default();
    let params = names
        .into_iter()
        .map(|name| {
            let index = written.iter().position(|s| s.trim_matches(['{', '}']) == name);
            let literal = index
                .and_then(|i| original_segments.get(i))
                .filter(|s| as_param(s) == **s && !s.contains('{'));
            let example = original
                .and_then(|url| variable(url.get("variable"), &name))
                .or_else(|| literal.cloned())
                .or_else(|| variable(url.get("variable"), &name))
                .or_else(|| variable(Some(variables), &name));
            Param { name, example }
        })
        .collect();
    Ok(Request {
        item: at.to_owned(),
        method,
        path,
        params,
        example,
    })
}

fn example(response: &Value, code: u64) -> Result<Example, String> {
    let content_type = response
        .get("header")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|h| {
            h.get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| k.eq_ignore_ascii_case("content-type"))
        })
        .and_then(|h| h.get("value").and_then(Value::as_str))
        .or_else(|| {
            (response.get("_postman_previewlanguage").and_then(Value::as_str) == Some("json"))
                .then_some("application/json")
        });
    let text = response.get("body").and_then(Value::as_str).unwrap_or("");
    let (content_type, body) = body_from_text(text, content_type)?;
    Ok(Example {
        status: status(code)?,
        content_type,
        body,
    })
}

/// The path segments of a URL (string or object), without the host part;
/// `None` when it has no path.
fn url_segments(url: &Value) -> Option<Vec<String>> {
    let segments: Vec<String> = match url {
        Value::String(raw) => from_text(path_of_raw(raw)?),
        Value::Object(_) => match url.get("path") {
            Some(Value::String(path)) => from_text(path),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.as_str().or_else(|| p.get("value").and_then(Value::as_str)))
                .flat_map(from_text)
                .collect(),
            _ => from_text(path_of_raw(url.get("raw")?.as_str()?)?),
        },
        _ => return None,
    };
    let root = matches!(url, Value::String(raw) if path_of_raw(raw) == Some("/"));
    (!segments.is_empty() || root).then_some(segments)
}

fn from_text(text: &str) -> Vec<String> {
    text.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The path of a raw URL: after `scheme://host`, after a leading
/// `{{baseUrl}}`, or after a bare host; without the query and fragment.
fn path_of_raw(raw: &str) -> Option<&str> {
    let raw = raw.split(['?', '#']).next().unwrap_or("").trim();
    let rest = if let Some((_, after)) = raw.split_once("://") {
        &after[after.find('/')?..]
    } else if raw.starts_with('/') {
        raw
    } else if let Some(after) = raw.strip_prefix("{{") {
        let after = &after[after.find("}}")? + 2..];
        if !after.starts_with('/') {
            return None;
        }
        after
    } else {
        &raw[raw.find('/')?..]
    };
    Some(rest)
}

/// `:name` and `{{name}}` as `{name}`; anything else as written.
fn as_param(segment: &str) -> String {
    if let Some(name) = segment.strip_prefix(':') {
        return format!("{{{name}}}");
    }
    if let Some(name) = segment.strip_prefix("{{").and_then(|s| s.strip_suffix("}}")) {
        return format!("{{{name}}}");
    }
    segment.to_owned()
}

/// The value of `name` in a Postman `variable` array, if set.
fn variable(variables: Option<&Value>, name: &str) -> Option<String> {
    let found = variables?
        .as_array()?
        .iter()
        .find(|v| v.get("key").and_then(Value::as_str) == Some(name))?;
    match found.get("value")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
