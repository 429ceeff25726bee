//! Run a Node.js script from `tests/js` and parse the JSON it prints.
//!
//! End-to-end tests drive roost with the official TypeScript MCP SDKs: a test writes a small
//! `.mjs` script under `tests/js/`, passes URLs and tokens through the environment, and reads
//! one JSON value from the script's last stdout line. The system `node` is used (Node ≥ 20);
//! set `ROOST_NODE` to use another binary.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

/// How long a script may run before it is killed and the test fails.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors running a script.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `node` could not be started.
    #[error("could not start {node}: {source} (install Node.js ≥ 20 or set ROOST_NODE)")]
    Spawn {
        /// The binary tried.
        node: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The script ran longer than [`SCRIPT_TIMEOUT`].
    #[error("{script} did not finish within {SCRIPT_TIMEOUT:?}")]
    Timeout {
        /// The script.
        script: String,
    },
    /// The script exited non-zero.
    #[error("{script} failed ({status}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}")]
    Failed {
        /// The script.
        script: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it wrote to stdout.
        stdout: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// The last stdout line was not JSON.
    #[error("{script} printed no JSON on its last line: {stdout}")]
    NotJson {
        /// The script.
        script: String,
        /// What it printed.
        stdout: String,
    },
}

/// The `tests/js` folder (where `node_modules` lives).
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// The Node.js binary: `ROOST_NODE`, else `node` on the `PATH`.
pub fn node_binary() -> String {
    std::env::var("ROOST_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// Run `tests/js/<script>` with `env` added to the environment; return the JSON value printed on
/// its last non-empty stdout line.
pub async fn run_script(
    script: &str,
    env: &[(&str, &str)],
) -> Result<serde_json::Value, NodeError> {
    let node = node_binary();
    let mut command = tokio::process::Command::new(&node);
    command
        .arg(js_dir().join(script))
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().map_err(|source| NodeError::Spawn {
        node: node.clone(),
        source,
    })?;
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| NodeError::Timeout {
            script: script.to_owned(),
        })?
        .map_err(|source| NodeError::Spawn { node, source })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(NodeError::Failed {
            script: script.to_owned(),
            status: output.status,
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| NodeError::NotJson {
            script: script.to_owned(),
            stdout: stdout.clone(),
        })
}

/// A script that keeps running (a server): its process, killed when dropped.
#[derive(Debug)]
pub struct ScriptServer {
    /// The process.
    pub child: tokio::process::Child,
    /// The JSON object it printed on stdout once ready (e.g. its URL).
    pub ready: serde_json::Value,
}

/// Start `tests/js/<script>` and wait for the JSON line it prints when it is ready. Its stdin
/// stays open; the script should exit when stdin closes, so a dying test takes it along.
pub async fn start_server(script: &str, env: &[(&str, &str)]) -> Result<ScriptServer, NodeError> {
    use tokio::io::AsyncBufReadExt as _;
    let node = node_binary();
    let mut command = tokio::process::Command::new(&node);
    command
        .arg(js_dir().join(script))
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .map_err(|source| NodeError::Spawn { node, source })?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    // The first line that is a JSON object; libraries may print notices before it.
    let wait_ready = async {
        let mut seen = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_str(&line) {
                return Ok(value);
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        Err(seen)
    };
    let ready = tokio::time::timeout(SCRIPT_TIMEOUT, wait_ready)
        .await
        .map_err(|_| NodeError::Timeout {
            script: script.to_owned(),
        })?
        .map_err(|stdout| NodeError::NotJson {
            script: script.to_owned(),
            stdout,
        })?;
    // Keep reading: a script that writes to a closed pipe dies of EPIPE.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ScriptServer { child, ready })
}
