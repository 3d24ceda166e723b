//! The engine: serves any endpoint of a profile against the store.
//!
//! One function per kind (create, get, list, update, delete, action), all
//! synchronous and free of HTTP: they take the request's parts ([`Call`])
//! and the caller, and return a status and a JSON body, or a [`Failure`]
//! the router renders with the profile's error template. Objects are shown
//! "presented": their lifecycle status computed from the sandbox clock,
//! their embedded children listed, their view template applied. What a call
//! makes is listed in [`Engine::made`], with the event it sends, for
//! `events` to send once the call is over.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

pub use super::failure::Failure;
use super::failure::template_failure;
pub use super::made::{Made, MadeLog};
use super::pagination;
use super::profile::{Endpoint, Generator, Kind, Profile, Source};
use super::store::{self, Object, Store};
use super::template::{self, Lookup, Scope};
use crate::api::Caller;
use crate::entropy::Entropy;
use crate::records::DEFAULT_OWNER;

/// The parts of a request an endpoint reads.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// Path parameters by the profile's names.
    pub params: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub body: Value,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// The collection idempotent replies are kept in.
const IDEMPOTENCY: &str = "idempotency";
/// The collection `?async=true` results are kept in.
const RESULTS: &str = "results";

pub struct Engine<'a> {
    pub profile: &'a Profile,
    pub store: Store<'a>,
    pub entropy: &'a Entropy,
    pub now: OffsetDateTime,
    /// What this call made, in order.
    pub made: MadeLog,
    /// What this call makes takes its lifecycle's failure path (a fault rule).
    pub fail: bool,
}

impl Engine<'_> {
    /// Serves `endpoint` (any kind but builtin) for `caller`.
    pub fn serve(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        match endpoint.kind {
            Kind::Create => self.create(endpoint, call, caller),
            Kind::Get => self.get(endpoint, call, caller),
            Kind::List => self.list(endpoint, call, caller),
            Kind::Update => self.update(endpoint, call, caller),
            Kind::Delete => self.delete(endpoint, call, caller),
            Kind::Action => self.action(endpoint, call, caller),
            Kind::Builtin => Err(template_failure(format!(
                "endpoint '{}' is served in code",
                endpoint.id
            ))),
        }
    }

    /// Renders `failure` with the endpoint's error template.
    pub fn error_body(&self, endpoint: Option<&Endpoint>, failure: &Failure) -> Value {
        let name = endpoint.and_then(|e| e.errors.as_deref()).unwrap_or("error");
        let vars = json!({"status": failure.code, "message": failure.message});
        template::render_named(name, &self.scope(vars))
            .unwrap_or_else(|_| json!({"status": failure.code, "message": failure.message}))
    }

    fn scope(&self, mut vars: Value) -> Scope<'_> {
        vars["settings"] = self.profile.settings.clone();
        Scope {
            vars,
            templates: &self.profile.templates,
            entropy: self.entropy,
            now: self.now,
            lookup: self,
        }
    }

    pub fn render(&self, name: &str, vars: Value) -> Result<Value, Failure> {
        template::render_named(name, &self.scope(vars)).map_err(template_failure)
    }
}

impl template::Lookup for Engine<'_> {
    /// Stored children of `parent`, presented without a view.
    fn children(&self, collection: &str, parent: &str) -> Vec<Value> {
        let query = store::Query {
            parent_id: Some(parent),
            limit: pagination::MAX_SIZE,
            ..Default::default()
        };
        match self.store.list(collection, &query) {
            Ok(slice) => slice.items.into_iter().map(|o| self.lifecycle(o).body).collect(),
            Err(e) => {
                tracing::error!("provider store: {e}");
                Vec::new()
            }
        }
    }

    fn object(&self, collection: &str, id: &str) -> Option<Value> {
        match self.store.get(collection, id, None) {
            Ok(found) => found.map(|o| self.lifecycle(o).body),
            Err(e) => {
                tracing::error!("provider store: {e}");
                None
            }
        }
    }
}

impl Engine<'_> {
    /// The object with its lifecycle field set by the sandbox clock.
    pub fn lifecycle(&self, mut object: Object) -> Object {
        if let Some(lifecycle) = self.profile.lifecycle(&object.collection) {
            let elapsed = (self.now - object.created_at).whole_seconds();
            if let Some(at) = lifecycle.position(object.fails, elapsed) {
                object.body[&lifecycle.field] = Value::String(lifecycle.path(object.fails)[at].status.clone());
            }
        }
        object
    }

    /// The object as `endpoint` shows it.
    fn present(&self, endpoint: &Endpoint, object: Object) -> Result<Value, Failure> {
        let mut object = self.lifecycle(object);
        if let Some(embed) = &endpoint.embed {
            object.body[&embed.field] = Value::Array(self.children(&embed.collection, &object.id));
        }
        match &endpoint.view {
            Some(view) => {
                let mut vars = object_vars(&object);
                vars["history"] = self.history(&object);
                self.render(view, vars)
            }
            None => Ok(object.body),
        }
    }

    /// The statuses `object` has reached and when, for views that show a
    /// status history (`{{history}}`); empty without a lifecycle.
    fn history(&self, object: &Object) -> Value {
        let reached = self.profile.lifecycle(&object.collection).map(|l| {
            l.reached(object.fails, object.created_at, self.now)
                .map(|(status, at)| json!({ "status": status, "timestamp": template::timestamp(at) }))
                .collect()
        });
        Value::Array(reached.unwrap_or_default())
    }

    fn source(&self, source: &Source, call: &Call) -> Option<String> {
        let value = match source {
            Source::Param(name) => call.params.get(name).cloned(),
            Source::Query(name) => call.query.get(name).cloned(),
            Source::Body(name) => match template::lookup(&call.body, name) {
                Value::String(s) => Some(s),
                Value::Null => None,
                other => Some(other.to_string()),
            },
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// The endpoint's parent object, when it declares one (400 when the
    /// request does not name it, 404 when it does not exist).
    fn parent(&self, endpoint: &Endpoint, call: &Call) -> Result<Option<Object>, Failure> {
        let Some(source) = &endpoint.parent else {
            return Ok(None);
        };
        let id = self
            .source(source, call)
            .ok_or_else(|| Failure::bad_request(format!("{} is required", source.name())))?;
        let Some(collection) = &endpoint.parent_collection else {
            return Ok(Some(Object {
                collection: String::new(),
                id,
                parent_id: None,
                customer_id: None,
                created_at: self.now,
                body: Value::Null,
                fails: false,
            }));
        };
        match self.store.get(collection, &id, None)? {
            Some(parent) => Ok(Some(parent)),
            None => Err(Failure::not_found(format!(
                "no {} with {} '{id}'",
                singular(collection),
                source.name()
            ))),
        }
    }

    fn base_vars(&self, call: &Call, parent: Option<&Object>) -> Value {
        json!({
            "body": call.body,
            "query": call.query,
            "param": call.params,
            "parent": parent.map(|p| p.body.clone()).unwrap_or(Value::Null),
            "parent_id": parent.map(|p| p.id.clone()),
            "customer_id": parent.and_then(customer_of),
        })
    }

    fn create(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        // Keys are per application, as the store is; the default
        // application's keep the form they had before there were others.
        let key = match (&call.idempotency_key, endpoint.idempotent, self.store.owner()) {
            (Some(key), true, DEFAULT_OWNER) => Some(format!("{}:{key}", endpoint.id)),
            (Some(key), true, owner) => Some(format!("{owner}:{}:{key}", endpoint.id)),
            _ => None,
        };
        if let Some(key) = &key
            && let Some(seen) = self.store.get(IDEMPOTENCY, key, None)?
        {
            return Ok(Reply {
                status: seen.body["status"].as_u64().unwrap_or(200) as u16,
                body: seen.body["body"].clone(),
            });
        }
        let body = if endpoint.batch {
            let items = match &call.body {
                Value::Array(items) if !items.is_empty() && items.len() <= 100 => items,
                _ => {
                    return Err(Failure::bad_request(
                        "the body must be a JSON array of 1 to 100 objects",
                    ));
                }
            };
            let mut made = Vec::new();
            for item in items {
                let one = Call {
                    body: item.clone(),
                    ..call.clone()
                };
                made.push(self.create_one(endpoint, &one, caller)?);
            }
            Value::Array(made)
        } else {
            self.create_one(endpoint, call, caller)?
        };
        let reply = Reply {
            status: endpoint.status,
            body,
        };
        if let Some(key) = key {
            self.store.insert(&Object {
                collection: IDEMPOTENCY.into(),
                id: key,
                parent_id: None,
                customer_id: None,
                created_at: self.now,
                body: json!({"status": reply.status, "body": reply.body}),
                fails: false,
            })?;
        }
        Ok(reply)
    }

    /// Stores one object (and its children) and shows it.
    fn create_one(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Value, Failure> {
        required(endpoint, &call.body)?;
        let parent = self.parent(endpoint, call)?;
        authorize(caller, parent.as_ref().and_then(customer_of).as_deref())?;
        let generator = Generator {
            collection: endpoint.collection.clone().unwrap_or_default(),
            template: endpoint.template.clone().unwrap_or_default(),
            count: 1,
            children: endpoint.children.clone(),
            event: None,
        };
        let vars = self.base_vars(call, parent.as_ref());
        let first = self.made.len();
        let created = self.generate(&generator, parent.as_ref(), &vars)?;
        let object = created
            .into_iter()
            .next()
            .ok_or_else(|| template_failure("nothing created".into()))?;
        let id = object.id.clone();
        let shown = self.present(endpoint, object)?;
        if let Some(event) = &endpoint.event {
            self.made.announce(first, Some(&id), event, &shown);
        }
        Ok(shown)
    }

    /// Makes `generator.count` objects under `parent` (and their children).
    pub fn generate(
        &self,
        generator: &Generator,
        parent: Option<&Object>,
        vars: &Value,
    ) -> Result<Vec<Object>, Failure> {
        let mut made = Vec::new();
        for index in 0..generator.count {
            let id = self.entropy.uuid();
            let mut vars = vars.clone();
            vars["id"] = json!(id);
            vars["index"] = json!(index);
            vars["now_at"] = json!(template::timestamp(self.now));
            if let Some(parent) = parent {
                vars["parent"] = parent.body.clone();
                vars["parent_id"] = json!(parent.id);
                vars["customer_id"] = json!(customer_of(parent));
            }
            let body = self.render(&generator.template, vars.clone())?;
            let fails = self.fail
                && self
                    .profile
                    .lifecycle(&generator.collection)
                    .is_some_and(|l| l.fail.is_some());
            let object = Object {
                collection: generator.collection.clone(),
                id,
                parent_id: parent.map(|p| p.id.clone()),
                customer_id: parent.and_then(customer_of),
                created_at: self.now,
                body,
                fails,
            };
            self.store.insert(&object)?;
            let lifecycle = self.profile.lifecycle(&object.collection);
            if generator.event.is_some() || lifecycle.is_some_and(|l| l.event.is_some()) {
                let event = generator.event.as_ref();
                let event = event.map(|e| (e.clone(), self.lifecycle(object.clone()).body));
                self.made.push(Made {
                    object: Some(object.clone()),
                    event,
                });
            }
            for child in &generator.children {
                self.generate(child, Some(&object), &vars)?;
            }
            made.push(object);
        }
        Ok(made)
    }

    fn find(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Object, Failure> {
        let source = endpoint
            .id_from
            .as_ref()
            .ok_or_else(|| template_failure("no id_from".into()))?;
        let id = self
            .source(source, call)
            .ok_or_else(|| Failure::bad_request(format!("{} is required", source.name())))?;
        let collection = endpoint.collection.as_deref().unwrap_or_default();
        let missing = || Failure::not_found(format!("no {} with {} '{id}'", singular(collection), source.name()));
        let object = self
            .store
            .get(collection, &id, endpoint.by_field.as_deref())?
            .ok_or_else(missing)?;
        if let Some(Source::Param(name)) = &endpoint.parent
            && call.params.get(name) != object.parent_id.as_ref()
        {
            return Err(missing());
        }
        authorize(caller, object.customer_id.as_deref())?;
        Ok(object)
    }

    fn get(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        let object = self.find(endpoint, call, caller)?;
        Ok(Reply {
            status: endpoint.status,
            body: self.present(endpoint, object)?,
        })
    }

    fn delete(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        let object = self.find(endpoint, call, caller)?;
        self.store.delete(&object.collection, &object.id)?;
        let body = match &endpoint.template {
            Some(name) => self.render(name, object_vars(&object))?,
            None => json!({}),
        };
        Ok(Reply {
            status: endpoint.status,
            body,
        })
    }

    fn list(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        let page = match &endpoint.envelope {
            Some(_) => pagination::parse(endpoint.pagination, &call.query).map_err(Failure::bad_request)?,
            None => pagination::PageRequest {
                number: 0,
                size: pagination::MAX_SIZE,
            },
        };
        let parent = self.parent(endpoint, call)?;
        let customer = parent.as_ref().and_then(customer_of);
        authorize(caller, customer.as_deref())?;
        let (from, to) = match &endpoint.date_range {
            Some((from, to)) => (date(call, from)?, date(call, to)?),
            None => (None, None),
        };
        let query = store::Query {
            parent_id: parent.as_ref().map(|p| p.id.as_str()),
            fields: endpoint
                .filters
                .iter()
                .filter_map(|(param, field)| call.query.get(param).map(|v| (field.as_str(), v.as_str())))
                .collect(),
            from: from.as_deref(),
            to: to.as_deref(),
            offset: page.offset(),
            limit: page.size,
        };
        let collection = endpoint.collection.as_deref().unwrap_or_default();
        let slice = self.store.list(collection, &query)?;
        let items = slice
            .items
            .into_iter()
            .map(|o| self.present(endpoint, o))
            .collect::<Result<Vec<_>, _>>()?;
        let body = match &endpoint.envelope {
            Some(envelope) => self.envelope(endpoint, envelope, Value::Array(items), page.page(slice.total))?,
            None => Value::Array(items),
        };
        self.maybe_async(endpoint, call, customer, body)
    }

    pub fn envelope(&self, endpoint: &Endpoint, envelope: &str, items: Value, page: Value) -> Result<Value, Failure> {
        let mut vars = json!({"items": items, "page": page});
        for (key, value) in &endpoint.envelope_vars {
            vars[key] = value.clone();
        }
        self.render(envelope, vars)
    }

    /// With `?async=true`, keeps `body` as a result to fetch later and
    /// answers the "pending" template with its `results_id`.
    fn maybe_async(
        &self,
        endpoint: &Endpoint,
        call: &Call,
        customer: Option<String>,
        body: Value,
    ) -> Result<Reply, Failure> {
        let wants_async = call.query.get("async").is_some_and(|v| v == "true")
            || call.body.get("async").is_some_and(|v| v == "true" || v == true);
        if !(endpoint.async_results && wants_async) {
            return Ok(Reply {
                status: endpoint.status,
                body,
            });
        }
        let id = self.entropy.uuid();
        let mut stored = body;
        if stored.get("results_id").is_some() {
            stored["results_id"] = json!(id);
        }
        self.store.insert(&Object {
            collection: RESULTS.into(),
            id: id.clone(),
            parent_id: None,
            customer_id: customer,
            created_at: self.now,
            body: stored,
            fails: false,
        })?;
        Ok(Reply {
            status: endpoint.status,
            body: self.render("pending", json!({"results_id": id}))?,
        })
    }

    fn update(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        required(endpoint, &call.body)?;
        let field = endpoint.targets.as_deref().unwrap_or_default();
        let ids: Vec<String> = match template::lookup(&call.body, field) {
            Value::Array(ids) => ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Value::String(id) => vec![id],
            _ => Vec::new(),
        };
        if ids.is_empty() {
            return Err(Failure::bad_request(format!("{field} must list at least one id")));
        }
        let collection = endpoint.collection.as_deref().unwrap_or_default();
        let mut objects = Vec::new();
        for id in &ids {
            let object = self
                .store
                .get(collection, id, None)?
                .ok_or_else(|| Failure::not_found(format!("no {} with id '{id}'", singular(collection))))?;
            authorize(caller, object.customer_id.as_deref())?;
            objects.push(object);
        }
        let mut shown = Vec::new();
        for mut object in objects {
            let mut vars = object_vars(&object);
            vars["body"] = call.body.clone();
            let scope = self.scope(vars);
            for (key, expr) in &endpoint.set {
                object.body[key] = template::render(&Value::String(expr.clone()), &scope).map_err(template_failure)?;
            }
            self.store.update(&object)?;
            shown.push(self.present(endpoint, object)?);
        }
        Ok(Reply {
            status: endpoint.status,
            body: Value::Array(shown),
        })
    }

    fn action(&self, endpoint: &Endpoint, call: &Call, caller: &Caller) -> Result<Reply, Failure> {
        required(endpoint, &call.body)?;
        let parent = self.parent(endpoint, call)?;
        let customer = parent.as_ref().and_then(customer_of);
        authorize(caller, customer.as_deref())?;
        let mut vars = self.base_vars(call, parent.as_ref());
        vars["id"] = json!(self.entropy.uuid());
        let body = self.render(endpoint.template.as_deref().unwrap_or_default(), vars)?;
        let reply = self.maybe_async(endpoint, call, customer, body)?;
        if let Some(event) = &endpoint.event {
            self.made.announce(self.made.len(), None, event, &reply.body);
        }
        Ok(reply)
    }
}

/// The customer an object belongs to (a customer belongs to itself).
fn customer_of(object: &Object) -> Option<String> {
    if object.collection == store::CUSTOMERS {
        Some(object.id.clone())
    } else {
        object.customer_id.clone()
    }
}

/// A template's view of a stored object: its body as `obj`, and its ids.
pub fn object_vars(object: &Object) -> Value {
    json!({
        "obj": object.body,
        "id": object.id,
        "parent_id": object.parent_id,
        "customer_id": object.customer_id,
        "created_at": template::timestamp(object.created_at),
    })
}

/// Customer-scoped tokens may touch their own customer's objects; all else needs `api`.
fn authorize(caller: &Caller, customer: Option<&str>) -> Result<(), Failure> {
    match customer {
        Some(id) => caller.require_customer(id),
        None => caller.require_api(),
    }
    .map_err(Failure::from)
}

fn required(endpoint: &Endpoint, body: &Value) -> Result<(), Failure> {
    if endpoint.required.is_empty() {
        return Ok(());
    }
    if !body.is_object() {
        return Err(Failure::bad_request("the body must be a JSON object"));
    }
    let wrong: Vec<String> = endpoint
        .required
        .iter()
        .filter(|(name, kind)| !kind.holds(&template::lookup(body, name)))
        .map(|(name, kind)| format!("{name} ({})", kind.name()))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Failure::bad_request(format!(
            "missing or invalid: {}",
            wrong.join(", ")
        )))
    }
}

/// A `YYYY-MM-DD` query parameter.
fn date(call: &Call, name: &str) -> Result<Option<String>, Failure> {
    match call.query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(text) => time::Date::parse(text, &time::format_description::well_known::Iso8601::DATE)
            .map(|d| Some(d.to_string()))
            .map_err(|_| Failure::bad_request(format!("{name} must be a date like 2024-01-31; got '{text}'"))),
    }
}

/// "payment" for "payments", for messages.
fn singular(collection: &str) -> String {
    collection.strip_suffix('s').unwrap_or(collection).replace('_', " ")
}
