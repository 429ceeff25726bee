//! `remember`, `recall` and `forget`: short notes the model keeps for the user across sessions,
//! stored in SQLite (`<data dir>/roost.db`) and searched with FTS5.
//!
//! The FTS table is an external-content index over `notes`, kept in step by triggers
//! (<https://sqlite.org/fts5.html#external_content_tables>), so the note text is stored once.
//! The schema is created with `IF NOT EXISTS` statements rather than a sqlx migrator because the
//! server shares the database file for its own tables, and two migrators on one
//! `_sqlx_migrations` table would each reject the other's history.
//!
//! Recall never passes the model's words to FTS5 as query syntax: each word becomes a quoted
//! prefix term (`"deploy"*`) and the terms are OR-ed, ranked by bm25. So `"`, `*`, `-`, `:`,
//! `AND`, `NEAR(` are all just text, and no query can be a syntax error.

#[cfg(test)]
mod tests;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

/// The longest note, in bytes. Notes are for facts and preferences; documents belong in files.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
/// At most this many tags per note, each at most [`MAX_TAG_CHARS`] characters.
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_CHARS: usize = 64;
/// Default and largest `limit` of `recall`.
const DEFAULT_RECALL: u32 = 10;
const MAX_RECALL: u32 = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    -- tags joined with newlines (tags cannot contain control characters)
    tags TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    text, tags,
    content = 'notes', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS notes_after_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, text, tags) VALUES (new.id, new.text, new.tags);
END;
CREATE TRIGGER IF NOT EXISTS notes_after_delete AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, text, tags)
        VALUES ('delete', old.id, old.text, old.tags);
END;
CREATE TRIGGER IF NOT EXISTS notes_after_update AFTER UPDATE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, text, tags)
        VALUES ('delete', old.id, old.text, old.tags);
    INSERT INTO notes_fts (rowid, text, tags) VALUES (new.id, new.text, new.tags);
END;
";

/// The notes store. Cheap to clone (the pool is a handle).
#[derive(Debug, Clone)]
pub struct Notes {
    pool: SqlitePool,
}

/// Arguments of `remember`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct RememberArgs {
    /// The fact, preference or reminder to keep, in plain words (at most 16 KiB). Write it so
    /// it makes sense on its own later.
    pub text: String,
    /// Optional labels to find it by, like `project-x` or `preference` (at most 16).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A stored note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Note {
    /// The note's id (give it to `forget` to delete the note).
    pub id: i64,
    /// The note's text.
    pub text: String,
    /// Its labels, as given (trimmed, duplicates dropped).
    pub tags: Vec<String>,
    /// When it was remembered, RFC 3339 in UTC.
    pub created_at: String,
}

/// Arguments of `recall`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct RecallArgs {
    /// Words to look for in the notes' text and tags (any word matches, best matches first;
    /// a word also matches longer words it begins). Empty: the most recent notes.
    #[serde(default)]
    pub query: String,
    /// How many notes to return (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One recalled note.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecalledNote {
    /// The note (its fields appear at this level).
    #[serde(flatten)]
    pub note: Note,
    /// The part of the text that matched, with matched words in [brackets] (searches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// The result of `recall`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecallOutput {
    /// Matching notes, best match first (or newest first for an empty query).
    pub notes: Vec<RecalledNote>,
}

/// Arguments of `forget`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct ForgetArgs {
    /// Id of the note to delete, as shown by `remember` or `recall`.
    pub id: i64,
}

/// The result of `forget`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ForgetOutput {
    /// The note that was deleted.
    pub forgotten: Note,
}

/// Why a notes operation failed. The `Display` text is shown to the model.
#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error("could not create the notes tables: {0}")]
    Migrate(#[source] sqlx::Error),
    #[error("the note is empty; give the text to remember")]
    EmptyText,
    #[error(
        "the note is {len} bytes, over the {max}-byte limit; keep it shorter, or save long text in a file with write_file"
    )]
    TooLong { len: usize, max: usize },
    #[error("tag {tag:?} is not valid: {reason}")]
    InvalidTag { tag: String, reason: &'static str },
    #[error("a note can have at most {max} tags, got {count}")]
    TooManyTags { count: usize, max: usize },
    #[error("limit must be between 1 and {max}, got {given}")]
    LimitOutOfRange { given: u32, max: u32 },
    #[error("there is no note with id {id}; use recall to find the note's id")]
    NotFound { id: i64 },
    #[error("the notes database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl Notes {
    /// Wraps the server's pool and creates the notes tables if they are missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, NotesError> {
        let mut tx = pool.begin().await.map_err(NotesError::Migrate)?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .map_err(NotesError::Migrate)?;
        tx.commit().await.map_err(NotesError::Migrate)?;
        Ok(Self { pool })
    }

    /// Stores a note.
    pub async fn remember(&self, args: RememberArgs) -> Result<Note, NotesError> {
        let text = args.text.trim();
        if text.is_empty() {
            return Err(NotesError::EmptyText);
        }
        if text.len() > MAX_NOTE_BYTES {
            return Err(NotesError::TooLong {
                len: text.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let tags = clean_tags(args.tags)?;
        let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let row = sqlx::query(
            "INSERT INTO notes (text, tags, created_at) VALUES (?1, ?2, ?3)
             RETURNING id, text, tags, created_at",
        )
        .bind(text)
        .bind(tags.join("\n"))
        .bind(created_at)
        .fetch_one(&self.pool)
        .await?;
        let note = note_from_row(&row)?;
        tracing::info!(note = note.id, "note remembered");
        Ok(note)
    }

    /// Finds notes by words (bm25-ranked), or lists the newest for an empty query.
    pub async fn recall(&self, args: RecallArgs) -> Result<RecallOutput, NotesError> {
        let limit = match args.limit {
            None => DEFAULT_RECALL,
            Some(n @ 1..=MAX_RECALL) => n,
            Some(given) => {
                return Err(NotesError::LimitOutOfRange {
                    given,
                    max: MAX_RECALL,
                });
            }
        };
        let rows = match fts_query(&args.query) {
            Some(query) => {
                // bm25 weights: a word in the tags counts twice as much as one in the text,
                // since tags are labels chosen on purpose.
                sqlx::query(
                    "SELECT n.id, n.text, n.tags, n.created_at,
                            snippet(notes_fts, 0, '[', ']', '…', 16) AS snippet
                     FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
                     WHERE notes_fts MATCH ?1
                     ORDER BY bm25(notes_fts, 1.0, 2.0), n.id DESC
                     LIMIT ?2",
                )
                .bind(query)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, text, tags, created_at, NULL AS snippet
                     FROM notes ORDER BY id DESC LIMIT ?1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let notes = rows
            .iter()
            .map(|row| {
                Ok(RecalledNote {
                    note: note_from_row(row)?,
                    snippet: row.try_get("snippet")?,
                })
            })
            .collect::<Result<_, NotesError>>()?;
        Ok(RecallOutput { notes })
    }

    /// Deletes a note by id and returns it.
    pub async fn forget(&self, args: ForgetArgs) -> Result<ForgetOutput, NotesError> {
        let row =
            sqlx::query("DELETE FROM notes WHERE id = ?1 RETURNING id, text, tags, created_at")
                .bind(args.id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(NotesError::NotFound { id: args.id })?;
        tracing::info!(note = args.id, "note forgotten");
        Ok(ForgetOutput {
            forgotten: note_from_row(&row)?,
        })
    }
}

/// Trims tags, drops empty ones and duplicates (keeping the first spelling), and validates.
fn clean_tags(tags: Vec<String>) -> Result<Vec<String>, NotesError> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() || clean.iter().any(|seen| seen.eq_ignore_ascii_case(tag)) {
            continue;
        }
        if tag.chars().any(char::is_control) {
            return Err(NotesError::InvalidTag {
                tag: tag.to_owned(),
                reason: "it contains a line break or another control character",
            });
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(NotesError::InvalidTag {
                tag: tag.to_owned(),
                reason: "it is longer than 64 characters",
            });
        }
        clean.push(tag.to_owned());
    }
    if clean.len() > MAX_TAGS {
        return Err(NotesError::TooManyTags {
            count: clean.len(),
            max: MAX_TAGS,
        });
    }
    Ok(clean)
}

/// Turns the model's words into an FTS5 query that cannot be a syntax error: each word with a
/// letter or digit in it becomes a quoted prefix term (inner `"` doubled, as FTS5 strings
/// require), joined with OR. `None` when there is nothing to search for.
fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

fn note_from_row(row: &SqliteRow) -> Result<Note, sqlx::Error> {
    let tags: String = row.try_get("tags")?;
    Ok(Note {
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        tags: tags
            .split('\n')
            .filter(|tag| !tag.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get("created_at")?,
    })
}
