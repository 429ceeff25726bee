//! Tests of the file tools: each tool's results and error messages on a real temp folder.
//! Escape attempts (`..`, absolute paths, symlinks) are in [`confinement`].

mod confinement;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tempfile::TempDir;

use super::*;

/// A workspace in a fresh temp folder (`<tmp>/workspace`, created by `Files::open`).
pub(super) struct Fixture {
    pub tmp: TempDir,
    pub files: Files,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let files = Files::open(&tmp.path().join("workspace")).unwrap();
        Self { tmp, files }
    }

    pub fn root(&self) -> &Path {
        self.files.root()
    }

    /// Writes a file directly on disk, bypassing the tools.
    pub fn put(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn get(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap()
    }

    pub async fn read(&self, path: &str) -> Result<ReadOutput, FileError> {
        self.files
            .read(ReadArgs {
                path: path.into(),
                offset_line: None,
                limit_lines: None,
            })
            .await
    }

    pub async fn write(&self, path: &str, content: &str) -> Result<WriteOutput, FileError> {
        self.files
            .write(WriteArgs {
                path: path.into(),
                content: content.into(),
            })
            .await
    }

    pub async fn edit(
        &self,
        path: &str,
        old_text: &str,
        new_text: &str,
        replace_all: bool,
    ) -> Result<EditOutput, FileError> {
        self.files
            .edit(EditArgs {
                path: path.into(),
                old_text: old_text.into(),
                new_text: new_text.into(),
                replace_all,
            })
            .await
    }

    pub async fn list(&self, path: Option<&str>, recursive: bool) -> Result<ListOutput, FileError> {
        self.files
            .list(ListArgs {
                path: path.map(Into::into),
                recursive,
            })
            .await
    }

    pub async fn search(
        &self,
        pattern: &str,
        path: Option<&str>,
    ) -> Result<SearchOutput, FileError> {
        self.files
            .search(SearchArgs {
                pattern: pattern.into(),
                path: path.map(Into::into),
                max_results: None,
            })
            .await
    }

    pub async fn mv(&self, from: &str, to: &str, overwrite: bool) -> Result<MoveOutput, FileError> {
        self.files
            .r#move(MoveArgs {
                from: from.into(),
                to: to.into(),
                overwrite,
            })
            .await
    }

    pub async fn delete(&self, path: &str, recursive: bool) -> Result<DeleteOutput, FileError> {
        self.files
            .delete(DeleteArgs {
                path: path.into(),
                recursive,
            })
            .await
    }

    /// Names of every entry in `rel` on disk, sorted.
    pub fn names_in(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn paths(list: &ListOutput) -> Vec<&str> {
    list.entries.iter().map(|e| e.path.as_str()).collect()
}

// ---- open ----

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

// ---- read ----

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

// ---- write ----

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

// ---- edit ----

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

// ---- list ----

#[tokio::test]
async fn list_shows_sorted_entries_with_kind_size_and_time() {
    let fx = Fixture::new();
    fx.put("b.txt", "bb");
    fx.put("a.txt", "a");
    fx.put("sub/c.txt", "ccc");
    let out = fx.list(None, false).await.unwrap();
    assert_eq!(out.path, ".");
    assert_eq!(paths(&out), ["a.txt", "b.txt", "sub"]);
    assert_eq!(out.entries[1].size, Some(2));
    assert_eq!(out.entries[2].kind, EntryKind::Directory);
    assert_eq!(out.entries[2].size, None);
    let modified = out.entries[0].modified.as_deref().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(modified).is_ok(),
        "{modified}"
    );
    assert!(!out.truncated);
}

#[tokio::test]
async fn list_recursive_puts_folders_before_their_contents() {
    let fx = Fixture::new();
    fx.put("z.txt", "");
    fx.put("a/b/c.txt", "");
    fx.put("a/d.txt", "");
    let out = fx.list(None, true).await.unwrap();
    assert_eq!(paths(&out), ["a", "a/b", "a/b/c.txt", "a/d.txt", "z.txt"]);
    let out = fx.list(Some("a"), false).await.unwrap();
    assert_eq!(paths(&out), ["a/b", "a/d.txt"]);
}

#[tokio::test]
async fn list_is_bounded() {
    let fx = Fixture::new();
    for i in 0..=MAX_LIST_ENTRIES {
        fx.put(&format!("f{i:04}"), "");
    }
    let out = fx.list(None, false).await.unwrap();
    assert_eq!(out.entries.len(), MAX_LIST_ENTRIES);
    assert!(out.truncated);
}

#[tokio::test]
async fn list_of_a_file_or_missing_folder_is_an_error() {
    let fx = Fixture::new();
    fx.put("a.txt", "");
    let err = fx.list(Some("a.txt"), false).await.unwrap_err();
    assert!(matches!(err, FileError::NotADirectory { .. }), "{err}");
    let err = fx.list(Some("nope"), false).await.unwrap_err();
    assert!(matches!(err, FileError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn list_all_gives_every_file_with_a_mime_type() {
    let fx = Fixture::new();
    fx.put("notes/todo.md", "x");
    fx.put("img/logo.png", "png");
    fx.put("data", "??");
    let all = fx.files.list_all(100).await.unwrap();
    let got: Vec<(&str, u64, &str)> = all
        .iter()
        .map(|f| (f.path.as_str(), f.size, f.mime.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("data", 2, "application/octet-stream"),
            ("img/logo.png", 3, "image/png"),
            ("notes/todo.md", 1, "text/markdown"),
        ]
    );
    assert_eq!(fx.files.list_all(2).await.unwrap().len(), 2);
}

// ---- search ----

#[tokio::test]
async fn search_finds_lines_with_numbers() {
    let fx = Fixture::new();
    fx.put("a.md", "alpha\nTODO: one\nbeta\n");
    fx.put("sub/b.rs", "// TODO two\nfn main() {}\n");
    fx.put("c.txt", "nothing here\n");
    let out = fx.search("TODO:? ", None).await.unwrap();
    let got: Vec<(&str, u64, &str)> = out
        .matches
        .iter()
        .map(|m| (m.path.as_str(), m.line_number, m.line.as_str()))
        .collect();
    assert_eq!(
        got,
        [("a.md", 2, "TODO: one"), ("sub/b.rs", 1, "// TODO two")]
    );
    assert_eq!(out.files_searched, 3);
    assert!(!out.truncated);

    let out = fx.search("(?i)todo", Some("sub")).await.unwrap();
    assert_eq!(out.matches.len(), 1);
    let out = fx.search("beta", Some("a.md")).await.unwrap();
    assert_eq!(out.matches[0].line_number, 3);
}

#[tokio::test]
async fn search_reports_an_invalid_pattern() {
    let fx = Fixture::new();
    let err = fx.search("fn (", None).await.unwrap_err();
    assert!(matches!(err, FileError::InvalidPattern { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("invalid regular expression \"fn (\""),
        "{err}"
    );
}

#[tokio::test]
async fn search_skips_binary_files_and_git_internals() {
    let fx = Fixture::new();
    fx.put("image.bin", b"needle\0\x01\x02");
    fx.put(".git/config", "needle");
    fx.put("text.txt", "needle");
    let out = fx.search("needle", None).await.unwrap();
    assert_eq!(out.matches.len(), 1);
    assert_eq!(out.matches[0].path, "text.txt");
    assert_eq!((out.files_searched, out.files_skipped), (1, 1));
}

#[tokio::test]
async fn search_stops_at_max_results_and_cuts_long_lines() {
    let fx = Fixture::new();
    fx.put("many.txt", "hit\n".repeat(50));
    fx.put("long.txt", format!("hit {}\n", "y".repeat(1000)));
    let out = fx
        .files
        .search(SearchArgs {
            pattern: "hit".into(),
            path: None,
            max_results: Some(5),
        })
        .await
        .unwrap();
    assert_eq!(out.matches.len(), 5);
    assert!(out.truncated);
    let long = &fx.search("hit y", None).await.unwrap().matches[0];
    assert_eq!(long.line.chars().count(), 401);
    assert!(long.line.ends_with('…'));

    let err = fx
        .files
        .search(SearchArgs {
            pattern: "hit".into(),
            path: None,
            max_results: Some(5000),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "max_results must be between 1 and 1000, got 5000"
    );
}

// ---- move ----

#[tokio::test]
async fn move_renames_and_creates_parent_folders() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    let out = fx.mv("a.txt", "archive/2026/a.txt", false).await.unwrap();
    assert_eq!(
        (out.from.as_str(), out.to.as_str(), out.replaced),
        ("a.txt", "archive/2026/a.txt", false)
    );
    assert_eq!(fx.get("archive/2026/a.txt"), "a");
    assert!(!fx.root().join("a.txt").exists());

    fx.put("dir/x.txt", "x");
    fx.mv("dir", "renamed", false).await.unwrap();
    assert_eq!(fx.get("renamed/x.txt"), "x");
}

#[tokio::test]
async fn move_replaces_an_existing_file_only_when_asked() {
    let fx = Fixture::new();
    fx.put("new.txt", "new");
    fx.put("old.txt", "old");
    let err = fx.mv("new.txt", "old.txt", false).await.unwrap_err();
    assert!(matches!(err, FileError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("overwrite: true"), "{err}");
    assert_eq!(fx.get("old.txt"), "old");
    assert_eq!(fx.get("new.txt"), "new");

    let out = fx.mv("new.txt", "old.txt", true).await.unwrap();
    assert!(out.replaced);
    assert_eq!(fx.get("old.txt"), "new");
}

#[tokio::test]
async fn move_refuses_folders_as_destination_itself_and_the_root() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    fx.put("dir/keep.txt", "k");
    let err = fx.mv("a.txt", "dir", true).await.unwrap_err();
    assert!(
        matches!(err, FileError::DestinationIsDirectory { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("like 'dir/name'"), "{err}");
    let err = fx.mv("dir", "dir/inner", false).await.unwrap_err();
    assert!(matches!(err, FileError::IntoItself { .. }), "{err}");
    let err = fx.mv(".", "x", false).await.unwrap_err();
    assert!(matches!(err, FileError::IsRoot { .. }), "{err}");
    let err = fx.mv("missing", "x", false).await.unwrap_err();
    assert!(matches!(err, FileError::NotFound { .. }), "{err}");
    assert_eq!(fx.get("a.txt"), "a");
    assert_eq!(fx.get("dir/keep.txt"), "k");
}

// ---- delete ----

#[tokio::test]
async fn delete_removes_files_and_empty_folders() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    std::fs::create_dir(fx.root().join("empty")).unwrap();
    let out = fx.delete("a.txt", false).await.unwrap();
    assert_eq!(out.kind, EntryKind::File);
    let out = fx.delete("empty", false).await.unwrap();
    assert_eq!(out.kind, EntryKind::Directory);
    assert!(fx.names_in("").is_empty());
}

#[tokio::test]
async fn delete_needs_recursive_for_a_full_folder() {
    let fx = Fixture::new();
    fx.put("dir/sub/a.txt", "a");
    let err = fx.delete("dir", false).await.unwrap_err();
    assert!(matches!(err, FileError::DirectoryNotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("recursive: true"), "{err}");
    assert_eq!(fx.get("dir/sub/a.txt"), "a");
    fx.delete("dir", true).await.unwrap();
    assert!(fx.names_in("").is_empty());
}

#[tokio::test]
async fn delete_refuses_the_root_however_it_is_spelled() {
    let fx = Fixture::new();
    fx.put("a.txt", "a");
    for path in [".", "./", "sub/..", "./."] {
        let err = fx.delete(path, true).await.unwrap_err();
        assert!(matches!(err, FileError::IsRoot { .. }), "{path}: {err}");
        assert_eq!(
            err.to_string(),
            "refusing to delete the workspace root itself; name a file or folder inside it"
        );
    }
    assert_eq!(fx.get("a.txt"), "a");
    let err = fx.delete("missing", false).await.unwrap_err();
    assert!(matches!(err, FileError::NotFound { .. }), "{err}");
}
