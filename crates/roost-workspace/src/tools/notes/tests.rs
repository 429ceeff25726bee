//! Tests of the notes store against a real SQLite file.
