//! Tests of run_command against a real `/bin/sh`: results, limits, the environment, and that
//! nothing it starts survives a timeout, a cancellation, or the caller going away.

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

use super::*;

struct Fixture {
    _tmp: TempDir,
    runner: CommandRunner,
}

impl Fixture {
    fn new() -> Self {
        Self::with_limits(CommandLimits::default())
    }

    fn with_limits(limits: CommandLimits) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let runner = CommandRunner::with_parent_env(
            tmp.path().to_path_buf(),
            limits,
            [("PATH".into(), std::env::var_os("PATH").unwrap_or_default())],
        );
        Self { _tmp: tmp, runner }
    }

    async fn run(&self, command: &str) -> RunOutput {
        self.try_run(command, None, None).await.unwrap()
    }

    async fn try_run(
        &self,
        command: &str,
        timeout_secs: Option<u64>,
        stdin: Option<&str>,
    ) -> Result<RunOutput, CommandError> {
        self.runner
            .run(
                RunArgs {
                    command: command.into(),
                    timeout_secs,
                    stdin: stdin.map(Into::into),
                },
                CancellationToken::new(),
            )
            .await
    }

    /// Waits (bounded) for a command to write its pid to `file` in the workspace.
    async fn pid_from_file(&self, file: &str) -> Pid {
        let path = self.runner.workdir().join(file);
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&path)
                && text.ends_with('\n')
            {
                return Pid::from_raw(text.trim().parse().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the command never wrote {file}");
    }
}

/// Whether `pid` is a live process. A zombie (killed, waiting to be reaped by whoever inherited
/// it, which in a container may be nobody) counts as gone.
fn alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "123 (sleep) Z ...".
        Ok(stat) => {
            !matches!(stat.rsplit(')').next().map(str::trim_start), Some(s) if s.starts_with('Z') || s.starts_with('X'))
        }
        Err(_) => false,
    }
}

/// SIGKILL is delivered asynchronously: give a killed process a moment to actually die.
async fn assert_gone(pid: Pid) {
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("process {pid} is still running");
}

fn pid_in(text: &str) -> Pid {
    Pid::from_raw(text.lines().next().unwrap().trim().parse().unwrap())
}

#[tokio::test]
async fn reports_exit_code_and_both_streams() {
    let fx = Fixture::new();
    let out = fx.run("echo out; echo err >&2; exit 3").await;
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.signal, None);
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert!(!out.timed_out && !out.stdout_truncated && !out.stderr_truncated);
    assert_eq!(fx.run("true").await.exit_code, Some(0));
    let out = fx.run("no-such-program-here").await;
    assert_eq!(out.exit_code, Some(127));
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
}

#[tokio::test]
async fn runs_in_the_workspace_folder_with_it_as_home() {
    let fx = Fixture::new();
    let workdir = fx.runner.workdir().canonicalize().unwrap();
    let out = fx
        .run("pwd -P; echo \"$HOME\"; echo hi > made-here.txt")
        .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], workdir.to_str().unwrap());
    assert_eq!(lines[1], fx.runner.workdir().to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(workdir.join("made-here.txt")).unwrap(),
        "hi\n"
    );
}

#[tokio::test]
async fn feeds_stdin_and_otherwise_gives_an_empty_one() {
    let fx = Fixture::new();
    let out = fx
        .try_run("tr a-z A-Z", None, Some("hello\n"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "HELLO\n");
    // Without stdin, a program that reads it sees end-of-file at once instead of hanging.
    let out = fx.run("cat; echo done").await;
    assert_eq!(out.stdout, "done\n");
    // A command that ignores a large stdin still finishes.
    let big = "x".repeat(1 << 20);
    let out = fx.try_run("echo ignored", None, Some(&big)).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
}

#[tokio::test]
async fn the_child_sees_no_secret_from_the_server_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let parent: Vec<(OsString, OsString)> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("ROOST_ADMIN_TOKEN", "rt-secret-1"),
        ("ROOST_DATA_DIR", "/data"),
        ("FLY_API_TOKEN", "fo1_secret-2"),
        ("GITHUB_TOKEN", "ghp_secret-3"),
        ("AWS_SECRET_ACCESS_KEY", "secret-4"),
        ("OPENAI_API_KEY", "sk-secret-5"),
        ("DATABASE_URL", "postgres://u:secret-6@db"),
        ("HOME", "/root"),
        ("LANG", "en_US.UTF-8"),
    ]
    .iter()
    .map(|(k, v)| (OsString::from(k), OsString::from(v)))
    .collect();
    let runner =
        CommandRunner::with_parent_env(tmp.path().to_path_buf(), CommandLimits::default(), parent);
    let out = runner
        .run(
            RunArgs {
                command: "env".into(),
                timeout_secs: None,
                stdin: None,
            },
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        !out.stdout.contains("secret"),
        "a secret leaked:\n{}",
        out.stdout
    );
    for name in ["ROOST_", "TOKEN", "SECRET", "KEY", "DATABASE_URL"] {
        assert!(!out.stdout.contains(name), "{name} leaked:\n{}", out.stdout);
    }
    // Only the allow-list (plus what sh itself sets) reaches the child, whatever else the
    // server's environment holds.
    let mut names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    names.retain(|name| !["PWD", "OLDPWD", "SHLVL", "_"].contains(name));
    names.sort();
    assert_eq!(names, ["HOME", "LANG", "PATH", "TERM"], "{}", out.stdout);
    let home = format!("HOME={}\n", tmp.path().display());
    assert!(out.stdout.contains(&home), "{}", out.stdout);
    assert!(out.stdout.contains("TERM=dumb\n"));
    assert!(out.stdout.contains("LANG=en_US.UTF-8\n"));
    assert!(out.stdout.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"));
}

#[tokio::test]
async fn a_timeout_kills_the_shell_and_everything_it_started() {
    let fx = Fixture::new();
    // `$$` is the shell (the group leader); `$!` a background child that holds the pipes.
    let out = fx
        .try_run("echo $$; sleep 30 & echo $!; sleep 30", Some(1), None)
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.exit_code, None);
    assert_eq!(out.signal, Some(Signal::SIGKILL as i32));
    let pids: Vec<Pid> = out.stdout.lines().map(pid_in).collect();
    assert_eq!(pids.len(), 2, "{}", out.stdout);
    for pid in pids {
        assert_gone(pid).await;
    }
}

#[tokio::test]
async fn background_jobs_do_not_outlive_the_command() {
    let fx = Fixture::new();
    let out = fx.run("sleep 30 >/dev/null 2>&1 & echo $!").await;
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.timed_out);
    assert_gone(pid_in(&out.stdout)).await;
}

#[tokio::test]
async fn cancellation_kills_the_command() {
    let fx = Fixture::new();
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let runner = fx.runner.clone();
        let cancel = cancel.clone();
        async move {
            runner
                .run(
                    RunArgs {
                        command: "echo $$ > pid; exec sleep 30".into(),
                        timeout_secs: None,
                        stdin: None,
                    },
                    cancel,
                )
                .await
        }
    });
    let pid = fx.pid_from_file("pid").await;
    assert!(alive(pid));
    cancel.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, CommandError::Cancelled), "{err}");
    assert_gone(pid).await;
}

#[tokio::test]
async fn dropping_the_call_kills_the_command() {
    let fx = Fixture::new();
    let run = tokio::spawn({
        let runner = fx.runner.clone();
        async move {
            runner
                .run(
                    RunArgs {
                        command: "sleep 30 & echo $! > pid; wait".into(),
                        timeout_secs: None,
                        stdin: None,
                    },
                    CancellationToken::new(),
                )
                .await
        }
    });
    let pid = fx.pid_from_file("pid").await;
    assert!(alive(pid));
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    assert_gone(pid).await;
}

#[tokio::test]
async fn output_is_capped_while_reading_and_flagged() {
    let fx = Fixture::with_limits(CommandLimits {
        max_output_bytes: 1000,
        ..CommandLimits::default()
    });
    // 10 MB on stdout, a little on stderr: stdout is cut, stderr is whole, and the command
    // is never blocked on a full pipe.
    let out = fx
        .run("seq 1 2000000; echo tail-line; echo small >&2")
        .await;
    assert_eq!(out.exit_code, Some(0));
    assert!(out.stdout_truncated);
    assert!(out.stdout.starts_with("1\n2\n3\n"));
    assert!(out.stdout.ends_with("2000000\ntail-line\n"));
    assert!(out.stdout.contains("bytes of output omitted"));
    assert!(out.stdout.len() < 1100, "{}", out.stdout.len());
    assert!(!out.stderr_truncated);
    assert_eq!(out.stderr, "small\n");
}

#[tokio::test]
async fn a_process_that_escapes_the_group_does_not_hang_the_call() {
    let fx = Fixture::new();
    // setsid leaves our process group, so killpg cannot reach it, and it holds stdout open.
    let out = fx.run("setsid sleep 30 & echo $!").await;
    let escapee = pid_in(&out.stdout);
    assert_eq!(out.exit_code, Some(0));
    assert!(out.duration_ms < 20_000, "waited for the escaped process");
    let _ = kill(escapee, Signal::SIGKILL);
}

#[tokio::test]
async fn bad_arguments_get_clear_errors() {
    let fx = Fixture::new();
    let err = fx.try_run("  ", None, None).await.unwrap_err();
    assert!(matches!(err, CommandError::EmptyCommand), "{err}");
    for given in [0, 601] {
        let err = fx.try_run("true", Some(given), None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("timeout_secs must be between 1 and 600, got {given}")
        );
    }
}

#[test]
fn the_default_timeout_is_capped_at_ten_minutes() {
    let runner = CommandRunner::with_parent_env(
        "/tmp".into(),
        CommandLimits {
            timeout: Duration::from_secs(3600),
            max_output_bytes: 10,
        },
        [],
    );
    assert_eq!(runner.inner.limits.timeout, MAX_TIMEOUT);
}
