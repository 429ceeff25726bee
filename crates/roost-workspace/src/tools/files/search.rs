//! `search_files`: a regular expression over the contents of text files, like a small `grep -rn`.
//!
//! Bounded in every direction: results, files visited, file size, and the length of each
//! returned line. The `regex` crate runs in linear time, so no pattern can hang the server;
//! its compiled size is capped too.

use std::io::Read;

use cap_std::fs::Dir;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::list::{EntryKind, walk};
use super::path::{WsPath, io_error};
use super::read::{looks_binary, open_file};
use super::{FileError, Files, MAX_FILE_BYTES};

/// Default and largest `max_results`.
const DEFAULT_RESULTS: u32 = 100;
const MAX_RESULTS: u32 = 1000;
/// At most this many files are opened by one search.
const MAX_FILES: usize = 10_000;
/// Matching lines longer than this are cut (at a character boundary) in the output.
const MAX_LINE_CHARS: usize = 400;
/// Compiled-pattern size cap, far above any hand-written pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Arguments of `search_files`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct SearchArgs {
    /// Regular expression (Rust `regex` syntax, like ripgrep; `(?i)` makes it case-insensitive)
    /// matched against each line of each text file.
    pub pattern: String,
    /// Folder or file to search, relative to the workspace root (default: everything).
    /// `.git` folders and binary files are skipped.
    #[serde(default)]
    pub path: Option<String>,
    /// Stop after this many matching lines (default 100, at most 1000).
    #[serde(default)]
    pub max_results: Option<u32>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SearchMatch {
    /// File path relative to the workspace root.
    pub path: String,
    /// Line number, counting from 1.
    pub line_number: u64,
    /// The line (without its line break), cut to 400 characters.
    pub line: String,
}

/// The result of `search_files`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchOutput {
    /// Matching lines, in path order then line order.
    pub matches: Vec<SearchMatch>,
    /// True when the search stopped early (max_results or the 10000-file cap was reached).
    pub truncated: bool,
    /// How many text files were searched.
    pub files_searched: u64,
    /// How many files were skipped as binary or larger than 10 MiB.
    pub files_skipped: u64,
}

impl Files {
    /// Searches text files for lines matching a regular expression.
    pub async fn search(&self, args: SearchArgs) -> Result<SearchOutput, FileError> {
        let max_results = match args.max_results {
            None => DEFAULT_RESULTS,
            Some(n @ 1..=MAX_RESULTS) => n,
            Some(given) => {
                return Err(FileError::OutOfRange {
                    field: "max_results",
                    given: given.into(),
                    max: MAX_RESULTS.into(),
                });
            }
        } as usize;
        let regex = RegexBuilder::new(&args.pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|source| FileError::InvalidPattern {
                pattern: args.pattern.clone(),
                source,
            })?;
        let path = WsPath::parse_or_root(args.path.as_deref())?;
        self.blocking(move |dir| search(dir, &path, &regex, max_results))
            .await
    }
}

fn search(
    dir: &Dir,
    path: &WsPath,
    regex: &Regex,
    max_results: usize,
) -> Result<SearchOutput, FileError> {
    let mut out = SearchOutput {
        matches: Vec::new(),
        truncated: false,
        files_searched: 0,
        files_skipped: 0,
    };
    let meta = dir
        .metadata(path.as_path())
        .map_err(|e| io_error(e, path))?;
    if !meta.is_dir() {
        out.truncated = !search_file(dir, path, regex, max_results, &mut out)?;
        return Ok(out);
    }

    let mut files = Vec::new();
    let complete = walk(dir, path, true, &mut |file, entry| {
        if entry.kind != EntryKind::File {
            return true;
        }
        if files.len() == MAX_FILES {
            return false;
        }
        files.push(file.clone());
        true
    })?;
    for file in files {
        if !search_file(dir, &file, regex, max_results, &mut out)? {
            out.truncated = true;
            return Ok(out);
        }
    }
    out.truncated = !complete;
    Ok(out)
}

/// Adds the matches in one file; returns false once `max_results` is reached.
fn search_file(
    dir: &Dir,
    path: &WsPath,
    regex: &Regex,
    max_results: usize,
    out: &mut SearchOutput,
) -> Result<bool, FileError> {
    let Some(text) = read_searchable(dir, path)? else {
        out.files_skipped += 1;
        return Ok(true);
    };
    out.files_searched += 1;
    for (index, line) in text.lines().enumerate() {
        if !regex.is_match(line) {
            continue;
        }
        if out.matches.len() == max_results {
            return Ok(false);
        }
        out.matches.push(SearchMatch {
            path: path.display(),
            line_number: index as u64 + 1,
            line: cut(line, MAX_LINE_CHARS),
        });
    }
    Ok(true)
}

/// The file's text, or `None` if it is binary or too large to search.
fn read_searchable(dir: &Dir, path: &WsPath) -> Result<Option<String>, FileError> {
    let (file, size) = match open_file(dir, path) {
        Ok(opened) => opened,
        // Gone since the walk listed it.
        Err(FileError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if size > MAX_FILE_BYTES {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(e, path))?;
    if bytes.len() as u64 > MAX_FILE_BYTES || looks_binary(&bytes) {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok())
}

fn cut(line: &str, max_chars: usize) -> String {
    match line.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}
