//! The two parsers on collections we wrote (`fixtures/api-examples/`), and
//! every error naming the file and the item.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::*;

const POSTMAN: &str = include_str!("../../../../fixtures/api-examples/widgets.postman.json");
const OPENAPI: &str = include_str!("../../../../fixtures/api-examples/gadgets.openapi.json");

fn find<'a>(file: &'a ApiFile, method: &str, path: &str) -> &'a Request {
    file.requests
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("no {method} {path} in {:#?}", file.requests))
}

fn param(name: &str, example: &str) -> Param {
    Param {
        name: name.into(),
        example: Some(example.into()),
    }
}

#[test]
fn a_postman_collection_gives_its_requests_with_their_examples() {
    let file = ApiFile::parse(Path::new("w.json"), POSTMAN).unwrap();
    assert_eq!(file.requests.len(), 6);
    let list = find(&file, "GET", "/widgets/v1");
    assert_eq!(list.item, "item \"List widgets\" (folder \"Widgets\")");
    assert_eq!(
        list.example.body,
        Body::Json(json!({"widgets": [{"id": "w_1", "name": "Sprocket"}, {"id": "w_2", "name": "Cog"}]}))
    );
    // The first 2xx example, not the first one; the value it was made with.
    let get = find(&file, "GET", "/widgets/v1/{id}");
    assert_eq!(get.example.status, StatusCode::OK);
    assert_eq!(get.example.content_type.as_ref().unwrap(), "application/json");
    assert_eq!(get.params, [param("id", "w_1")]);
    let part = find(&file, "GET", "/widgets/v1/{id}/parts/{part_id}");
    assert_eq!(part.item, "item \"Get part\" (folder \"Widgets/Parts\")");
    assert_eq!(part.params, [param("id", "w_1"), param("part_id", "p_9")]);
    assert_eq!(
        part.example.content_type.as_ref().unwrap(),
        "application/json; charset=utf-8"
    );
    let create = find(&file, "POST", "/widgets/v1");
    assert_eq!(create.example.status, StatusCode::CREATED);
    // A {{variable}} segment is a parameter; its value from the collection.
    let delete = find(&file, "DELETE", "/widgets/v1/{widgetId}");
    assert_eq!(delete.params, [param("widgetId", "w_1")]);
    assert_eq!(
        (
            delete.example.status,
            &delete.example.body,
            &delete.example.content_type
        ),
        (StatusCode::NO_CONTENT, &Body::Empty, &None)
    );
}

#[test]
fn an_openapi_document_gives_its_operations_with_their_examples() {
    let file = ApiFile::parse(Path::new("g.json"), OPENAPI).unwrap();
    assert_eq!(file.requests.len(), 5);
    let list = find(&file, "GET", "/gadgets/v2/items");
    assert_eq!(list.item, "operation \"listItems\" (GET /items)");
    assert_eq!(
        list.example.body,
        Body::Json(json!({"items": [{"id": "g_1"}, {"id": "g_2"}]}))
    );
    // The lowest 2xx, the first example by name.
    let create = find(&file, "POST", "/gadgets/v2/items");
    assert_eq!(create.example.status, StatusCode::CREATED);
    assert_eq!(create.example.body, Body::Json(json!({"id": "g_3", "status": "NEW"})));
    // Path-level parameters and $refs (examples, parameters, responses).
    let get = find(&file, "GET", "/gadgets/v2/items/{itemId}");
    assert_eq!(get.params, [param("itemId", "g_1")]);
    assert_eq!(
        get.example.body,
        Body::Json(json!({"id": "g_1", "name": "Gizmo", "href": "/gadgets/v2/items/{itemId}"}))
    );
    let status = find(&file, "GET", "/gadgets/v2/items/{itemId}/status");
    assert_eq!(status.item, "operation GET /items/{itemId}/status");
    assert_eq!(status.params, [param("itemId", "g_1")]);
    assert_eq!(
        status.example.body,
        Body::Json(json!({"item": "g_1", "status": "ACTIVE"}))
    );
    let delete = find(&file, "DELETE", "/gadgets/v2/items/{itemId}");
    assert_eq!(
        (delete.example.status, &delete.example.body),
        (StatusCode::NO_CONTENT, &Body::Empty)
    );
}

/// A Postman collection with `items` as its only folder's requests.
fn collection(items: Value) -> String {
    json!({
        "info": {"name": "t", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{"name": "Widgets", "item": items}],
    })
    .to_string()
}

fn item(name: &str, method: &str, url: Value, body: &str) -> Value {
    json!({"name": name, "request": {"method": method, "url": url}, "response": [{"name": "ok", "code": 200, "body": body}]})
}

fn error(text: &str) -> String {
    ApiFile::parse(Path::new("mine.json"), text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_and_the_item() {
    let no_path = collection(json!([item(
        "Get widget",
        "GET",
        json!({"raw": "{{baseUrl}}", "host": ["{{baseUrl}}"]}),
        "{}"
    )]));
    assert_eq!(
        error(&no_path),
        "API file mine.json: item \"Get widget\" (folder \"Widgets\"): request.url has no path"
    );
    let reserved = collection(json!([item("Token", "POST", json!("{{baseUrl}}/oauth2/token"), "{}")]));
    let err = error(&reserved);
    assert!(
        err.contains("item \"Token\"") && err.contains("/oauth2/token is the sandbox's own"),
        "{err}"
    );
    let method = collection(json!([item("Opts", "OPTIONS", json!("{{baseUrl}}/x"), "{}")]));
    assert!(error(&method).contains("item \"Opts\" (folder \"Widgets\"): request.method: method 'OPTIONS'"));
    let bad_json = item("Bad", "GET", json!("/x"), "{not json");
    let mut bad_json_typed = bad_json.clone();
    bad_json_typed["response"][0]["header"] = json!([{"key": "Content-Type", "value": "application/json"}]);
    let err = error(&collection(json!([bad_json_typed])));
    assert!(
        err.contains("item \"Bad\"") && err.contains("response \"ok\": body is not valid JSON"),
        "{err}"
    );
    let mut no_example = item("Bare", "GET", json!("/x"), "");
    no_example["response"] = json!([]);
    assert!(
        error(&collection(json!([no_example])))
            .contains("item \"Bare\" (folder \"Widgets\"): has no saved example response")
    );
    let partial = collection(json!([item("Odd", "GET", json!("/x/{id}.json"), "{}")]));
    assert!(error(&partial).contains("a path parameter must be a whole segment"));
    let twice = collection(json!([
        item("One", "GET", json!("/x/:id"), "{}"),
        item("Two", "GET", json!("/x/:other/"), "{}"),
    ]));
    let err = error(&twice);
    assert!(
        err.contains("item \"Two\"") && err.contains("is also item \"One\""),
        "{err}"
    );
    let no_example = json!({"openapi": "3.0.3", "paths": {"/x/{id}": {"get": {"responses": {
        "200": {"content": {"application/json": {"schema": {"type": "object"}}}}}}}}});
    assert_eq!(
        error(&no_example.to_string()),
        "API file mine.json: operation GET /x/{id}: responses.200.content.application/json has no example: add example or examples"
    );
    let no_2xx = json!({"openapi": "3.0.3", "paths": {"/x": {"get": {"operationId": "x", "responses": {"404": {}}}}}});
    assert!(error(&no_2xx.to_string()).contains("operation \"x\" (GET /x): has no 2xx response"));
    let reserved = json!({"openapi": "3.0.3", "servers": [{"url": "/admin"}], "paths": {"/x": {"get": {"responses": {"200": {}}}}}});
    assert!(error(&reserved.to_string()).contains("path /admin/x is the sandbox's own (/admin)"));
}

#[test]
fn formats_we_do_not_read_say_what_to_do() {
    assert!(error("{\"swagger\": \"2.0\"}").contains("convert the document to OpenAPI 3"));
    let v2 =
        r#"{"info": {"schema": "https://schema.getpostman.com/json/collection/v2.0.0/collection.json"}, "item": []}"#;
    assert!(error(v2).contains("export the collection as Collection v2.1"));
    assert!(error("[]").contains("neither a Postman collection v2.1"));
    let yaml = ApiFile::parse(Path::new("api.yaml"), "openapi: 3.0.0\n")
        .unwrap_err()
        .to_string();
    assert!(
        yaml.contains("api.yaml") && yaml.contains("YAML is not supported"),
        "{yaml}"
    );
    let missing = ApiFile::load(Path::new("/no/such/api.json")).unwrap_err().to_string();
    assert!(
        missing.starts_with("cannot read API file /no/such/api.json"),
        "{missing}"
    );
}

#[test]
fn two_files_answering_one_request_is_an_error_naming_both() {
    let mut files = ApiFiles::default();
    files
        .add(ApiFile::parse(Path::new("a.json"), POSTMAN).unwrap())
        .unwrap();
    let other = collection(json!([item(
        "Mine",
        "GET",
        json!("https://x.test/widgets/v1/:widget"),
        "{}"
    )]));
    let err = files
        .add(ApiFile::parse(Path::new("b.json"), &other).unwrap())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "API file b.json: item \"Mine\" (folder \"Widgets\"): GET /widgets/v1/{widget} is already imported from a.json \
         (item \"Get widget\" (folder \"Widgets\")); keep one of them (two API files may not answer the same request)"
    );
    files
        .add(ApiFile::parse(Path::new("g.json"), OPENAPI).unwrap())
        .unwrap();
    assert_eq!(files.0.len(), 2);
}

#[test]
fn the_built_in_profile_shadows_what_it_serves() {
    let mut files = ApiFiles::default();
    files
        .add(ApiFile::parse(Path::new("w.json"), POSTMAN).unwrap())
        .unwrap();
    let imported = Imported::new(&files, &crate::provider::Profile::built_in("lean-uae"));
    assert_eq!(imported.requests.len(), 5);
    assert_eq!(
        imported.summary,
        ["imported 5 request(s) from w.json (1 shadowed by the built-in profile)"]
    );
    assert!(
        imported.shadowed[0].starts_with(
            "w.json: item \"List customers\" (folder \"Customers (the built-in profile answers these)\"): GET /customers/v1 is served by the built-in profile 'lean-uae'"
        ),
        "{:?}",
        imported.shadowed
    );
}

/// axum panics on paths it cannot route; whatever a file gets past the
/// checks must mount.
#[test]
fn odd_but_accepted_paths_mount_without_a_panic() {
    let odd = collection(json!([
        item("Star", "GET", json!("/w/a*"), "{}"),
        item("Colon", "GET", json!("/w/a:b/:id"), "{}"),
        item("Percent", "GET", json!("/w/%7Bx%7D/{{v}}"), "{}"),
        item("Root", "GET", json!("https://host.test/"), "{}"),
        item("Dots", "PUT", json!("/w/../x"), "{}"),
    ]));
    let file = ApiFile::parse(Path::new("odd.json"), &odd).unwrap();
    let mut mount = crate::provider::mount::Mount::<()>::new();
    for request in &file.requests {
        mount.add(&request.method, &request.path, true, axum::routing::any(|| async {}));
    }
    let _ = mount.into_router();
    assert_eq!(find(&file, "GET", "/").params, []);
    let star = collection(json!([item("Star", "GET", json!("/w/*"), "{}")]));
    assert!(error(&star).contains("item \"Star\" (folder \"Widgets\"): request.url: path segment '*'"));
}
