//! Reading a profile: the built-in profiles' files compiled into the
//! binary, or a folder on disk; `extends` and `exclude` merged; the result
//! checked by `validate` before anyone sees it. Every error names the file
//! and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::profile::{Endpoint, Generator, Lifecycle, Profile, ProfileError, file_error};

/// The built-in profiles' files, compiled in: (profile, file, contents).
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "lean-uae",
        "profile.toml",
        include_str!("../../../fixtures/providers/lean-uae/profile.toml"),
    ),
    (
        "lean-uae",
        "common.json",
        include_str!("../../../fixtures/providers/lean-uae/common.json"),
    ),
    (
        "lean-uae",
        "data.json",
        include_str!("../../../fixtures/providers/lean-uae/data.json"),
    ),
    (
        "lean-uae",
        "payments.json",
        include_str!("../../../fixtures/providers/lean-uae/payments.json"),
    ),
    (
        "lean-uae",
        "checks.json",
        include_str!("../../../fixtures/providers/lean-uae/checks.json"),
    ),
    (
        "lean-ksa",
        "profile.toml",
        include_str!("../../../fixtures/providers/lean-ksa/profile.toml"),
    ),
    (
        "lean-ksa",
        "ksa.json",
        include_str!("../../../fixtures/providers/lean-ksa/ksa.json"),
    ),
];

/// A profile's `profile.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    #[serde(default)]
    description: String,
    extends: Option<String>,
    #[serde(default)]
    templates: Vec<String>,
    #[serde(default)]
    settings: serde_json::Map<String, Value>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    lifecycles: Vec<Lifecycle>,
    #[serde(default)]
    link: Vec<Generator>,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

/// Where a profile's files are read from.
enum Folder {
    BuiltIn(String),
    Disk(PathBuf),
}

impl Folder {
    fn read(&self, file: &str) -> Result<(String, String), ProfileError> {
        match self {
            Folder::BuiltIn(name) => BUILT_IN
                .iter()
                .find(|(p, f, _)| p == name && *f == file)
                .map(|(_, _, text)| {
                    (
                        format!("fixtures/providers/{name}/{file} (built in)"),
                        (*text).to_owned(),
                    )
                })
                .ok_or_else(|| file_error(&format!("fixtures/providers/{name}/{file}"), "no such built-in file")),
            Folder::Disk(dir) => {
                let path = dir.join(file);
                let shown = path.display().to_string();
                std::fs::read_to_string(&path)
                    .map(|text| (shown.clone(), text))
                    .map_err(|e| file_error(&shown, e.to_string()))
            }
        }
    }

    /// The folder a profile named by `extends` lives in.
    fn sibling(&self, name: &str) -> Folder {
        match self {
            Folder::Disk(dir) if !is_built_in(name) => Folder::Disk(dir.parent().unwrap_or(Path::new(".")).join(name)),
            _ => Folder::BuiltIn(name.into()),
        }
    }
}

fn is_built_in(name: &str) -> bool {
    BUILT_IN.iter().any(|(p, _, _)| *p == name)
}

impl Profile {
    /// A built-in profile by name, or a folder on disk (a path; relative
    /// paths are taken from `base`).
    pub fn load(spec: &str, base: &Path) -> Result<Self, ProfileError> {
        let folder = if is_built_in(spec) {
            Folder::BuiltIn(spec.into())
        } else if spec.contains('/') || spec.starts_with('.') {
            Folder::Disk(base.join(spec))
        } else {
            return Err(ProfileError::Unknown(spec.into()));
        };
        let profile = Self::load_folder(&folder, 0)?;
        // A built-in profile is part of the binary, checked by the test
        // below; checking it again on every start was a sixth of a warm
        // start (callgrind). A profile on disk is checked whole, also when
        // it extends a built-in one.
        if matches!(folder, Folder::Disk(_)) {
            super::validate::validate(&profile)?;
        }
        Ok(profile)
    }

    /// The built-in profile `name`, which is known to be valid.
    pub fn built_in(name: &str) -> Self {
        Self::load(name, Path::new(".")).expect("the built-in provider profiles are valid")
    }

    fn load_folder(folder: &Folder, depth: usize) -> Result<Self, ProfileError> {
        let (shown, text) = folder.read("profile.toml")?;
        let file: ProfileFile = toml::from_str(&text).map_err(|e| file_error(&shown, e.to_string().trim_end()))?;
        if depth > 4 {
            return Err(file_error(&shown, "extends: more than 4 levels (is there a cycle?)"));
        }
        let mut profile = match &file.extends {
            Some(base) => Self::load_folder(&folder.sibling(base), depth + 1)?,
            None => Profile {
                name: String::new(),
                description: String::new(),
                settings: Value::Object(Default::default()),
                templates: BTreeMap::new(),
                lifecycles: Vec::new(),
                link: Vec::new(),
                endpoints: Vec::new(),
            },
        };
        profile.name = file.name;
        profile.description = file.description;
        for (key, value) in file.settings {
            profile.settings[key] = value;
        }
        for name in &file.templates {
            let (shown, text) = folder.read(name)?;
            let map: BTreeMap<String, Value> = serde_json::from_str(&text)
                .map_err(|e| file_error(&shown, format!("not a JSON object of templates: {e}")))?;
            profile.templates.extend(map);
        }
        for id in &file.exclude {
            let before = profile.endpoints.len();
            profile.endpoints.retain(|e| &e.id != id);
            if profile.endpoints.len() == before {
                return Err(file_error(
                    &shown,
                    format!("exclude: no endpoint '{id}' in the base profile"),
                ));
            }
        }
        for lifecycle in file.lifecycles {
            profile.lifecycles.retain(|l| l.collection != lifecycle.collection);
            profile.lifecycles.push(lifecycle);
        }
        if !file.link.is_empty() {
            profile.link = file.link;
        }
        for endpoint in file.endpoints {
            match profile.endpoints.iter_mut().find(|e| e.id == endpoint.id) {
                Some(existing) => *existing = endpoint,
                None => profile.endpoints.push(endpoint),
            }
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_passes_the_checks_a_profile_on_disk_gets() {
        let names: std::collections::BTreeSet<&str> = BUILT_IN.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names.len(), 2);
        for name in names {
            let profile = Profile::load_folder(&Folder::BuiltIn(name.into()), 0).unwrap();
            assert_eq!(profile.name, name);
            super::super::validate::validate(&profile).unwrap_or_else(|e| panic!("built-in profile {name}: {e}"));
        }
    }

    #[test]
    fn a_profile_on_disk_that_extends_a_built_in_one_is_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(
            mine.join("profile.toml"),
            "name = \"mine\"\nextends = \"lean-uae\"\n\n[[endpoints]]\nid = \"bad\"\nmethod = \"GET\"\npath = \"/oauth2/mine\"\nkind = \"builtin\"\n",
        )
        .unwrap();
        let Err(err) = Profile::load("./mine", dir.path()) else {
            panic!("a reserved path is refused");
        };
        assert!(err.to_string().contains("/oauth2"), "{err}");
    }
}
