//! `Files::open`, `read` and `read_bytes`.

use super::Fixture;
use crate::tools::files::*;

#[tokio::test]
async fn open_creates_the_workspace_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data/workspace");
    let files = Files::open(&root).unwrap();
    assert!(root.is_dir());
    assert_eq!(files.root(), root);
}

#[tokio::test]
async fn open_reports_a_root_that_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("workspace");
    std::fs::write(&root, "not a folder").unwrap();
    let err = Files::open(&root).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot open the workspace folder"),
        "{err}"
    );
}

#[tokio::test]
async fn read_returns_the_whole_small_file() {
    let fx = Fixture::new();
    fx.put("notes/todo.md", "one\ntwo\nthree\n");
    let out = fx.read("notes/todo.md").await.unwrap();
    assert_eq!(out.content, "one\ntwo\nthree\n");
    assert_eq!((out.first_line, out.lines, out.size), (1, 3, 14));
    assert!(!out.truncated);
    assert_eq!(out.next_offset_line, None);
    assert_eq!(out.note, None);
}

#[tokio::test]
async fn read_pages_by_lines_and_says_where_to_continue() {
    let fx = Fixture::new();
    fx.put("a.txt", "1\n2\n3\n4\n5\n");
    let out = fx
        .files
        .read(ReadArgs {
            path: "a.txt".into(),
            offset_line: Some(2),
            limit_lines: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(out.content, "2\n3\n");
    assert_eq!((out.first_line, out.lines), (2, 2));
    assert!(out.truncated);
    assert_eq!(out.next_offset_line, Some(4));
    assert!(out.note.unwrap().contains("offset_line: 4"));

    let rest = fx
        .files
        .read(ReadArgs {
            path: "a.txt".into(),
            offset_line: Some(4),
            limit_lines: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(rest.content, "4\n5\n");
    assert!(!rest.truncated);
}

#[tokio::test]
async fn read_past_the_end_says_how_long_the_file_is() {
    let fx = Fixture::new();
    fx.put("a.txt", "1\n2\n");
    let out = fx
        .files
        .read(ReadArgs {
            path: "a.txt".into(),
            offset_line: Some(10),
            limit_lines: None,
        })
        .await
        .unwrap();
    assert_eq!(out.content, "");
    assert!(out.note.unwrap().contains("the file has 2 lines"));
}

#[tokio::test]
async fn read_caps_the_text_returned_at_256_kib() {
    let fx = Fixture::new();
    let line = format!("{}\n", "x".repeat(99));
    fx.put("big.txt", line.repeat(5000)); // 500 KB
    let out = fx.read("big.txt").await.unwrap();
    assert!(out.truncated);
    assert!(out.content.len() <= MAX_READ_TEXT_BYTES);
    assert_eq!(out.lines, (MAX_READ_TEXT_BYTES / 100) as u64);
    assert_eq!(out.next_offset_line, Some(out.lines + 1));
    assert_eq!(out.size, 500_000);
}

#[tokio::test]
async fn read_shows_the_start_of_a_line_longer_than_the_cap() {
    let fx = Fixture::new();
    fx.put("min.js", format!("{}\nsecond\n", "é".repeat(200_000)));
    let out = fx.read("min.js").await.unwrap();
    assert!(out.truncated);
    assert_eq!(out.lines, 1);
    assert!(out.content.len() <= MAX_READ_TEXT_BYTES);
    assert!(out.content.chars().all(|c| c == 'é'));
    assert_eq!(out.next_offset_line, Some(2));
    let second = fx
        .files
        .read(ReadArgs {
            path: "min.js".into(),
            offset_line: Some(2),
            limit_lines: None,
        })
        .await
        .unwrap();
    assert_eq!(second.content, "second\n");
}

#[tokio::test]
async fn read_refuses_binary_files_and_points_at_the_resource() {
    let fx = Fixture::new();
    fx.put("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    fx.put("latin1.txt", b"caf\xe9\n");
    for path in ["logo.png", "latin1.txt"] {
        let err = fx.read(path).await.unwrap_err();
        assert!(matches!(err, FileError::NotText { .. }), "{err}");
        assert!(err.to_string().contains("resource"), "{err}");
    }
}

#[tokio::test]
async fn read_errors_name_the_path_and_the_next_step() {
    let fx = Fixture::new();
    fx.put("dir/a.txt", "a");
    let err = fx.read("missing.txt").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "'missing.txt' does not exist; use list_files to see what is there"
    );
    let err = fx.read("dir").await.unwrap_err();
    assert!(matches!(err, FileError::IsADirectory { .. }), "{err}");
    let err = fx.read("dir/a.txt/b").await.unwrap_err();
    assert!(matches!(err, FileError::NotADirectory { .. }), "{err}");
    let err = fx
        .files
        .read(ReadArgs {
            path: "dir/a.txt".into(),
            offset_line: None,
            limit_lines: Some(0),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "limit_lines must be between 1 and 1000000, got 0"
    );
}

#[tokio::test]
async fn read_bytes_returns_exact_bytes_and_refuses_huge_files() {
    let fx = Fixture::new();
    let bytes: Vec<u8> = (0..=255).collect();
    fx.put("blob.bin", &bytes);
    assert_eq!(fx.files.read_bytes("blob.bin").await.unwrap(), bytes);

    // A sparse file: big on paper, no disk used.
    let huge = std::fs::File::create(fx.root().join("huge.bin")).unwrap();
    huge.set_len(MAX_FILE_BYTES + 1).unwrap();
    let err = fx.files.read_bytes("huge.bin").await.unwrap_err();
    assert!(matches!(err, FileError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("over the 10485760-byte limit"),
        "{err}"
    );
}

#[tokio::test]
async fn fifos_are_refused_instead_of_blocking() {
    let fx = Fixture::new();
    let status = std::process::Command::new("mkfifo")
        .arg(fx.root().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("pipe", fx.root().join("to-pipe")).unwrap();
    for path in ["pipe", "to-pipe"] {
        let err = fx.read(path).await.unwrap_err();
        assert!(matches!(err, FileError::NotAFile { .. }), "{path}: {err}");
        let err = fx.files.read_bytes(path).await.unwrap_err();
        assert!(matches!(err, FileError::NotAFile { .. }), "{path}: {err}");
        let err = fx.search("x", Some(path)).await.unwrap_err();
        assert!(matches!(err, FileError::NotAFile { .. }), "{path}: {err}");
    }
    // A whole-workspace search passes it by.
    assert!(fx.search("x", None).await.unwrap().matches.is_empty());
}
