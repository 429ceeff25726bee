//! Tests of the notes store against a real SQLite file (WAL, as the server opens it).

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tempfile::TempDir;

use super::*;

async fn pool_at(path: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap()
}

async fn open() -> (TempDir, Notes) {
    let tmp = tempfile::tempdir().unwrap();
    let notes = Notes::open(pool_at(&tmp.path().join("roost.db")).await)
        .await
        .unwrap();
    (tmp, notes)
}

async fn remember(notes: &Notes, text: &str, tags: &[&str]) -> Note {
    notes
        .remember(RememberArgs {
            text: text.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
        .await
        .unwrap()
}

async fn recall(notes: &Notes, query: &str) -> Vec<RecalledNote> {
    notes
        .recall(RecallArgs {
            query: query.into(),
            limit: None,
        })
        .await
        .unwrap()
        .notes
}

fn texts(found: &[RecalledNote]) -> Vec<&str> {
    found.iter().map(|n| n.note.text.as_str()).collect()
}

#[tokio::test]
async fn the_bundled_sqlite_has_fts5() {
    let (_tmp, notes) = open().await;
    let (enabled,): (i64,) = sqlx::query_as("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        .fetch_one(&notes.pool)
        .await
        .unwrap();
    assert_eq!(enabled, 1);
}

#[tokio::test]
async fn remember_stores_text_and_clean_tags() {
    let (_tmp, notes) = open().await;
    let note = remember(
        &notes,
        "  The user prefers metric units.\n",
        &["Preference", " units ", "", "preference"],
    )
    .await;
    assert!(note.id > 0);
    assert_eq!(note.text, "The user prefers metric units.");
    assert_eq!(note.tags, ["Preference", "units"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&note.created_at).is_ok(),
        "{}",
        note.created_at
    );
    let found = recall(&notes, "metric").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].note, note);
}

#[tokio::test]
async fn recall_ranks_the_best_match_first() {
    let (_tmp, notes) = open().await;
    remember(&notes, "Lunch: the user is vegetarian.", &[]).await;
    remember(&notes, "The deploy script is scripts/release.sh.", &[]).await;
    remember(
        &notes,
        "Deploy checklist: run the tests, bump the version, deploy.",
        &[],
    )
    .await;
    remember(&notes, "Checklist for the trip: passport.", &[]).await;

    let found = recall(&notes, "deploy checklist").await;
    // The note with both words (one of them twice) first; notes with one word follow.
    assert_eq!(found.len(), 3, "{:?}", texts(&found));
    assert_eq!(
        found[0].note.text,
        "Deploy checklist: run the tests, bump the version, deploy."
    );
    assert!(!texts(&found).contains(&"Lunch: the user is vegetarian."));
    let snippet = found[0].snippet.as_deref().unwrap();
    assert!(
        snippet.contains("[Deploy]") && snippet.contains("[checklist]"),
        "{snippet}"
    );
}

#[tokio::test]
async fn recall_matches_word_beginnings_tags_and_accents() {
    let (_tmp, notes) = open().await;
    remember(&notes, "Deployment happens on Fridays.", &[]).await;
    remember(&notes, "Budget numbers live in the sheet.", &["project-x"]).await;
    remember(&notes, "Meet at the café.", &[]).await;
    assert_eq!(
        texts(&recall(&notes, "deploy").await),
        ["Deployment happens on Fridays."]
    );
    assert_eq!(
        texts(&recall(&notes, "project-x").await),
        ["Budget numbers live in the sheet."]
    );
    assert_eq!(texts(&recall(&notes, "CAFE").await), ["Meet at the café."]);
    assert!(recall(&notes, "nothing-like-this").await.is_empty());
}

#[tokio::test]
async fn recall_with_an_empty_query_lists_the_newest() {
    let (_tmp, notes) = open().await;
    for i in 1..=12 {
        remember(&notes, &format!("note number {i}"), &[]).await;
    }
    let found = recall(&notes, "  ").await;
    assert_eq!(found.len(), 10, "default limit");
    assert_eq!(found[0].note.text, "note number 12");
    assert_eq!(found[9].note.text, "note number 3");
    assert!(found[0].snippet.is_none());
    let found = notes
        .recall(RecallArgs {
            query: String::new(),
            limit: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(texts(&found.notes), ["note number 12", "note number 11"]);
}

#[tokio::test]
async fn fts_syntax_in_the_query_is_just_text() {
    let (_tmp, notes) = open().await;
    remember(
        &notes,
        "Use \"quotes\" and key:value pairs AND dashes - here * there",
        &[],
    )
    .await;
    for query in [
        "\"",
        "\"unbalanced",
        "*",
        "AND",
        "OR",
        "NOT",
        "-",
        "-quotes",
        ":",
        "key:value",
        "NEAR(",
        "text:quotes",
        "(",
        ")",
        "^",
        "a OR",
        "quotes\"\"",
        "{col1 col2}: x",
        "'",
        "\\",
    ] {
        let result = notes
            .recall(RecallArgs {
                query: query.into(),
                limit: None,
            })
            .await;
        assert!(
            result.is_ok(),
            "query {query:?} failed: {}",
            result.unwrap_err()
        );
    }
    assert_eq!(recall(&notes, "key:value").await.len(), 1);
    assert_eq!(recall(&notes, "\"quotes\"").await.len(), 1);
    assert_eq!(
        recall(&notes, "AND").await.len(),
        1,
        "AND is a word, not an operator"
    );
}

#[tokio::test]
async fn forget_deletes_the_note_and_its_index_entry() {
    let (_tmp, notes) = open().await;
    let keep = remember(&notes, "keep this apple note", &[]).await;
    let gone = remember(&notes, "forget this apple note", &["fruit"]).await;
    let out = notes.forget(ForgetArgs { id: gone.id }).await.unwrap();
    assert_eq!(out.forgotten, gone);
    assert_eq!(texts(&recall(&notes, "apple").await), [keep.text.as_str()]);
    assert!(recall(&notes, "fruit").await.is_empty());

    let err = notes.forget(ForgetArgs { id: gone.id }).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "there is no note with id {}; use recall to find the note's id",
            gone.id
        )
    );
}

#[tokio::test]
async fn bad_notes_are_refused_with_the_reason() {
    let (_tmp, notes) = open().await;
    let attempt = |text: String, tags: Vec<String>| notes.remember(RememberArgs { text, tags });
    let err = attempt(" \n ".into(), vec![]).await.unwrap_err();
    assert!(matches!(err, NotesError::EmptyText), "{err}");
    let err = attempt("x".repeat(MAX_NOTE_BYTES + 1), vec![])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("over the 16384-byte limit"),
        "{err}"
    );
    let err = attempt("ok".into(), vec!["two\nlines".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, NotesError::InvalidTag { .. }), "{err}");
    let err = attempt("ok".into(), vec!["t".repeat(65)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("longer than 64 characters"),
        "{err}"
    );
    let many = (0..17).map(|i| format!("tag{i}")).collect();
    let err = attempt("ok".into(), many).await.unwrap_err();
    assert_eq!(err.to_string(), "a note can have at most 16 tags, got 17");
    for limit in [0, 101] {
        let err = notes
            .recall(RecallArgs {
                query: "ok".into(),
                limit: Some(limit),
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("limit must be between 1 and 100, got {limit}")
        );
    }
    assert!(
        recall(&notes, "").await.is_empty(),
        "a refused note was stored"
    );
}

#[tokio::test]
async fn notes_survive_reopening_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("roost.db");
    let pool = pool_at(&path).await;
    let notes = Notes::open(pool.clone()).await.unwrap();
    let note = remember(&notes, "The Wi-Fi password is on the fridge.", &["home"]).await;
    pool.close().await;

    let notes = Notes::open(pool_at(&path).await).await.unwrap();
    // Opening twice on one pool is fine too (the schema statements are idempotent).
    let notes = Notes::open(notes.pool.clone()).await.unwrap();
    let found = recall(&notes, "fridge").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].note, note);
    let next = remember(&notes, "another", &[]).await;
    assert!(next.id > note.id);
}

#[test]
fn fts_queries_quote_every_word() {
    assert_eq!(
        fts_query("deploy  checklist").unwrap(),
        "\"deploy\"* OR \"checklist\"*"
    );
    assert_eq!(
        fts_query("say \"hi\"").unwrap(),
        "\"say\"* OR \"\"\"hi\"\"\"*"
    );
    assert_eq!(fts_query(" - * : "), None);
    assert_eq!(fts_query(""), None);
}
