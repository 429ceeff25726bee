//! `move` and `delete`.

use super::Fixture;
use crate::tools::files::*;

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
