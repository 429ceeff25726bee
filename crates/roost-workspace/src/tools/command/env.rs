//! The environment a command runs with: built from nothing, never inherited.
//!
//! The workspace process holds secrets in its environment (`ROOST_*` settings, and on Fly
//! whatever the operator set as Machine secrets, e.g. `FLY_API_TOKEN`). A command the model runs
//! must see none of them, so the child starts from an empty environment and gets only the
//! variables below. An allow-list, not a deny-list: a secret with a name nobody thought of
//! still stays out.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The PATH used when the server's own environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables copied from the server's environment when present: locale and time zone only,
/// so programs print and parse text the way the image was set up to.
const PASSED_THROUGH: &[&str] = &["LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// The child environment, given the server's (`std::env::vars_os()` in production, a list in
/// tests so they never mutate the process environment).
pub(super) fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    workdir: &Path,
) -> Vec<(OsString, OsString)> {
    let parent: Vec<(OsString, OsString)> = parent.into_iter().collect();
    let lookup = |name: &str| {
        parent
            .iter()
            .find(|(key, _)| key == OsStr::new(name))
            .map(|(_, value)| value.clone())
    };
    let mut env = vec![
        (
            "PATH".into(),
            lookup("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        ),
        // The workspace is the user's home: dotfiles and tool caches land on their volume.
        ("HOME".into(), workdir.as_os_str().to_owned()),
        // No terminal is attached; this keeps programs from emitting colour and cursor codes.
        ("TERM".into(), "dumb".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    for name in PASSED_THROUGH {
        if let Some(value) = lookup(name) {
            match env.iter_mut().find(|(key, _)| key == OsStr::new(name)) {
                Some(slot) => slot.1 = value,
                None => env.push(((*name).into(), value)),
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn get<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
        env.iter()
            .find(|(k, _)| k == OsStr::new(name))
            .map(|(_, v)| v.as_os_str())
    }

    #[test]
    fn keeps_only_the_allow_list() {
        let parent = vars(&[
            ("PATH", "/opt/bin:/usr/bin"),
            ("TZ", "Europe/Paris"),
            ("ROOST_ADMIN_TOKEN", "secret"),
            ("FLY_API_TOKEN", "fo1_secret"),
            ("HOME", "/root"),
            ("TERM", "xterm-256color"),
        ]);
        let env = child_env(parent, Path::new("/data/workspace"));
        let mut names: Vec<_> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["HOME", "LANG", "PATH", "TERM", "TZ"]);
        assert_eq!(get(&env, "PATH").unwrap(), "/opt/bin:/usr/bin");
        assert_eq!(get(&env, "HOME").unwrap(), "/data/workspace");
        assert_eq!(get(&env, "TERM").unwrap(), "dumb");
        assert_eq!(get(&env, "TZ").unwrap(), "Europe/Paris");
    }

    #[test]
    fn defaults_path_and_locale_when_the_server_has_none() {
        let env = child_env(Vec::new(), Path::new("/w"));
        assert_eq!(get(&env, "PATH").unwrap(), DEFAULT_PATH);
        assert_eq!(get(&env, "LANG").unwrap(), "C.UTF-8");
        let env = child_env(vars(&[("LANG", "de_DE.UTF-8")]), Path::new("/w"));
        assert_eq!(get(&env, "LANG").unwrap(), "de_DE.UTF-8");
        assert_eq!(env.iter().filter(|(k, _)| k == "LANG").count(), 1);
    }
}
