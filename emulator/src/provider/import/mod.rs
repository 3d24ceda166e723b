//! The user's own endpoints: requests imported from a Postman collection
//! (v2.1) or an OpenAPI 3 document (JSON), each answered with its saved
//! example, behind the host's authentication.
//!
//! This module owns what an imported request is ([`Request`], its
//! [`Example`]) and reading one file ([`ApiFile::load`]); [`postman`] and
//! [`openapi`] parse the two formats into it, [`substitute`] puts the
//! caller's path parameters into the example, [`serve`] decides which
//! imported requests the built-in profile shadows and answers the rest.
//! Mounting goes through the provider's `mount`, like the profile's own.
//!
//! Everything is checked when the file is read, so a bad file stops `up`
//! with a message naming the file and the item; a request never fails on
//! what the file says.

mod openapi;
mod postman;
pub mod serve;
pub mod substitute;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::http::{HeaderValue, StatusCode};
use serde_json::Value;

pub use serve::Imported;

/// What is wrong with an API file; every variant names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read API file {}: {detail}", file.display())]
    Read { file: PathBuf, detail: String },
    #[error("API file {}: {detail}", file.display())]
    Format { file: PathBuf, detail: String },
    #[error("API file {}: {item}: {detail}", file.display())]
    Item {
        file: PathBuf,
        item: String,
        detail: String,
    },
    #[error(
        "API file {}: {item}: {request} is already imported from {} ({other_item}); \
         keep one of them (two API files may not answer the same request)",
        file.display(), other_file.display()
    )]
    Conflict {
        file: PathBuf,
        item: String,
        /// `GET /widgets/{id}`.
        request: String,
        other_file: PathBuf,
        other_item: String,
    },
}

/// One imported request: a route answered with its example.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// How messages name it: `item "Get widget" (folder "Widgets")`.
    pub item: String,
    /// GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// `/widgets/{id}`: no trailing slash (both forms are answered).
    pub path: String,
    /// The path's parameters and the value the example was made with.
    pub params: Vec<Param>,
    pub example: Example,
}

/// A path parameter and the value the file's example used for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub example: Option<String>,
}

/// The saved response a request is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub status: StatusCode,
    /// `None` for an empty body.
    pub content_type: Option<HeaderValue>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    Text(String),
}

/// The methods an imported request may have.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One API file, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFile {
    pub path: PathBuf,
    pub requests: Vec<Request>,
}

impl ApiFile {
    /// Reads a Postman collection v2.1 or an OpenAPI 3 document (JSON).
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ImportError::Read {
            file: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ImportError> {
        let format = |detail: String| ImportError::Format {
            file: path.to_path_buf(),
            detail,
        };
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            format(if yaml {
                "YAML is not supported: convert the document to JSON (e.g. export it as JSON from your editor)".into()
            } else {
                format!("not valid JSON: {e}")
            })
        })?;
        let schema = doc.pointer("/info/schema").and_then(Value::as_str).unwrap_or("");
        let openapi = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
        let requests = if schema.contains("v2.1.0") {
            postman::parse(&doc)
        } else if schema.contains("/collection/") {
            return Err(format(format!(
                "Postman collection schema {schema} is not supported: export the collection as Collection v2.1"
            )));
        } else if openapi.starts_with("3.") {
            openapi::parse(&doc)
        } else if doc.get("swagger").is_some() {
            return Err(format(
                "Swagger 2.0 is not supported: convert the document to OpenAPI 3".into(),
            ));
        } else {
            return Err(format(
                "neither a Postman collection v2.1 (info.schema) nor an OpenAPI 3 document (openapi: \"3.x\")".into(),
            ));
        };
        let requests = requests.map_err(|(item, detail)| ImportError::Item {
            file: path.to_path_buf(),
            item,
            detail,
        })?;
        let file = Self {
            path: path.to_path_buf(),
            requests,
        };
        let mut seen = BTreeMap::new();
        for request in &file.requests {
            for key in request.keys() {
                if let Some(first) = seen.insert(key, &request.item) {
                    return Err(ImportError::Item {
                        file: file.path.clone(),
                        item: request.item.clone(),
                        detail: format!(
                            "{} {} is also {first}: save both responses as examples of one request",
                            request.method, request.path
                        ),
                    });
                }
            }
        }
        Ok(file)
    }
}

impl Request {
    /// What this request is mounted as (with its trailing-slash twin).
    pub fn keys(&self) -> Vec<super::mount::Key> {
        super::mount::keys(&self.method, &self.path, true)
    }
}

/// Every API file of a sandbox, in the order given; no request twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiFiles(pub Vec<ApiFile>);

impl ApiFiles {
    /// Adds `file` unless one of its requests is already another file's.
    pub fn add(&mut self, file: ApiFile) -> Result<(), ImportError> {
        for request in &file.requests {
            let keys = request.keys();
            for other_file in &self.0 {
                if let Some(other) = other_file.requests.iter().find(|o| o.keys() == keys) {
                    return Err(ImportError::Conflict {
                        file: file.path.clone(),
                        item: request.item.clone(),
                        request: format!("{} {}", request.method, request.path),
                        other_file: other_file.path.clone(),
                        other_item: other.item.clone(),
                    });
                }
            }
        }
        self.0.push(file);
        Ok(())
    }

    /// Reads the file at `path` and adds it.
    pub fn load(&mut self, path: &Path) -> Result<(), ImportError> {
        self.add(ApiFile::load(path)?)
    }
}

/// A parser's error: the item it was reading and what is wrong.
pub(super) type ItemError = (String, String);

/// Checks a method read from a file.
fn check_method(method: &str) -> Result<String, String> {
    let upper = method.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!(
            "method '{method}' is not supported: use {}",
            METHODS.join(", ")
        ))
    }
}

/// The route path for `segments` (parameters already written `{name}`):
/// empty segments dropped, parameters whole segments, not the sandbox's
/// own. Returns the path and its parameters' names.
fn route_path<'a>(segments: impl IntoIterator<Item = &'a str>) -> Result<(String, Vec<String>), String> {
    let mut path = String::new();
    let mut params = Vec::new();
    for segment in segments.into_iter().filter(|s| !s.is_empty()) {
        if let Some(name) = super::mount::segment_param(segment)? {
            params.push(name.to_owned());
        }
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    if let Some(taken) = super::validate::reserved(&path) {
        return Err(format!(
            "path {path} is the sandbox's own ({taken}): the sandbox serves it itself; import it under another path"
        ));
    }
    Ok((path, params))
}

/// The example body from `text` and its content type: JSON when the type
/// says so (and then it must parse), or when no type is given and it parses.
fn body_from_text(text: &str, content_type: Option<&str>) -> Result<(Option<HeaderValue>, Body), String> {
    if text.trim().is_empty() {
        return Ok((None, Body::Empty));
    }
    let header =
        |ct: &str| HeaderValue::from_str(ct).map_err(|_| format!("content type '{ct}' is not a valid header value"));
    match content_type {
        Some(ct) if ct.contains("json") => {
            let value = serde_json::from_str(text).map_err(|e| format!("body is not valid JSON ({e})"))?;
            Ok((Some(header(ct)?), Body::Json(value)))
        }
        Some(ct) => Ok((Some(header(ct)?), Body::Text(text.to_owned()))),
        None => match serde_json::from_str(text) {
            Ok(value) => Ok((Some(HeaderValue::from_static("application/json")), Body::Json(value))),
            Err(_) => Ok((
                Some(HeaderValue::from_static("text/plain; charset=utf-8")),
                Body::Text(text.to_owned()),
            )),
        },
    }
}

fn status(code: u64) -> Result<StatusCode, String> {
    u16::try_from(code)
        .ok()
        .filter(|c| (200..600).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| format!("status {code} is not an HTTP status between 200 and 599"))
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
