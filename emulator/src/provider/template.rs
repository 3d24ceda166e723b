//! Response templates: JSON with `{{expressions}}`, rendered against the
//! request, the object being shown and the profile's settings.
//!
//! A string that is one placeholder becomes the expression's JSON value
//! (`"{{body.amount}}"` stays a number); placeholders inside longer strings
//! (and object keys) are interpolated as text. Expressions are a dotted
//! path (`obj.id`, `settings.currency`), a literal (`'AED'`, `12`, `null`),
//! a generator call (`uuid`, `now`, `days_ago:index`, `amount:10:900`,
//! `digits:12`, `pick:A|B`, `choose:settings.merchants`, `number:body.amount`),
//! or alternatives `a ?? b` (the first that is not null).
//!
//! Objects with a `$` key are directives: `{"$ref": "name", "$with": {..},
//! "$extend": {..}}` includes another template with extra variables and
//! extra fields (so a shape is written once), `{"$get": "collection",
//! "$id": "{{id}}", "$template": "name", "$else": "other"}` shows one stored
//! object, `{"$each":
//! "collection", "$parent": "{{id}}", "$template": "name"}` lists stored
//! children, `{"$map": "path", "$template": "name"}` maps an array, and
//! `{"$repeat": n, "$template": "name"}` makes n items (`index` 0..n).
//!
//! Randomness comes from the sandbox's [`Entropy`], so `--deterministic`
//! runs render the same values. This module knows nothing of HTTP.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::entropy::Entropy;

/// Generator functions an expression may call.
const FUNCTIONS: &[&str] = &[
    "uuid",
    "now",
    "today",
    "days_ago",
    "date_days_ago",
    "days_ahead",
    "int",
    "amount",
    "digits",
    "pick",
    "choose",
    "number",
    "nth",
];

const DIRECTIVES: &[&str] = &[
    "$ref",
    "$with",
    "$extend",
    "$each",
    "$parent",
    "$template",
    "$map",
    "$repeat",
    "$get",
    "$id",
    "$else",
];

/// Everything a template can read.
pub struct Scope<'a> {
    /// `obj`, `body`, `query`, `param`, `settings`, `item`, `index`, ...
    pub vars: Value,
    pub templates: &'a BTreeMap<String, Value>,
    pub entropy: &'a Entropy,
    pub now: OffsetDateTime,
    /// Stored objects, for `$each` and `$get`.
    pub lookup: &'a dyn Lookup,
}

/// Where templates find stored objects (the engine's store).
pub trait Lookup {
    /// Children of (collection, parent id), as shown.
    fn children(&self, collection: &str, parent: &str) -> Vec<Value>;
    /// One object of (collection, id), as shown.
    fn object(&self, collection: &str, id: &str) -> Option<Value>;
}

impl Scope<'_> {
    /// The same scope with `extra` variables on top.
    fn with(&self, extra: &[(&str, Value)]) -> Scope<'_> {
        let mut vars = self.vars.clone();
        for (key, value) in extra {
            vars[*key] = value.clone();
        }
        Scope {
            vars,
            templates: self.templates,
            entropy: self.entropy,
            now: self.now,
            lookup: self.lookup,
        }
    }
}

/// Renders the template named `name`.
pub fn render_named(name: &str, scope: &Scope) -> Result<Value, String> {
    let template = scope
        .templates
        .get(name)
        .ok_or_else(|| format!("no template '{name}'"))?;
    render(template, scope)
}

pub fn render(template: &Value, scope: &Scope) -> Result<Value, String> {
    match template {
        Value::String(text) => render_string(text, scope),
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, scope))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => directive(map, scope),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match render_string(key, scope)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, render(value, scope)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn directive(map: &Map<String, Value>, scope: &Scope) -> Result<Value, String> {
    let name = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or("");
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        let mut extra = Vec::new();
        if let Some(Value::Object(with)) = map.get("$with") {
            for (key, value) in with {
                extra.push((key.as_str(), render(value, scope)?));
            }
        }
        let mut value = render_named(reference, &scope.with(&extra))?;
        if let (Value::Object(base), Some(Value::Object(extend))) = (&mut value, map.get("$extend")) {
            for (key, item) in extend {
                base.insert(key.clone(), render(item, scope)?);
            }
        }
        return Ok(value);
    }
    if let Some(collection) = map.get("$each").and_then(Value::as_str) {
        let parent = render_string(name("$parent"), scope)?;
        let parent = parent.as_str().unwrap_or_default();
        return scope
            .lookup
            .children(collection, parent)
            .into_iter()
            .map(|item| render_named(name("$template"), &scope.with(&[("item", item)])))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(collection) = map.get("$get").and_then(Value::as_str) {
        let id = render_string(name("$id"), scope)?;
        return match scope.lookup.object(collection, id.as_str().unwrap_or_default()) {
            Some(item) => render_named(name("$template"), &scope.with(&[("item", item)])),
            None if map.contains_key("$else") => render_named(name("$else"), scope),
            None => Ok(Value::Null),
        };
    }
    if let Some(path) = map.get("$map").and_then(Value::as_str) {
        let items = match eval(path, scope)? {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(i, item)| render_named(name("$template"), &scope.with(&[("item", item), ("index", json!(i))])))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(count) = map.get("$repeat") {
        let n = match render(count, scope)? {
            Value::Number(n) => n.as_u64().unwrap_or(0).min(1000),
            _ => 0,
        };
        return (0..n)
            .map(|i| render_named(name("$template"), &scope.with(&[("index", json!(i))])))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    Err(format!(
        "an object with $ keys needs $ref, $each, $get, $map or $repeat (has {:?})",
        map.keys().collect::<Vec<_>>()
    ))
}

/// The placeholders of `text` as (start, end, expression) byte ranges.
fn placeholders(text: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let close = text[start..]
            .find("}}")
            .ok_or_else(|| format!("'{text}': a {{{{ without }}}}"))?;
        let end = start + close + 2;
        out.push((start, end, text[start + 2..end - 2].trim()));
        rest = end;
    }
    Ok(out)
}

fn render_string(text: &str, scope: &Scope) -> Result<Value, String> {
    let found = placeholders(text)?;
    match found.as_slice() {
        [] => Ok(Value::String(text.to_owned())),
        [(0, end, expr)] if *end == text.len() => eval(expr, scope),
        _ => {
            let mut out = String::new();
            let mut last = 0;
            for (start, end, expr) in found {
                out.push_str(&text[last..start]);
                match eval(expr, scope)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                }
                last = end;
            }
            out.push_str(&text[last..]);
            Ok(Value::String(out))
        }
    }
}

fn eval(expr: &str, scope: &Scope) -> Result<Value, String> {
    for alternative in expr.split("??") {
        let value = term(alternative.trim(), scope)?;
        if !value.is_null() {
            return Ok(value);
        }
    }
    Ok(Value::Null)
}

fn term(term: &str, scope: &Scope) -> Result<Value, String> {
    if let Some(text) = term.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Ok(Value::String(text.into()));
    }
    match term {
        "null" => return Ok(Value::Null),
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(n) = term.parse::<i64>() {
        return Ok(json!(n));
    }
    if let Ok(n) = term.parse::<f64>() {
        return Ok(json!(n));
    }
    let (function, args) = term.split_once(':').unwrap_or((term, ""));
    if FUNCTIONS.contains(&function) {
        return call(function, args, scope);
    }
    Ok(lookup(&scope.vars, term))
}

/// `a.b.0.c` in `vars`; null when absent.
pub fn lookup(vars: &Value, path: &str) -> Value {
    let mut at = vars;
    for key in path.split('.') {
        at = match at {
            Value::Object(map) => map.get(key).unwrap_or(&Value::Null),
            Value::Array(items) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    at.clone()
}

fn random_below(entropy: &Entropy, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    u64::from_le_bytes(entropy.array()) % n
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

fn call(function: &str, args: &str, scope: &Scope) -> Result<Value, String> {
    let arg_number = |i: usize, default: f64| -> f64 {
        args.split(':')
            .nth(i)
            .and_then(|a| as_number(&term(a.trim(), scope).unwrap_or(Value::Null)))
            .unwrap_or(default)
    };
    let days = |sign: i64| scope.now + Duration::seconds(sign * (arg_number(0, 0.0) * 86_400.0) as i64);
    Ok(match function {
        "uuid" => Value::String(scope.entropy.uuid()),
        "now" => Value::String(timestamp(scope.now)),
        "today" => Value::String(scope.now.date().to_string()),
        "days_ago" => Value::String(timestamp(days(-1))),
        "days_ahead" => Value::String(timestamp(days(1))),
        "date_days_ago" => Value::String(days(-1).date().to_string()),
        "int" => {
            let (low, high) = (arg_number(0, 0.0) as i64, arg_number(1, 100.0) as i64);
            json!(low + random_below(scope.entropy, (high - low + 1).max(1) as u64) as i64)
        }
        "amount" => {
            let (low, high) = (
                (arg_number(0, 1.0) * 100.0) as i64,
                (arg_number(1, 1000.0) * 100.0) as i64,
            );
            let cents = low + random_below(scope.entropy, (high - low + 1).max(1) as u64) as i64;
            json!(cents as f64 / 100.0)
        }
        "digits" => {
            let n = arg_number(0, 8.0).clamp(1.0, 64.0) as usize;
            Value::String(
                (0..n)
                    .map(|_| char::from(b'0' + random_below(scope.entropy, 10) as u8))
                    .collect(),
            )
        }
        "pick" => {
            let options: Vec<&str> = args.split('|').collect();
            Value::String(options[random_below(scope.entropy, options.len() as u64) as usize].to_owned())
        }
        "choose" => match lookup(&scope.vars, args) {
            Value::Array(items) if !items.is_empty() => {
                items[random_below(scope.entropy, items.len() as u64) as usize].clone()
            }
            _ => Value::Null,
        },
        "number" => match eval(args, scope)? {
            Value::Number(n) => Value::Number(n),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => as_number(&Value::String(s)).map(|n| json!(n)).unwrap_or(Value::Null),
            },
            _ => Value::Null,
        },
        "nth" => {
            let (path, index) = args.split_once(':').unwrap_or((args, "0"));
            match lookup(&scope.vars, path) {
                Value::Array(items) if !items.is_empty() => {
                    let i = as_number(&term(index.trim(), scope)?).unwrap_or(0.0).max(0.0) as usize;
                    items[i % items.len()].clone()
                }
                _ => Value::Null,
            }
        }
        other => return Err(format!("unknown function '{other}'")),
    })
}

/// Validates a template: placeholders close, functions exist, directives
/// are known and name templates that exist.
pub fn check(template: &Value, templates: &BTreeMap<String, Value>) -> Result<(), String> {
    let known = |name: &str| {
        if templates.contains_key(name) {
            Ok(())
        } else {
            Err(format!("refers to no template '{name}'"))
        }
    };
    match template {
        Value::String(text) => {
            for (_, _, expr) in placeholders(text)? {
                for alternative in expr.split("??") {
                    let alternative = alternative.trim();
                    if alternative.is_empty() {
                        return Err(format!("'{text}': an empty expression"));
                    }
                    if let Some((function, _)) = alternative.split_once(':')
                        && !alternative.starts_with('\'')
                        && !FUNCTIONS.contains(&function)
                    {
                        return Err(format!(
                            "'{text}': unknown function '{function}' (known: {})",
                            FUNCTIONS.join(", ")
                        ));
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|v| check(v, templates)),
        Value::Object(map) => {
            if let Some(bad) = map
                .keys()
                .find(|k| k.starts_with('$') && !DIRECTIVES.contains(&k.as_str()))
            {
                return Err(format!("unknown directive '{bad}' (known: {})", DIRECTIVES.join(", ")));
            }
            for key in ["$ref", "$template", "$else"] {
                if let Some(name) = map.get(key) {
                    known(name.as_str().unwrap_or(""))?;
                }
            }
            if ["$each", "$map", "$repeat", "$get"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                known(map.get("$template").and_then(Value::as_str).unwrap_or(""))?;
            }
            map.iter().try_for_each(|(k, v)| {
                check(&Value::String(k.clone()), templates)?;
                check(v, templates)
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Lookup for Fake {
        fn children(&self, collection: &str, parent: &str) -> Vec<Value> {
            vec![json!({"c": collection, "p": parent})]
        }

        fn object(&self, _: &str, id: &str) -> Option<Value> {
            (id == "known").then(|| json!({"name": "K"}))
        }
    }

    fn scope<'a>(templates: &'a BTreeMap<String, Value>, entropy: &'a Entropy, vars: Value) -> Scope<'a> {
        Scope {
            vars,
            templates,
            entropy,
            now: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            lookup: &Fake,
        }
    }

    #[test]
    fn placeholders_keep_types_interpolate_text_and_fall_back() {
        let templates = BTreeMap::from([
            (
                "money".to_string(),
                json!({"amount": "{{value}}", "currency": "{{settings.currency}}"}),
            ),
            ("named".to_string(), json!("{{item.name}}")),
        ]);
        let entropy = Entropy::from_seed("t");
        let s = scope(
            &templates,
            &entropy,
            json!({"body": {"amount": 12.5, "name": "Ali"}, "index": 3, "settings": {"currency": "AED", "list": ["a", "b"]}}),
        );
        let t = json!({
            "amount": "{{body.amount}}",
            "text": "Hi {{body.name}}!",
            "missing": "{{body.nope ?? 'none'}}",
            "when": "{{now}}",
            "money": {"$ref": "money", "$with": {"value": "{{body.amount}}"}},
            "kids": {"$each": "accounts", "$parent": "{{body.name}}", "$template": "money"},
            "{{body.name}}_key": 1,
            "found": {"$get": "x", "$id": "known", "$template": "named"},
            "fallback": {"$get": "x", "$id": "other", "$template": "named", "$else": "money"},
            "second": "{{nth:settings.list:index}}",
            "extended": {"$ref": "money", "$with": {"value": 1}, "$extend": {"extra": "{{body.name}}"}}
        });
        let out = render(&t, &s).unwrap();
        assert_eq!(out["amount"], json!(12.5));
        assert_eq!(out["text"], "Hi Ali!");
        assert_eq!(out["missing"], "none");
        assert_eq!(out["when"], "2023-11-14T22:13:20Z");
        assert_eq!(out["money"], json!({"amount": 12.5, "currency": "AED"}));
        assert_eq!(out["kids"].as_array().unwrap().len(), 1);
        assert_eq!(out["Ali_key"], 1);
        assert_eq!(out["found"], "K");
        assert_eq!(out["fallback"]["currency"], "AED");
        assert_eq!(out["second"], "b");
        assert_eq!(out["extended"], json!({"amount": 1, "currency": "AED", "extra": "Ali"}));
    }

    #[test]
    fn generators_are_deterministic_under_a_seed() {
        let templates = BTreeMap::new();
        let t = json!([
            "{{uuid}}",
            "{{digits:12}}",
            "{{amount:10:20}}",
            "{{pick:A|B|C}}",
            "{{int:1:3}}"
        ]);
        let one = render(&t, &scope(&templates, &Entropy::from_seed("x"), json!({}))).unwrap();
        let two = render(&t, &scope(&templates, &Entropy::from_seed("x"), json!({}))).unwrap();
        assert_eq!(one, two);
        assert_eq!(one[1].as_str().unwrap().len(), 12);
        let numbers = json!(["{{number:body.a}}", "{{number:body.b}}", "{{number:body.c}}"]);
        let vars = json!({"body": {"a": 120, "b": "12.50", "c": "7"}});
        let out = render(&numbers, &scope(&templates, &Entropy::SYSTEM, vars)).unwrap();
        assert_eq!(out, json!([120, 12.5, 7]));
        let amount = one[2].as_f64().unwrap();
        assert!((10.0..=20.0).contains(&amount), "{amount}");
    }

    #[test]
    fn check_finds_unknown_functions_directives_and_templates() {
        let templates = BTreeMap::new();
        assert!(
            check(&json!("{{nope:1}}"), &templates)
                .unwrap_err()
                .contains("unknown function")
        );
        assert!(check(&json!("{{open"), &templates).unwrap_err().contains("without"));
        assert!(check(&json!({"$weird": 1}), &templates).unwrap_err().contains("$weird"));
        assert!(
            check(&json!({"$ref": "gone"}), &templates)
                .unwrap_err()
                .contains("gone")
        );
        assert!(check(&json!({"a": "{{body.x ?? 'y'}}"}), &templates).is_ok());
    }
}
