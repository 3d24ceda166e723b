//! Real clients other than curl, used exactly as the provider's docs show.

use std::process::Command;

use crate::util::Emulator;

#[test]
fn python_requests_with_cert_key_and_chain_file() {
    let emu = Emulator::start(&[]);
    let script = r#"
import json, sys, requests
info = json.load(open(sys.argv[1]))
r = requests.get(info["mtls_url"] + "/banks/v1",
                 headers={"lean-app-token": info["app_token"]},
                 cert=(info["client_cert"], info["client_key"]),
                 verify=info["ca_chain"])
print(r.status_code, r.json()[0]["identifier"])
try:
    requests.get(info["mtls_url"] + "/health", verify=info["ca_chain"])
    print("no-cert: accepted")
except requests.exceptions.RequestException:
    print("no-cert: refused")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(emu.file("sandbox.json"))
        .output()
        .expect("python3 with requests must be installed (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "200 LEANMB1\nno-cert: refused\n");
    emu.log_line("sent no client certificate");
}
