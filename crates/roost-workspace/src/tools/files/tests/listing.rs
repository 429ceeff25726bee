//! `list`, `list_all` and `search`.

use super::{Fixture, paths};
use crate::tools::files::*;

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
async fn pages_follow_the_walk_order_and_survive_a_deleted_cursor_file() {
    let fx = Fixture::new();
    // `a/…` walks before `a-c` (the folder `a` sorts first), though "a-c" < "a/b" as strings.
    for path in ["a/b", "a/a", "a-c", "z", "m/n/o"] {
        fx.put(path, "x");
    }
    let all: Vec<String> = fx
        .files
        .list_all(100)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(all, ["a/a", "a/b", "a-c", "m/n/o", "z"]);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let (page, more) = fx.files.list_page(after.clone(), 2).await.unwrap();
        paged.extend(page.iter().map(|f| f.path.clone()));
        if !more {
            break;
        }
        after = page.last().map(|f| f.path.clone());
    }
    assert_eq!(paged, all, "every file exactly once, in order");

    // The file a cursor names is deleted before the next page: paging goes on after it.
    std::fs::remove_file(fx.root().join("a-c")).unwrap();
    let (page, more) = fx
        .files
        .list_page(Some("a-c".to_owned()), 10)
        .await
        .unwrap();
    let rest: Vec<&str> = page.iter().map(|f| f.path.as_str()).collect();
    assert_eq!((rest, more), (vec!["m/n/o", "z"], false));
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
    // A git repository's internals are not files the user works on.
    fx.put(".git/HEAD", "ref: refs/heads/main");
    assert_eq!(fx.files.list_all(100).await.unwrap().len(), 3);
    let listed = fx.list(None, true).await.unwrap();
    assert_eq!(listed.entries[0].path, ".git");
    assert!(!paths(&listed).contains(&".git/HEAD"));
    assert_eq!(
        paths(&fx.list(Some(".git"), true).await.unwrap()),
        [".git/HEAD"]
    );
}

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
