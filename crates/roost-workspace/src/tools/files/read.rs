//! `read_file` (text, by lines, size-capped) and the raw bytes behind file resources.

use std::io::{BufRead, BufReader, Read};

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use super::path::{WsPath, io_error};
use super::{FileError, Files, MAX_FILE_BYTES, MAX_READ_TEXT_BYTES};

/// The largest `limit_lines` accepted.
const MAX_LIMIT_LINES: u64 = 1_000_000;
/// Lines are read at most this long at a time (one more than the text cap, to detect overflow).
const LINE_CAP: u64 = MAX_READ_TEXT_BYTES as u64 + 1;

/// Arguments of `read_file`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct ReadArgs {
    /// Path of the file, relative to the workspace root (for example `notes/todo.md`).
    pub path: String,
    /// Line number to start at, counting from 1 (default 1). Use the `next_offset_line` of a
    /// truncated read to continue.
    #[serde(default)]
    pub offset_line: Option<u64>,
    /// At most this many lines are returned (default: as many as fit in 256 KiB).
    #[serde(default)]
    pub limit_lines: Option<u64>,
}

/// The text read from a file.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReadOutput {
    /// The file's path, relative to the workspace root.
    pub path: String,
    /// The requested lines, exactly as in the file (line endings included).
    pub content: String,
    /// Number of the first line in `content`, counting from 1.
    pub first_line: u64,
    /// How many lines `content` holds.
    pub lines: u64,
    /// The file's size in bytes.
    pub size: u64,
    /// True when the file goes on after `content` (limit_lines or the 256 KiB cap was reached).
    pub truncated: bool,
    /// Where to continue reading when `truncated` is true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset_line: Option<u64>,
    /// A sentence for the reader when something was left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Files {
    /// Reads text lines from a file. Binary files are refused with a pointer to the resource.
    pub async fn read(&self, args: ReadArgs) -> Result<ReadOutput, FileError> {
        let path = WsPath::parse(&args.path)?;
        let first_line = args.offset_line.unwrap_or(1).max(1);
        let limit = match args.limit_lines {
            None => u64::MAX,
            Some(n @ 1..=MAX_LIMIT_LINES) => n,
            Some(given) => {
                return Err(FileError::OutOfRange {
                    field: "limit_lines",
                    given,
                    max: MAX_LIMIT_LINES,
                });
            }
        };
        self.blocking(move |dir| read_lines(dir, &path, first_line, limit))
            .await
    }

    /// The whole file as bytes, for resources. Files over 10 MiB are refused.
    pub async fn read_bytes(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let path = WsPath::parse(path)?;
        self.blocking(move |dir| {
            let (file, size) = open_file(dir, &path)?;
            if size > MAX_FILE_BYTES {
                return Err(too_large(&path, size));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            // `take` guards against a file that grows while we read it.
            file.take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| io_error(e, &path))?;
            if bytes.len() as u64 > MAX_FILE_BYTES {
                return Err(too_large(&path, bytes.len() as u64));
            }
            Ok(bytes)
        })
        .await
    }
}

/// Opens a regular file (following symlinks inside the workspace) and returns it with its size.
pub(super) fn open_file(dir: &Dir, path: &WsPath) -> Result<(cap_std::fs::File, u64), FileError> {
    if path.is_root() {
        return Err(FileError::IsADirectory {
            path: path.display(),
        });
    }
    // Checked before opening: opening a FIFO blocks until someone writes to it.
    let meta = dir
        .metadata(path.as_path())
        .map_err(|e| io_error(e, path))?;
    if meta.is_dir() {
        return Err(FileError::IsADirectory {
            path: path.display(),
        });
    }
    if !meta.is_file() {
        return Err(FileError::NotAFile {
            path: path.display(),
        });
    }
    let file = dir.open(path.as_path()).map_err(|e| io_error(e, path))?;
    let size = file.metadata().map_err(|e| io_error(e, path))?.len();
    Ok((file, size))
}

pub(super) fn too_large(path: &WsPath, size: u64) -> FileError {
    FileError::TooLarge {
        path: path.display(),
        size,
        limit: MAX_FILE_BYTES,
    }
}

/// Decodes one line read by `read_lines`; a line cut by the cap may end inside a character.
fn decode(line: &[u8], complete: bool) -> Option<&str> {
    match std::str::from_utf8(line) {
        Ok(text) => Some(text),
        Err(err) if !complete && err.error_len().is_none() => {
            std::str::from_utf8(&line[..err.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Whether a chunk of a file looks like text: no NUL bytes (what `grep` and `git` go by).
/// Invalid UTF-8 is caught separately when the text is decoded.
pub(super) fn looks_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}

fn read_lines(
    dir: &Dir,
    path: &WsPath,
    first_line: u64,
    limit: u64,
) -> Result<ReadOutput, FileError> {
    let (file, size) = open_file(dir, path)?;
    let not_text = || FileError::NotText {
        path: path.display(),
    };
    let mut reader = BufReader::new(file);
    let mut content = String::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut lines = 0u64;
    let mut cut_mid_line = false;
    let more = loop {
        line.clear();
        // Lines are read with a cap so one huge line (or a file without newlines) is never
        // held in memory whole.
        let n = (&mut reader)
            .take(LINE_CAP)
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(e, path))?;
        if n == 0 {
            break false;
        }
        let complete = line.ends_with(b"\n") || (n as u64) < LINE_CAP;
        line_no += 1;
        // Every line up to the requested ones is checked, so a binary file is refused whatever
        // the offset, rather than returning mojibake from its middle.
        if looks_binary(&line) {
            return Err(not_text());
        }
        let text = decode(&line, complete).ok_or_else(not_text)?;
        if line_no < first_line {
            if !complete {
                reader.skip_until(b'\n').map_err(|e| io_error(e, path))?;
            }
            continue;
        }
        if lines == limit {
            break true;
        }
        if !complete || content.len() + text.len() > MAX_READ_TEXT_BYTES {
            if lines == 0 {
                // One line longer than the cap (minified code, a log without newlines): show
                // its start rather than nothing.
                let mut end = text.len().min(MAX_READ_TEXT_BYTES);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                content.push_str(&text[..end]);
                lines = 1;
                cut_mid_line = true;
            }
            break true;
        }
        content.push_str(text);
        lines += 1;
    };

    let last_line = first_line + lines.saturating_sub(1);
    let (next_offset_line, note) = if lines == 0 && line_no < first_line {
        let note = format!(
            "the file has {line_no} lines, so there is nothing at line {first_line}; use a smaller offset_line"
        );
        (None, Some(note))
    } else if more && cut_mid_line {
        let note = format!(
            "line {first_line} is longer than {MAX_READ_TEXT_BYTES} bytes; only its start is shown. Use search_files to find text in it"
        );
        (Some(first_line + 1), Some(note))
    } else if more {
        let next = last_line + 1;
        let note = format!(
            "showing lines {first_line}-{last_line}; the file goes on. Call read_file with offset_line: {next} to continue"
        );
        (Some(next), Some(note))
    } else {
        (None, None)
    };
    Ok(ReadOutput {
        path: path.display(),
        content,
        first_line,
        lines,
        size,
        truncated: more,
        next_offset_line,
        note,
    })
}
