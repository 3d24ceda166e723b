//! A provider profile: the API surface a sandbox imitates, as data.
//!
//! A profile is a folder (`fixtures/providers/<name>/`) with a
//! `profile.toml` (endpoints, lifecycles, what linking a bank creates,
//! settings) and the JSON template files it lists (response shapes). A
//! profile may `extends` another and `exclude` some of its endpoints, so a
//! region's profile only writes what differs. The built-in profiles are
//! compiled in; a user's own is read from disk.
//!
//! This module owns the profile's types; `loader` reads and merges the
//! files and `validate` checks the result. It knows nothing of HTTP or
//! storage.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The profile a sandbox serves when the config names none.
pub const DEFAULT_PROFILE: &str = "lean-uae";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    #[error("provider profile file {file}: {detail}")]
    File { file: String, detail: String },
    #[error(
        "no provider profile '{0}': use a built-in one (lean-uae, lean-ksa) or a path to a folder with a profile.toml"
    )]
    Unknown(String),
}

pub(super) fn file_error(file: &str, detail: impl Into<String>) -> ProfileError {
    ProfileError::File {
        file: file.to_owned(),
        detail: detail.into(),
    }
}

/// What an endpoint does with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Served by a handler in code (customers, banks).
    Builtin,
    /// Stores a new object rendered from `template`.
    Create,
    /// One object by id.
    Get,
    /// Objects of a collection, optionally of one parent.
    List,
    /// Changes fields (`set`) of the objects named by `targets`.
    Update,
    /// Removes one object.
    Delete,
    /// Stores nothing: answers `template`, rendered from the request.
    Action,
}

/// Where a value comes from in the request: `param:x`, `query:x`, `body:x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Param(String),
    Query(String),
    Body(String),
}

impl Source {
    fn parse(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some(("param", name)) if !name.is_empty() => Ok(Source::Param(name.into())),
            Some(("query", name)) if !name.is_empty() => Ok(Source::Query(name.into())),
            Some(("body", name)) if !name.is_empty() => Ok(Source::Body(name.into())),
            _ => Err(format!(
                "'{text}' is not a source: write param:NAME, query:NAME or body:NAME"
            )),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Source::Param(n) | Source::Query(n) | Source::Body(n) => n,
        }
    }
}

/// How a list's page is asked for in the query string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStyle {
    /// `page_number` and `page_size` (customers, consents, payouts).
    #[default]
    PageNumber,
    /// `page` and `size` (data v2, refunds).
    Page,
}

/// The type a required body field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Number,
    Object,
    Array,
    Bool,
}

impl FieldType {
    pub fn holds(self, value: &Value) -> bool {
        match self {
            FieldType::String => value.as_str().is_some_and(|s| !s.trim().is_empty()),
            FieldType::Number => value.is_number() || value.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
            FieldType::Object => value.is_object(),
            FieldType::Array => value.is_array(),
            FieldType::Bool => value.is_boolean(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "a non-empty string",
            FieldType::Number => "a number",
            FieldType::Object => "an object",
            FieldType::Array => "an array",
            FieldType::Bool => "true or false",
        }
    }
}

/// Objects made together: one `template` rendered `count` times into
/// `collection`, each with its own `children`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub collection: String,
    pub template: String,
    #[serde(default = "one")]
    pub count: usize,
    #[serde(default)]
    pub children: Vec<Generator>,
    /// The webhook event each object made sends (`entity.created`).
    pub event: Option<String>,
}

fn one() -> usize {
    1
}

/// Children of an object listed inside it (an intent's payments).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Embed {
    pub field: String,
    pub collection: String,
}

/// Statuses an object of `collection` moves through on the sandbox clock:
/// `field` holds the last step whose `after` seconds have passed since it
/// was created. An object made while a fault rule forces failure takes the
/// `fail` path instead: the steps before `fail.after`, then `fail.status`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    pub collection: String,
    pub field: String,
    pub steps: Vec<Step>,
    /// The failure outcome a fault rule's `fail` forces.
    pub fail: Option<Step>,
    /// The webhook event each step after the first sends (`payment.updated`).
    pub event: Option<String>,
    /// The template an event's payload is shown with [default: the stored object].
    pub view: Option<String>,
}

impl Lifecycle {
    /// The steps an object goes through, in order: `steps`, or for one that
    /// fails (and a lifecycle that declares `fail`), those before
    /// `fail.after` and then `fail`.
    pub fn path(&self, fails: bool) -> Vec<&Step> {
        match (&self.fail, fails) {
            (Some(fail), true) => self
                .steps
                .iter()
                .filter(|s| s.after < fail.after)
                .chain(std::iter::once(fail))
                .collect(),
            _ => self.steps.iter().collect(),
        }
    }

    /// The statuses an object made at `created_at` has reached by `now`, in
    /// order, each with when it was reached (creation plus the step's delay).
    pub fn reached(
        &self,
        fails: bool,
        created_at: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> impl Iterator<Item = (&str, time::OffsetDateTime)> {
        let upto = self
            .position(fails, (now - created_at).whole_seconds())
            .map_or(0, |at| at + 1);
        self.path(fails)
            .into_iter()
            .take(upto)
            .map(move |step| (step.status.as_str(), created_at + time::Duration::seconds(step.after)))
    }

    /// The index in [`Lifecycle::path`] of the step an object is at
    /// `elapsed` seconds after it was made (`None` before the first).
    pub fn position(&self, fails: bool, elapsed: i64) -> Option<usize> {
        self.path(fails).iter().rposition(|s| s.after <= elapsed)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub status: String,
    pub after: i64,
}

/// One documented endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub id: String,
    pub method: String,
    /// With `{params}`, e.g. `/data/v2/accounts/{account_id}/balances`.
    pub path: String,
    /// Also answer on the path with a trailing slash.
    #[serde(default)]
    pub trailing_slash: bool,
    pub kind: Kind,
    /// For `builtin`: the handler's name.
    pub builtin: Option<String>,
    pub collection: Option<String>,
    /// What `create` stores, or what an `action` answers.
    pub template: Option<String>,
    /// The response shape of one object when it is not the stored one.
    pub view: Option<String>,
    #[serde(default = "ok")]
    pub status: u16,
    /// A template wrapping a list (`page`, `content`, `data`); a bare array without.
    pub envelope: Option<String>,
    /// Variables for the envelope template (e.g. the data v2 `type`).
    #[serde(default)]
    pub envelope_vars: BTreeMap<String, Value>,
    #[serde(default)]
    pub pagination: PageStyle,
    /// Where the parent's id is: a list's filter, a create's owner.
    #[serde(default, deserialize_with = "source")]
    pub parent: Option<Source>,
    /// The parent's collection (`customers` is the customers table): an
    /// unknown parent is a 404.
    pub parent_collection: Option<String>,
    /// Where the object's id is (get, delete).
    #[serde(default, deserialize_with = "source")]
    pub id_from: Option<Source>,
    /// Find the object by this body field instead of its id.
    pub by_field: Option<String>,
    /// Body fields a create/action needs, and their types.
    #[serde(default)]
    pub required: BTreeMap<String, FieldType>,
    /// For `create`: the body is an array, one object made per element.
    #[serde(default)]
    pub batch: bool,
    /// A repeated `Idempotency-Key` gets the first response again.
    #[serde(default)]
    pub idempotent: bool,
    /// Objects made under a created one.
    #[serde(default)]
    pub children: Vec<Generator>,
    pub embed: Option<Embed>,
    /// Query parameters filtering a list by an object field (`status`).
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// Query parameters bounding `created_at` (`start_date`, `end_date`).
    #[serde(default)]
    pub date_range: Option<(String, String)>,
    /// `?async=true` answers "pending" with a `results_id` to fetch later.
    #[serde(default)]
    pub async_results: bool,
    /// For `update`: the body field listing target ids, and the fields set.
    pub targets: Option<String>,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// The error template (`error` unless set, e.g. `error_results`).
    pub errors: Option<String>,
    /// The webhook event a create (per object made) or an action sends,
    /// with what it answers as the payload (`payment.created`).
    pub event: Option<String>,
}

fn ok() -> u16 {
    200
}

fn source<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Source>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| Source::parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// A loaded, validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Values templates read as `settings.*` (currency, country, names).
    pub settings: Value,
    pub templates: BTreeMap<String, Value>,
    pub lifecycles: Vec<Lifecycle>,
    /// What linking a customer to a bank creates (under the customer).
    pub link: Vec<Generator>,
    pub endpoints: Vec<Endpoint>,
}

impl Profile {
    pub fn lifecycle(&self, collection: &str) -> Option<&Lifecycle> {
        self.lifecycles.iter().find(|l| l.collection == collection)
    }
}

impl Generator {
    /// This generator and all below it.
    pub fn walk(&self) -> Vec<&Generator> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.walk());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn built_in_profiles_load_and_ksa_extends_uae() {
        let uae = Profile::built_in("lean-uae");
        let ksa = Profile::built_in("lean-ksa");
        assert_eq!(uae.settings["currency"], "AED");
        assert_eq!(ksa.settings["currency"], "SAR");
        let has = |p: &Profile, id: &str| p.endpoints.iter().any(|e| e.id == id);
        assert!(has(&uae, "payments.intents.create") && !has(&ksa, "payments.intents.create"));
        assert!(has(&ksa, "verifications.entity") && !has(&uae, "verifications.entity"));
        assert!(has(&ksa, "data.accounts") && has(&ksa, "customers.create"));
    }

    fn lifecycle(fail: Option<Step>) -> Lifecycle {
        let step = |status: &str, after| Step {
            status: status.into(),
            after,
        };
        Lifecycle {
            collection: "payments".into(),
            field: "status".into(),
            steps: vec![step("NEW", 0), step("PENDING", 60), step("DONE", 300)],
            fail,
            event: None,
            view: None,
        }
    }

    #[test]
    fn reached_lists_each_status_passed_once_with_its_time() {
        let uae = Profile::built_in("lean-uae");
        let payouts = uae.lifecycle("payouts").unwrap();
        let made = time::macros::datetime!(2026-01-01 00:00 UTC);
        let statuses = |fails, secs| {
            payouts
                .reached(fails, made, made + time::Duration::seconds(secs))
                .map(|(status, at)| (status.to_owned(), (at - made).whole_seconds()))
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(false, 0), [("PENDING_AUTHORIZATION".to_owned(), 0)]);
        assert_eq!(
            statuses(false, 600),
            [
                ("PENDING_AUTHORIZATION".to_owned(), 0),
                ("PENDING_WITH_BANK".to_owned(), 60),
                ("ACCEPTED_BY_BANK".to_owned(), 300)
            ]
        );
        assert!(
            statuses(false, -5).is_empty(),
            "a clock moved back before creation shows nothing"
        );
        assert_eq!(statuses(true, 600).last().unwrap().0, "FAILED");
    }

    #[test]
    fn a_failing_object_leaves_the_steps_at_fail_after() {
        let plain = lifecycle(None);
        let statuses = |l: &Lifecycle, fails| l.path(fails).iter().map(|s| s.status.clone()).collect::<Vec<_>>();
        assert_eq!(statuses(&plain, true), ["NEW", "PENDING", "DONE"], "no fail declared");
        let failing = lifecycle(Some(Step {
            status: "FAILED".into(),
            after: 300,
        }));
        assert_eq!(statuses(&failing, false), ["NEW", "PENDING", "DONE"]);
        assert_eq!(statuses(&failing, true), ["NEW", "PENDING", "FAILED"]);
        assert_eq!(failing.position(true, -5), None);
        assert_eq!(failing.position(true, 0), Some(0));
        assert_eq!(failing.position(true, 299), Some(1));
        assert_eq!(failing.position(true, 10_000), Some(2));
    }

    fn write_profile(dir: &Path, toml: &str, templates: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("profile.toml"), toml).unwrap();
        std::fs::write(dir.join("t.json"), templates).unwrap();
    }

    const BASE_TEMPLATES: &str = r#"{"error": {}, "error_results": {}, "pending": {}, "thing": {"id": "{{obj.id}}"}}"#;

    #[test]
    fn errors_name_the_file_and_the_field() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mine");
        let load = |toml: &str, templates: &str| {
            write_profile(&dir, toml, templates);
            Profile::load("./mine", tmp.path()).unwrap_err().to_string()
        };
        let err = load("name = \"x\"\nendpionts = []\n", BASE_TEMPLATES);
        assert!(err.contains("profile.toml") && err.contains("endpionts"), "{err}");
        let err = load("name = \"x\"\ntemplates = [\"t.json\"]\n", "[1]");
        assert!(err.contains("t.json") && err.contains("not a JSON object"), "{err}");
        let head = "name = \"x\"\ntemplates = [\"t.json\"]\n[[endpoints]]\nid = \"things\"\nmethod = \"GET\"\n";
        let err = load(&format!("{head}path = \"/things\"\nkind = \"list\"\n"), BASE_TEMPLATES);
        assert!(err.contains("endpoint 'things'") && err.contains("collection"), "{err}");
        let err = load(
            &format!(
                "{head}path = \"/things/{{id}}\"\nkind = \"get\"\ncollection = \"t\"\nid_from = \"param:thing_id\"\n"
            ),
            BASE_TEMPLATES,
        );
        assert!(err.contains("param:thing_id"), "{err}");
        let err = load(
            &format!("{head}path = \"/things\"\nkind = \"action\"\ntemplate = \"nope\"\n"),
            BASE_TEMPLATES,
        );
        assert!(err.contains("no template 'nope'"), "{err}");
        let err = load(
            &format!("{head}path = \"/things\"\nkind = \"list\"\ncollection = \"t\"\nparent = \"header:x\"\n"),
            BASE_TEMPLATES,
        );
        assert!(err.contains("parent") && err.contains("header:x"), "{err}");
        let err = load(
            &format!("{head}path = \"/oauth2/token\"\nkind = \"action\"\ntemplate = \"thing\"\n"),
            BASE_TEMPLATES,
        );
        assert!(err.contains("the sandbox's own"), "{err}");
        // axum would panic mounting these: refused at load, naming the segment.
        for path in ["/things/*rest", "/things/:id", "/things/x{id}"] {
            let err = load(
                &format!("{head}path = \"{path}\"\nkind = \"action\"\ntemplate = \"thing\"\n"),
                BASE_TEMPLATES,
            );
            assert!(
                err.contains("endpoint 'things'") && err.contains("path segment"),
                "{path}: {err}"
            );
        }
        let err = load(
            "name = \"x\"\ntemplates = [\"t.json\"]\n",
            r#"{"error": {"$ref": "gone"}}"#,
        );
        assert!(err.contains("template 'error'") && err.contains("gone"), "{err}");
        let err = load(
            "name = \"x\"\nextends = \"lean-uae\"\nexclude = [\"no.such\"]\n",
            BASE_TEMPLATES,
        );
        assert!(err.contains("exclude") && err.contains("no.such"), "{err}");
        let err = load(
            &format!(
                "{head}path = \"/things\"\nkind = \"action\"\ntemplate = \"thing\"\nevent = \"payment.craeted\"\n"
            ),
            BASE_TEMPLATES,
        );
        assert!(
            err.contains("profile 'x'") && err.contains("endpoint 'things'") && err.contains("'payment.craeted'"),
            "{err}"
        );
        assert!(err.contains("payment.created"), "lists the known events: {err}");
        let err = load(
            &format!("{head}path = \"/things\"\nkind = \"list\"\ncollection = \"t\"\nevent = \"payment.created\"\n"),
            BASE_TEMPLATES,
        );
        assert!(err.contains("only create and action"), "{err}");
        let err = load(
            "name = \"x\"\ntemplates = [\"t.json\"]\n[[lifecycles]]\ncollection = \"p\"\nfield = \"status\"\n\
             event = \"payment.update\"\nsteps = [{ status = \"A\", after = 0 }]\n",
            BASE_TEMPLATES,
        );
        assert!(
            err.contains("lifecycle 'p'") && err.contains("'payment.update'"),
            "{err}"
        );
        let err = load(
            "name = \"x\"\ntemplates = [\"t.json\"]\n[[link]]\ncollection = \"entities\"\ntemplate = \"thing\"\n\
             event = \"entity.create\"\n",
            BASE_TEMPLATES,
        );
        assert!(
            err.contains("link 'entities'") && err.contains("'entity.create'"),
            "{err}"
        );
        assert_eq!(
            Profile::load("lean-mars", tmp.path()).unwrap_err(),
            ProfileError::Unknown("lean-mars".into())
        );
    }

    #[test]
    fn a_disk_profile_extends_a_built_in_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mine");
        write_profile(
            &dir,
            "name = \"mine\"\nextends = \"lean-uae\"\ntemplates = [\"t.json\"]\n[settings]\ncurrency = \"EUR\"\n\
             [[endpoints]]\nid = \"things\"\nmethod = \"GET\"\npath = \"/things\"\nkind = \"list\"\ncollection = \"things\"\nview = \"thing\"\n",
            r#"{"thing": {"id": "{{obj.id}}"}}"#,
        );
        let profile = Profile::load(dir.to_str().unwrap(), Path::new("/")).unwrap();
        assert_eq!(profile.settings["currency"], "EUR");
        assert!(profile.endpoints.iter().any(|e| e.id == "things"));
        assert!(profile.endpoints.iter().any(|e| e.id == "customers.list"));
    }
}
