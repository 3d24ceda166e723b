//! The architecture, checked from the code's own imports: every `use
//! crate::…` and `super::…` of each file under `emulator/src` and
//! `harness/src` (unit-test blocks and comments aside) is an edge from that
//! file's module to the module it names.
//!
//! - No import cycle among the files of either crate: a cycle means two
//!   modules are one concept, or one of them reaches up a layer.
//! - The authorization server (`oauth/`) never imports the resource API.
//! - The resource API (`api/`) imports no portal, gateway or faults code.
//! - The HTTP edge (`web/`) imports no area: the areas build on it.
//!
//! A failure names every offending edge (and each cycle with the edges
//! inside it), so the fix starts from the message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`oauth/authority`, `api` for `api/mod.rs`) → the modules it
/// imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is, relative to the crate's `src`; `None` for a file
/// of unit tests (`*_tests.rs`).
fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut name = rel.to_string_lossy().replace('\\', "/");
    if name.ends_with("_tests") {
        return None;
    }
    if let Some(parent) = name.strip_suffix("/mod") {
        name = parent.to_owned();
    }
    Some(name)
}

/// The source without comment lines and without the trailing
/// `#[cfg(test)] mod tests { … }` block (tests may reach anywhere).
fn code_of(source: &str) -> String {
    let cut = regex::Regex::new(r"#\[cfg\(test\)\]\s*mod tests\s*\{").unwrap();
    let source = match cut.find(source) {
        Some(m) => &source[..m.start()],
        None => source,
    };
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest prefix of `path` (`a::b::c`) that is a module.
fn resolve(modules: &BTreeSet<String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("/"))
        .find(|candidate| modules.contains(candidate))
}

fn graph(root: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let sources: BTreeMap<String, PathBuf> = files
        .iter()
        .filter_map(|f| module_of(root, f).map(|m| (m, f.clone())))
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let crate_path = regex::Regex::new(r"crate::([a-z_][a-z0-9_:]*)(::\{([^}]*)\})?").unwrap();
    let super_path = regex::Regex::new(r"\bsuper::([a-z_][a-z0-9_]*)").unwrap();
    let mut graph = Graph::new();
    for (module, file) in &sources {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut edges = BTreeSet::new();
        for m in crate_path.captures_iter(&code) {
            let base = m[1].trim_end_matches(':');
            let targets: Vec<String> = match m.get(3) {
                Some(group) => group
                    .as_str()
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("{base}::{}", t.split([' ', ':']).next().unwrap_or("")))
                    .collect(),
                None => vec![base.to_owned()],
            };
            edges.extend(targets.iter().filter_map(|t| resolve(&modules, t)));
        }
        // `super::x` from `a/b.rs` or `a/b/mod.rs` (module `a/b`): `a/x`.
        let parent = module.rsplit_once('/').map_or("", |(p, _)| p);
        for m in super_path.captures_iter(&code) {
            let target = match parent {
                "" => m[1].to_owned(),
                p => format!("{p}/{}", &m[1]),
            };
            if modules.contains(&target) {
                edges.insert(target);
            }
        }
        edges.remove(module);
        graph.insert(module.clone(), edges);
    }
    graph
}

/// The strongly connected components with more than one module.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for next in &graph[&m] {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if done.contains(m) || !reachable[m].contains(m) {
            continue;
        }
        let component: Vec<String> = graph
            .keys()
            .filter(|other| reachable[m].contains(*other) && reachable[*other].contains(m))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        out.push(component);
    }
    out
}

fn describe_cycles(name: &str, graph: &Graph) -> Vec<String> {
    cycles(graph)
        .into_iter()
        .map(|component| {
            let inner: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| component.contains(to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            format!(
                "import cycle in {name}: {} (edges: {})",
                component.join(", "),
                inner.join("; ")
            )
        })
        .collect()
}

/// Edges from modules under `from` to modules under any of `to`.
fn forbidden(graph: &Graph, from: &str, to: &[&str], why: &str) -> Vec<String> {
    let under = |module: &str, area: &str| module == area || module.starts_with(&format!("{area}/"));
    graph
        .iter()
        .filter(|(module, _)| under(module, from))
        .flat_map(|(module, edges)| {
            edges
                .iter()
                .filter(|target| to.iter().any(|area| under(target, area)))
                .map(move |target| format!("{module} imports {target}: {why}"))
        })
        .collect()
}

#[test]
fn imports_follow_the_layers_and_form_no_cycle() {
    let emulator = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let harness = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/src"));
    assert!(
        emulator.contains_key("oauth/authority") && emulator.contains_key("api") && !harness.is_empty(),
        "the module graph is not what this test expects to read"
    );
    let mut problems = describe_cycles("emulator/src", &emulator);
    problems.extend(describe_cycles("harness/src", &harness));
    problems.extend(forbidden(
        &emulator,
        "oauth",
        &["api"],
        "the authorization server must not depend on the API it protects",
    ));
    problems.extend(forbidden(
        &emulator,
        "api",
        &["portal", "gateway", "faults"],
        "the resource API is a leaf area",
    ));
    problems.extend(forbidden(
        &emulator,
        "web",
        &[
            "api",
            "oauth",
            "portal",
            "gateway",
            "faults",
            "inspector",
            "router",
            "server",
        ],
        "the HTTP edge knows no area; the areas build on it",
    ));
    assert!(
        problems.is_empty(),
        "architecture rules broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_checker_sees_cycles_and_forbidden_edges() {
    let graph: Graph = [
        ("a", vec!["b"]),
        ("b", vec!["a", "c"]),
        ("c", vec![]),
        ("oauth/x", vec!["api/y"]),
        ("api/y", vec![]),
    ]
    .into_iter()
    .map(|(m, e)| (m.to_owned(), e.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
    assert_eq!(forbidden(&graph, "oauth", &["api"], "no").len(), 1);
    assert!(forbidden(&graph, "api", &["oauth"], "no").is_empty());
}
