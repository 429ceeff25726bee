//! `run_command`: one shell command in the workspace folder, bounded in time, output and reach.
//!
//! - `/bin/sh -c <command>` with the workspace as working directory and as `HOME`.
//! - A clean environment built from an allow-list ([`env`]): no server secret reaches the child.
//! - The shell leads a new process group. When it exits, times out, or the client goes away,
//!   the whole group is killed with `SIGKILL` (`killpg`), so pipelines and background jobs
//!   (`sleep 100 &`) never outlive the call and keep the Machine from going idle.
//! - stdout and stderr are read while the command runs, each kept to a fixed budget
//!   ([`capture`]); the result says when something was left out.
//!
//! This is not a sandbox. The shell runs as the server's user on the user's own Machine and can
//! reach anything that user can, outside the workspace folder too (only the file tools are
//! confined). The clean environment keeps configuration out of the child's environment and out
//! of output by accident; a determined command could still read `/proc/<server pid>/environ`,
//! which is why roost gives the workspace server no secret (its token keys are public ones), and
//! an operator should not put any in a tenant Machine's environment either.
//! A process that starts its own session (`setsid`) escapes the group kill; its output is read
//! for at most one more second, then the call returns without it.

mod capture;
mod env;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use capture::{Captured, capture};

/// The longest a command may run, whatever the caller asks.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// How long output is still read after the command's process group was killed. Only a process
/// that left the group (`setsid`) and kept the pipe open makes this wait matter.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Bounds applied to every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLimits {
    /// Timeout when the caller gives none (capped at [`MAX_TIMEOUT`]).
    pub timeout: Duration,
    /// Bytes kept of each of stdout and stderr.
    pub max_output_bytes: usize,
}

impl Default for CommandLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_output_bytes: 64 * 1024,
        }
    }
}

/// Runs shell commands in the workspace folder. Cheap to clone.
#[derive(Clone)]
pub struct CommandRunner {
    inner: Arc<Inner>,
}

struct Inner {
    workdir: PathBuf,
    limits: CommandLimits,
    env: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for CommandRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRunner")
            .field("workdir", &self.inner.workdir)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Arguments of `run_command`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct RunArgs {
    /// The command line, run with `/bin/sh -c` in the workspace folder (for example
    /// `ls -la && wc -l notes/*.md`). No terminal is attached, and background jobs are stopped
    /// when the command ends.
    pub command: String,
    /// Kill the command after this many seconds (default 60, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Text to feed to the command's standard input (default: none, stdin is empty).
    #[serde(default)]
    pub stdin: Option<String>,
}

/// How a command ended and what it printed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunOutput {
    /// The exit code, when the command exited by itself.
    pub exit_code: Option<i32>,
    /// The signal that ended the command (9 = killed at the timeout).
    pub signal: Option<i32>,
    /// Standard output (start and end kept when truncated).
    pub stdout: String,
    /// Standard error (start and end kept when truncated).
    pub stderr: String,
    /// True when part of stdout was left out (over 64 KiB).
    pub stdout_truncated: bool,
    /// True when part of stderr was left out (over 64 KiB).
    pub stderr_truncated: bool,
    /// True when the command was killed because it ran past its timeout.
    pub timed_out: bool,
    /// Wall-clock run time in milliseconds.
    pub duration_ms: u64,
}

/// Why a command could not be run to a result.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("the command is empty; give a shell command line such as 'ls -la'")]
    EmptyCommand,
    #[error("timeout_secs must be between 1 and {max}, got {given}")]
    TimeoutOutOfRange { given: u64, max: u64 },
    #[error("could not start /bin/sh in the workspace folder: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("lost track of the command while waiting for it: {0}")]
    Wait(#[source] std::io::Error),
    /// The caller went away (the MCP request was cancelled); the command was killed.
    #[error("the command was cancelled and killed before it finished")]
    Cancelled,
}

impl CommandRunner {
    /// A runner for `workdir`; the child environment is derived from this process's once, here.
    pub fn new(workdir: PathBuf, limits: CommandLimits) -> Self {
        Self::with_parent_env(workdir, limits, std::env::vars_os())
    }

    /// Like [`CommandRunner::new`] with the server's environment given explicitly (tests pass
    /// a list instead of mutating the process environment).
    fn with_parent_env(
        workdir: PathBuf,
        limits: CommandLimits,
        parent_env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Self {
        let env = env::child_env(parent_env, &workdir);
        let limits = CommandLimits {
            timeout: limits.timeout.min(MAX_TIMEOUT),
            ..limits
        };
        Self {
            inner: Arc::new(Inner {
                workdir,
                limits,
                env,
            }),
        }
    }

    /// The folder commands run in.
    pub fn workdir(&self) -> &Path {
        &self.inner.workdir
    }

    /// Runs `args.command` to completion, its timeout, or `cancel`, whichever comes first.
    /// A timeout is a normal result (`timed_out: true`); cancellation is an error.
    pub async fn run(
        &self,
        args: RunArgs,
        cancel: CancellationToken,
    ) -> Result<RunOutput, CommandError> {
        if args.command.trim().is_empty() {
            return Err(CommandError::EmptyCommand);
        }
        let timeout = match args.timeout_secs {
            None => self.inner.limits.timeout,
            Some(secs @ 1..) if secs <= MAX_TIMEOUT.as_secs() => Duration::from_secs(secs),
            Some(given) => {
                return Err(CommandError::TimeoutOutOfRange {
                    given,
                    max: MAX_TIMEOUT.as_secs(),
                });
            }
        };
        let max_output = self.inner.limits.max_output_bytes;
        let started = Instant::now();

        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&args.command)
            .current_dir(&self.inner.workdir)
            .env_clear()
            .envs(self.inner.env.iter().map(|(k, v)| (k, v)))
            .stdin(if args.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A new process group led by the shell, so one killpg reaches everything it starts.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(CommandError::Spawn)?;
        // Killed on drop too: if this future is dropped (the connection closed without a
        // cancellation), nothing is left running.
        let mut group = ProcessGroup::new(child.id());

        if let (Some(mut pipe), Some(input)) = (child.stdin.take(), args.stdin) {
            tokio::spawn(async move {
                // A command that exits without reading all its input closes the pipe; that is
                // its business, not an error.
                let _ = pipe.write_all(input.as_bytes()).await;
            });
        }
        let stop_reading = CancellationToken::new();
        // If this future is dropped, the readers stop too rather than wait on an escaped process.
        let _stop_on_drop = stop_reading.clone().drop_guard();
        let stdout = child
            .stdout
            .take()
            .map(|pipe| tokio::spawn(capture(pipe, max_output, stop_reading.clone())));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(capture(pipe, max_output, stop_reading.clone())));

        let (status, end) = tokio::select! {
            status = child.wait() => (Some(status.map_err(CommandError::Wait)?), End::Exited),
            () = tokio::time::sleep(timeout) => (None, End::TimedOut),
            () = cancel.cancelled() => (None, End::Cancelled),
        };
        // The shell has exited or is being given up on: end everything it started.
        group.kill();
        let status = match status {
            Some(status) => status,
            None => child.wait().await.map_err(CommandError::Wait)?,
        };
        let (stdout, stderr) = drain(stdout, stderr, stop_reading).await;
        if end == End::Cancelled {
            tracing::info!("command cancelled by the client; killed");
            return Err(CommandError::Cancelled);
        }
        let timed_out = end == End::TimedOut;

        let output = RunOutput {
            exit_code: status.code(),
            signal: status.signal(),
            stdout: stdout.text,
            stderr: stderr.text,
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
            timed_out,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        tracing::info!(
            exit_code = ?output.exit_code,
            signal = ?output.signal,
            timed_out,
            duration_ms = output.duration_ms,
            "command finished"
        );
        Ok(output)
    }
}

/// What ended the wait for the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited,
    TimedOut,
    Cancelled,
}

type Reader = Option<tokio::task::JoinHandle<Captured>>;

/// Waits for both output readers, stopping them after [`DRAIN_GRACE`] if a pipe stays open.
async fn drain(stdout: Reader, stderr: Reader, stop: CancellationToken) -> (Captured, Captured) {
    let finish = async move |reader: Reader| match reader {
        Some(handle) => handle.await.unwrap_or_else(|_| Captured {
            text: String::new(),
            truncated: true,
        }),
        None => Captured {
            text: String::new(),
            truncated: false,
        },
    };
    let both = async { tokio::join!(finish(stdout), finish(stderr)) };
    tokio::pin!(both);
    match tokio::time::timeout(DRAIN_GRACE, &mut both).await {
        Ok(done) => done,
        Err(_) => {
            stop.cancel();
            both.await
        }
    }
}

/// The command's process group, killed (once) on [`ProcessGroup::kill`] or drop.
struct ProcessGroup {
    pgid: Option<Pid>,
}

impl ProcessGroup {
    fn new(leader: Option<u32>) -> Self {
        let pgid = leader
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        Self { pgid }
    }

    fn kill(&mut self) {
        let Some(pgid) = self.pgid.take() else {
            return;
        };
        match killpg(pgid, Signal::SIGKILL) {
            // ESRCH: the group is already empty (the shell exited and started nothing else).
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => {
                tracing::warn!(pgid = pgid.as_raw(), %err, "could not kill a command's process group")
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
