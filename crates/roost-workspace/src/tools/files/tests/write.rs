//! `write` and `edit`: content replaced whole and atomically, errors that change nothing.

use std::os::unix::fs::PermissionsExt;

use super::Fixture;
use crate::tools::files::*;

#[tokio::test]
async fn write_creates_parents_and_replaces_content_whole() {
    let fx = Fixture::new();
    let out = fx
        .write("a/b/c.txt", "a long first version\n")
        .await
        .unwrap();
    assert!(out.created);
    assert_eq!(out.bytes_written, 21);
    assert_eq!(fx.get("a/b/c.txt"), "a long first version\n");

    let out = fx.write("a/b/c.txt", "short\n").await.unwrap();
    assert!(!out.created);
    // Replaced, not overwritten in place: nothing of the longer old content is left.
    assert_eq!(fx.get("a/b/c.txt"), "short\n");
    // No temporary file is left next to it.
    assert_eq!(fx.names_in("a/b"), ["c.txt"]);
    assert_eq!(fx.names_in(""), ["a"]);
}

#[tokio::test]
async fn write_keeps_an_executable_script_executable() {
    let fx = Fixture::new();
    fx.put("run.sh", "#!/bin/sh\necho old\n");
    let path = fx.root().join("run.sh");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    fx.write("run.sh", "#!/bin/sh\necho new\n").await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(fx.get("run.sh"), "#!/bin/sh\necho new\n");
}

#[tokio::test]
async fn write_refuses_directories_and_the_root() {
    let fx = Fixture::new();
    fx.put("dir/a.txt", "a");
    for path in ["dir", "."] {
        let err = fx.write(path, "x").await.unwrap_err();
        assert!(
            matches!(err, FileError::IsADirectory { .. }),
            "{path}: {err}"
        );
    }
    assert_eq!(fx.get("dir/a.txt"), "a");
}

#[tokio::test]
async fn concurrent_writes_leave_one_complete_version() {
    let fx = Fixture::new();
    let versions: Vec<String> = (0..8).map(|i| format!("{i}").repeat(10_000)).collect();
    let writes = versions.iter().map(|v| fx.write("same.txt", v));
    for result in futures::future::join_all(writes).await {
        result.unwrap();
    }
    let content = fx.get("same.txt");
    assert!(versions.contains(&content), "a mix of versions was written");
    assert_eq!(fx.names_in(""), ["same.txt"]);
}

#[tokio::test]
async fn edit_replaces_the_one_occurrence() {
    let fx = Fixture::new();
    fx.put("a.md", "# Title\n\nhello world\n");
    let out = fx
        .edit("a.md", "hello world", "goodbye world", false)
        .await
        .unwrap();
    assert_eq!(out.replacements, 1);
    assert_eq!(fx.get("a.md"), "# Title\n\ngoodbye world\n");
    assert_eq!(out.bytes_written, fx.get("a.md").len() as u64);
    assert_eq!(fx.names_in(""), ["a.md"]);
}

#[tokio::test]
async fn edit_refuses_ambiguous_text_unless_replace_all() {
    let fx = Fixture::new();
    fx.put("a.txt", "x = 1\ny = 1\nz = 1\n");
    let err = fx.edit("a.txt", "= 1", "= 2", false).await.unwrap_err();
    assert!(
        matches!(err, FileError::Ambiguous { count: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("occurs 3 times"), "{err}");
    assert!(err.to_string().contains("replace_all: true"), "{err}");
    assert_eq!(
        fx.get("a.txt"),
        "x = 1\ny = 1\nz = 1\n",
        "file changed on error"
    );

    let out = fx.edit("a.txt", "= 1", "= 2", true).await.unwrap();
    assert_eq!(out.replacements, 3);
    assert_eq!(fx.get("a.txt"), "x = 2\ny = 2\nz = 2\n");
}

#[tokio::test]
async fn edit_errors_leave_the_file_alone() {
    let fx = Fixture::new();
    fx.put("a.txt", "hello\n");
    let err = fx.edit("a.txt", "Hello", "bye", false).await.unwrap_err();
    assert!(matches!(err, FileError::NotFoundText { .. }), "{err}");
    assert!(err.to_string().contains("read the file again"), "{err}");
    let err = fx.edit("a.txt", "", "bye", false).await.unwrap_err();
    assert!(matches!(err, FileError::EmptyOldText), "{err}");
    let err = fx.edit("nope.txt", "a", "b", false).await.unwrap_err();
    assert!(matches!(err, FileError::NotFound { .. }), "{err}");
    fx.put("bin.dat", b"a\0b");
    let err = fx.edit("bin.dat", "a", "c", false).await.unwrap_err();
    assert!(matches!(err, FileError::NotText { .. }), "{err}");
    assert_eq!(fx.get("a.txt"), "hello\n");
    assert_eq!(std::fs::read(fx.root().join("bin.dat")).unwrap(), b"a\0b");
}

#[tokio::test]
async fn write_below_a_file_says_the_parent_is_not_a_folder() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    let err = fx.write("a.txt/b.txt", "b").await.unwrap_err();
    assert!(matches!(err, FileError::NotADirectory { .. }), "{err}");
    assert_eq!(fx.get("a.txt"), "a");
}

#[tokio::test]
async fn write_refuses_content_over_the_size_limit() {
    let fx = Fixture::new();
    let big = "x".repeat(MAX_FILE_BYTES as usize + 1);
    let err = fx.write("big.txt", &big).await.unwrap_err();
    assert!(matches!(err, FileError::TooLarge { .. }), "{err}");
    assert!(fx.names_in("").is_empty());
}

#[tokio::test]
async fn edit_matches_lf_text_in_a_crlf_file_and_keeps_crlf() {
    let fx = Fixture::new();
    fx.put("win.txt", "first\r\nsecond\r\nthird\r\n");
    let out = fx
        .edit("win.txt", "first\nsecond\n", "one\ntwo\n", false)
        .await
        .unwrap();
    assert_eq!(out.replacements, 1);
    assert_eq!(fx.get("win.txt"), "one\r\ntwo\r\nthird\r\n");
}
