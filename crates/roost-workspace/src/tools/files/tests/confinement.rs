//! Every way out of the workspace we know of, tried with every tool. Each test also checks that
//! the file outside is byte-for-byte untouched afterwards.

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::Fixture;
use crate::tools::command::{CommandLimits, CommandRunner, RunArgs};
use crate::tools::files::*;

const SECRET: &str = "outside secret\n";

/// A workspace plus `<tmp>/outside/secret.txt`, a sibling folder the tools must never reach.
struct Escape {
    fx: Fixture,
    outside: PathBuf,
}

impl Escape {
    fn new() -> Self {
        let fx = Fixture::new();
        let outside = fx.tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        Self { fx, outside }
    }

    fn link(&self, rel: &str, target: impl Into<PathBuf>) {
        symlink(target.into(), self.fx.root().join(rel)).unwrap();
    }

    /// The outside folder holds exactly the secret, unchanged.
    fn assert_outside_untouched(&self) {
        let mut names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["secret.txt"], "a file appeared or vanished outside");
        let secret = std::fs::read_to_string(self.outside.join("secret.txt")).unwrap();
        assert_eq!(secret, SECRET, "the outside file was changed");
    }
}

#[track_caller]
fn assert_outside(result: Result<impl std::fmt::Debug, FileError>) {
    match result {
        Err(err @ FileError::OutsideWorkspace { .. }) => {
            assert!(
                err.to_string()
                    .contains("use a path relative to the workspace root"),
                "{err}"
            );
        }
        other => panic!("expected OutsideWorkspace, got {other:?}"),
    }
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_are_refused_by_every_tool() {
    let esc = Escape::new();
    let fx = &esc.fx;
    fx.put("inside.txt", "inside");
    for path in [
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "/etc/passwd",
    ] {
        assert_outside(fx.read(path).await);
        assert_outside(fx.files.read_bytes(path).await);
        assert_outside(fx.write(path, "pwned").await);
        assert_outside(fx.edit(path, "outside", "pwned", false).await);
        assert_outside(fx.list(Some(path), true).await);
        assert_outside(fx.search("secret", Some(path)).await);
        assert_outside(fx.mv(path, "stolen.txt", true).await);
        assert_outside(fx.mv("inside.txt", path, true).await);
        assert_outside(fx.delete(path, true).await);
    }
    let err = fx.read("../outside/secret.txt").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "path '../outside/secret.txt' leaves the workspace folder ('..' climbs above the \
         workspace root); use a path relative to the workspace root, like 'notes/todo.md'"
    );
    let err = fx.read("/etc/passwd").await.unwrap_err();
    assert!(
        err.to_string().contains("absolute paths are not allowed"),
        "{err}"
    );
    assert_eq!(fx.get("inside.txt"), "inside");
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn a_nul_byte_in_a_path_is_refused() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    let err = fx.read("a.txt\0/../../etc/passwd").await.unwrap_err();
    assert!(matches!(err, FileError::InvalidPath { .. }), "{err}");
    let err = fx.write("a\0b", "x").await.unwrap_err();
    assert!(matches!(err, FileError::InvalidPath { .. }), "{err}");
}

#[tokio::test]
async fn a_symlinked_file_pointing_outside_cannot_be_read_written_or_edited() {
    let esc = Escape::new();
    let fx = &esc.fx;
    esc.link("leak.txt", esc.outside.join("secret.txt"));
    esc.link("passwd", "/etc/passwd");

    for link in ["leak.txt", "passwd"] {
        assert_outside(fx.read(link).await);
        assert_outside(fx.files.read_bytes(link).await);
        assert_outside(fx.write(link, "pwned").await);
        assert_outside(fx.edit(link, "secret", "pwned", false).await);
    }
    let err = fx.read("leak.txt").await.unwrap_err();
    assert!(
        err.to_string().contains("symlink that points outside"),
        "{err}"
    );
    // Still a link, still pointing where it did.
    assert!(fx.root().join("leak.txt").is_symlink());
    // search does not follow it either.
    let out = fx.search("secret", None).await.unwrap();
    assert!(out.matches.is_empty(), "{:?}", out.matches);
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn moving_onto_or_deleting_an_outside_symlink_touches_only_the_link() {
    let esc = Escape::new();
    let fx = &esc.fx;
    esc.link("leak.txt", esc.outside.join("secret.txt"));
    fx.put("mine.txt", "mine");

    // Onto it: the link is replaced by the file, nothing is written through it.
    let out = fx.mv("mine.txt", "leak.txt", true).await.unwrap();
    assert!(out.replaced);
    assert!(!fx.root().join("leak.txt").is_symlink());
    assert_eq!(fx.get("leak.txt"), "mine");
    esc.assert_outside_untouched();

    // Moving a link moves the link.
    esc.link("leak2.txt", esc.outside.join("secret.txt"));
    fx.mv("leak2.txt", "moved.txt", false).await.unwrap();
    assert!(fx.root().join("moved.txt").is_symlink());
    esc.assert_outside_untouched();

    // Deleting a link deletes the link.
    let out = fx.delete("moved.txt", false).await.unwrap();
    assert_eq!(out.kind, EntryKind::Symlink);
    assert!(!fx.root().join("moved.txt").exists());
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn a_symlinked_folder_pointing_outside_cannot_be_used_as_a_path() {
    let esc = Escape::new();
    let fx = &esc.fx;
    esc.link("dir", &esc.outside);
    fx.put("mine.txt", "mine");

    assert_outside(fx.read("dir/secret.txt").await);
    assert_outside(fx.files.read_bytes("dir/secret.txt").await);
    assert_outside(fx.write("dir/secret.txt", "pwned").await);
    assert_outside(fx.write("dir/new.txt", "planted").await);
    assert_outside(fx.write("dir/sub/new.txt", "planted").await);
    assert_outside(fx.edit("dir/secret.txt", "secret", "pwned", false).await);
    assert_outside(fx.list(Some("dir"), false).await);
    assert_outside(fx.search("secret", Some("dir")).await);
    assert_outside(fx.mv("mine.txt", "dir/mine.txt", false).await);
    assert_outside(fx.mv("dir/secret.txt", "stolen.txt", false).await);
    assert_outside(fx.delete("dir/secret.txt", false).await);
    // `..` after the link is resolved lexically (`dir/..` is the root), never as the OS
    // would (the outside folder's parent).
    let out = fx.read("dir/../mine.txt").await.unwrap();
    assert_eq!(out.content, "mine");

    // Walking the whole workspace shows the link but does not enter it.
    let listed = fx.list(None, true).await.unwrap();
    let got: Vec<_> = listed
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind))
        .collect();
    assert_eq!(
        got,
        [("dir", EntryKind::Symlink), ("mine.txt", EntryKind::File)]
    );
    assert!(fx.search("secret", None).await.unwrap().matches.is_empty());
    assert_eq!(fx.files.list_all(100).await.unwrap().len(), 1);

    assert_eq!(fx.get("mine.txt"), "mine");
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn deleting_a_folder_with_an_outside_link_inside_leaves_the_outside_alone() {
    let esc = Escape::new();
    let fx = &esc.fx;
    fx.put("project/a.txt", "a");
    symlink(&esc.outside, fx.root().join("project/out")).unwrap();
    symlink(esc.outside.join("secret.txt"), fx.root().join("project/s")).unwrap();
    fx.delete("project", true).await.unwrap();
    assert!(fx.names_in("").is_empty());
    esc.assert_outside_untouched();

    // And the link itself, as a folder-looking path.
    esc.link("dir", &esc.outside);
    let out = fx.delete("dir", true).await.unwrap();
    assert_eq!(out.kind, EntryKind::Symlink);
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn symlinks_that_stay_inside_work() {
    let fx = Fixture::new();
    fx.put("real/notes.md", "hello\n");
    symlink("real/notes.md", fx.root().join("link.md")).unwrap();
    symlink("real", fx.root().join("alias")).unwrap();

    assert_eq!(fx.read("link.md").await.unwrap().content, "hello\n");
    assert_eq!(fx.read("alias/notes.md").await.unwrap().content, "hello\n");

    // Writing through the link replaces the target and keeps the link.
    fx.write("link.md", "written\n").await.unwrap();
    assert!(fx.root().join("link.md").is_symlink());
    assert_eq!(fx.get("real/notes.md"), "written\n");
    fx.edit("link.md", "written", "edited", false)
        .await
        .unwrap();
    assert!(fx.root().join("link.md").is_symlink());
    assert_eq!(fx.get("real/notes.md"), "edited\n");
    fx.write("alias/new.md", "new\n").await.unwrap();
    assert_eq!(fx.get("real/new.md"), "new\n");
}

#[tokio::test]
async fn a_symlink_made_by_run_command_does_not_open_the_host() {
    let esc = Escape::new();
    let fx = &esc.fx;
    let runner = CommandRunner::new(fx.root().to_path_buf(), CommandLimits::default());
    let run = |command: String| {
        runner.run(
            RunArgs {
                command,
                timeout_secs: None,
                stdin: None,
            },
            CancellationToken::new(),
        )
    };
    let out = run("ln -s / escape && ln -s ../outside up".into())
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);

    assert_outside(fx.read("escape/etc/passwd").await);
    assert_outside(fx.list(Some("escape/etc"), false).await);
    assert_outside(fx.read("up/secret.txt").await);
    assert_outside(fx.write("up/secret.txt", "pwned").await);
    assert_outside(fx.write("escape/tmp/planted", "pwned").await);
    esc.assert_outside_untouched();
}
