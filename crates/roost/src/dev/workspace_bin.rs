//! Finding the `roost-workspace` executable that development "machines" run.
//!
//! `cargo run -p roost -- dev` builds only the `roost` package, so the workspace binary may not
//! exist yet. It is looked for next to the running `roost` (same cargo profile folder); when it
//! is missing and this is a source checkout, it is built with the same profile. Anything else
//! ends with a message saying what to run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

const NAME: &str = "roost-workspace";

/// The executable to run: `explicit`, or the one next to this program (built if missing).
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_owned());
        }
        bail!("--workspace-bin {} does not exist", path.display());
    }
    let exe = std::env::current_exe().context("finding the roost executable")?;
    let folder = exe.parent().context("the roost executable has no folder")?;
    let candidate = folder.join(NAME);
    if candidate.is_file() {
        return Ok(candidate);
    }
    build(folder)?;
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "cannot find {NAME} next to {}: build it with `cargo build --release -p roost-workspace`, \
         or pass --workspace-bin <path>",
        exe.display()
    )
}

/// Builds the workspace binary into `folder` (a cargo `target/<profile>` folder) when this
/// program was built from a source checkout that is still there.
fn build(folder: &Path) -> anyhow::Result<()> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    if !manifest.is_file() {
        return Ok(());
    }
    let profile = folder
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    eprintln!("{NAME} is not built yet; building it ({profile} profile)…");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", NAME, "--bin", NAME]);
    if profile == "release" {
        cargo.arg("--release");
    }
    let status = cargo
        .status()
        .context("running cargo to build roost-workspace")?;
    if !status.success() {
        bail!("building {NAME} failed; run `cargo build --release -p roost-workspace` to see why");
    }
    Ok(())
}
