//! The user's own endpoints (`--api`, `[[api]]`), over real TLS: the
//! collections we wrote under `fixtures/api-examples/` answered on the
//! sandbox and mtls hosts from their examples, path parameters put in,
//! behind the host's authentication; the built-in profile still answers
//! what it serves; a bad file or two files answering one request stop `up`
//! with a message naming the file and the item.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::{Emulator, Reply, plain, send, with_app_cert};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/api-examples")
        .join(name)
}

fn call(emu: &Emulator, http: &reqwest::Client, base: &str, method: &str, path: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    send(
        http.request(method, format!("{base}{path}"))
            .header("lean-app-token", &emu.info.app_token),
    )
}

#[test]
fn imported_requests_answer_with_their_examples_on_both_hosts() {
    let postman = example("widgets.postman.json");
    let openapi = example("gadgets.openapi.json");
    let emu = Emulator::start(&["--api", postman.to_str().unwrap(), "--api", openapi.to_str().unwrap()]);
    let line = emu.log_line("imported 5 request(s) from");
    assert!(
        line.contains("widgets.postman.json (1 shadowed by the built-in profile)"),
        "{line}"
    );
    emu.log_line("gadgets.openapi.json");
    let shadowed = emu.log_line("is served by the built-in profile");
    assert!(
        shadowed.contains("item \"List customers\"") && shadowed.contains("GET /customers/v1"),
        "{shadowed}"
    );

    let sandbox = (plain(&emu), emu.info.sandbox_url.clone());
    let mtls = (with_app_cert(&emu), emu.info.mtls_url.clone());
    for (http, base) in [&sandbox, &mtls] {
        // The example, with the caller's id put in (the example's value and a {{id}} placeholder).
        let (status, body, headers) = call(&emu, http, base, "GET", "/widgets/v1/w_7");
        assert_eq!(status, 200, "{base}: {body}");
        assert_eq!(
            body,
            json!({"id": "w_7", "name": "Sprocket", "links": {"self": "/widgets/v1/w_7"}})
        );
        assert_eq!(headers["content-type"], "application/json");
        let (status, body, _) = call(&emu, http, base, "GET", "/widgets/v1/w_7/parts/p_1");
        assert_eq!(
            (status, body),
            (200, json!({"widget_id": "w_7", "part_id": "p_1", "count": 3}))
        );
        let (status, body, _) = call(&emu, http, base, "GET", "/gadgets/v2/items/g_9");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"id": "g_9", "name": "Gizmo", "href": "/gadgets/v2/items/g_9"})
        );
        // Status codes from the example; both forms of the path.
        let (status, body, _) = call(&emu, http, base, "POST", "/widgets/v1/");
        assert_eq!((status, body), (201, json!({"id": "w_3", "status": "CREATED"})));
        let (status, body, _) = call(&emu, http, base, "DELETE", "/widgets/v1/w_7");
        assert_eq!((status, body), (204, Value::String(String::new())));
    }

    // Without credentials: the host's 401, as for the provider's own endpoints.
    let (status, body, _) = send(plain(&emu).get(format!("{}/widgets/v1/w_7", emu.info.sandbox_url)));
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = send(with_app_cert(&emu).get(format!("{}/gadgets/v2/items", emu.info.mtls_url)));
    assert_eq!(status, 401);

    // The built-in profile's route is not shadowed by the imported one.
    let (status, body, _) = call(&emu, &sandbox.0, &sandbox.1, "GET", "/customers/v1");
    assert_eq!(status, 200, "{body}");
    assert_ne!(body, json!({"imported": true}));
}

#[test]
fn api_files_in_the_config_are_relative_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("apis")).unwrap();
    std::fs::copy(example("gadgets.openapi.json"), tmp.path().join("apis/g.json")).unwrap();
    let config = tmp.path().join("sandbox.toml");
    std::fs::write(&config, "[[api]]\nfile = \"apis/g.json\"\n").unwrap();
    let emu = Emulator::start(&["--config", config.to_str().unwrap()]);
    emu.log_line("imported 5 request(s) from");
    let (status, body, _) = call(
        &emu,
        &plain(&emu),
        &emu.info.sandbox_url,
        "GET",
        "/gadgets/v2/items/g_2/status",
    );
    assert_eq!((status, body), (200, json!({"item": "g_2", "status": "ACTIVE"})));
}

#[test]
fn a_bad_api_file_stops_up_with_a_message_naming_the_file_and_the_item() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    let collection = json!({
        "info": {"name": "bad", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{"name": "Widgets", "item": [
            {"name": "Get widget", "request": {"method": "GET", "url": {"raw": "{{baseUrl}}"}}, "response": []}
        ]}],
    });
    std::fs::write(&bad, collection.to_string()).unwrap();
    let err = crate::util::up_usage_error(&["--api".as_ref(), bad.as_os_str()]);
    assert!(
        err.contains("bad.json") && err.contains("item \"Get widget\" (folder \"Widgets\"): request.url has no path"),
        "{err}"
    );

    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[[api]]\nfile = \"bad.json\"\n").unwrap();
    let err = crate::util::up_usage_error(&["--config".as_ref(), config.as_os_str()]);
    assert!(
        err.contains("c.toml: [[api]]") && err.contains("request.url has no path"),
        "{err}"
    );

    let mine = tmp.path().join("mine.json");
    let collection = json!({
        "info": {"name": "mine", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{"name": "Mine", "request": {"method": "GET", "url": "/widgets/v1/:w"},
                  "response": [{"name": "ok", "code": 200, "body": "{}"}]}],
    });
    std::fs::write(&mine, collection.to_string()).unwrap();
    let widgets = example("widgets.postman.json");
    let err = crate::util::up_usage_error(&[
        "--api".as_ref(),
        widgets.as_os_str(),
        "--api".as_ref(),
        mine.as_os_str(),
    ]);
    assert!(
        err.contains("mine.json: item \"Mine\": GET /widgets/v1/{w} is already imported from")
            && err.contains("widgets.postman.json (item \"Get widget\""),
        "{err}"
    );
}
