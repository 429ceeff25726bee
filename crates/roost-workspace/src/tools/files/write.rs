//! `write_file` and `edit_file`: whole-file writes that are atomic.
//!
//! A write goes to a temporary file in the target's own directory, is flushed to disk, and is
//! then renamed over the target, so a reader (or a crash) sees the old content or the new one,
//! never half of each. A target that is a symlink inside the workspace is written through: the
//! file it points at is replaced and the link is kept.
//!
//! The temporary file is named `.roost-write-<pid>-<n>.tmp`; only a crash between its creation
//! and the rename leaves one behind.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions};
use serde::{Deserialize, Serialize};

use super::path::{WsPath, io_error};
use super::read::{looks_binary, open_file, too_large};
use super::{FileError, Files, MAX_FILE_BYTES};

/// Arguments of `write_file`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct WriteArgs {
    /// Path of the file, relative to the workspace root. Missing parent folders are created.
    pub path: String,
    /// The complete new content of the file (it replaces whatever was there).
    pub content: String,
}

/// What `write_file` did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WriteOutput {
    /// The file's path, relative to the workspace root.
    pub path: String,
    /// Bytes written.
    pub bytes_written: u64,
    /// True if the file did not exist before.
    pub created: bool,
}

/// Arguments of `edit_file`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct EditArgs {
    /// Path of the file, relative to the workspace root.
    pub path: String,
    /// The exact text to replace, including whitespace and line breaks. It must occur exactly
    /// once unless `replace_all` is true.
    pub old_text: String,
    /// The text to put in its place.
    pub new_text: String,
    /// Replace every occurrence instead of requiring exactly one (default false).
    #[serde(default)]
    pub replace_all: bool,
}

/// What `edit_file` did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EditOutput {
    /// The file's path, relative to the workspace root.
    pub path: String,
    /// How many occurrences were replaced.
    pub replacements: u64,
    /// The file's new size in bytes.
    pub bytes_written: u64,
}

impl Files {
    /// Creates or replaces a file with `content`, atomically.
    pub async fn write(&self, args: WriteArgs) -> Result<WriteOutput, FileError> {
        let path = WsPath::parse(&args.path)?;
        if args.content.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(&path, args.content.len() as u64));
        }
        self.blocking(move |dir| {
            let target = write_target(dir, &path)?;
            let created = !target_exists(dir, &target)?;
            atomic_write(dir, &target, args.content.as_bytes())?;
            Ok(WriteOutput {
                path: path.display(),
                bytes_written: args.content.len() as u64,
                created,
            })
        })
        .await
    }

    /// Replaces `old_text` with `new_text` in a text file, atomically.
    pub async fn edit(&self, args: EditArgs) -> Result<EditOutput, FileError> {
        let path = WsPath::parse(&args.path)?;
        if args.old_text.is_empty() {
            return Err(FileError::EmptyOldText);
        }
        self.blocking(move |dir| {
            let target = write_target(dir, &path)?;
            let text = read_text(dir, &target, &path)?;
            let (old_text, new_text) = line_endings_of(&text, args.old_text, args.new_text);
            let count = text.matches(old_text.as_str()).count();
            let new = match count {
                0 => {
                    return Err(FileError::NotFoundText {
                        path: path.display(),
                    });
                }
                1 => text.replacen(&old_text, &new_text, 1),
                _ if args.replace_all => text.replace(&old_text, &new_text),
                _ => {
                    return Err(FileError::Ambiguous {
                        path: path.display(),
                        count,
                    });
                }
            };
            if new.len() as u64 > MAX_FILE_BYTES {
                return Err(too_large(&path, new.len() as u64));
            }
            atomic_write(dir, &target, new.as_bytes())?;
            Ok(EditOutput {
                path: path.display(),
                replacements: count as u64,
                bytes_written: new.len() as u64,
            })
        })
        .await
    }
}

/// Models write `\n` line breaks; in a file with Windows (CRLF) line endings the text would
/// never match. When the file has CRLF and `old_text` only bare LF, both texts are converted,
/// so the edit matches and the file keeps one line-ending style.
fn line_endings_of(text: &str, old_text: String, new_text: String) -> (String, String) {
    let crlf_file = text.contains("\r\n");
    let lf_old = old_text.contains('\n') && !old_text.contains("\r\n");
    if crlf_file && lf_old && !text.contains(old_text.as_str()) {
        let to_crlf = |s: &str| s.replace("\r\n", "\n").replace('\n', "\r\n");
        (to_crlf(&old_text), to_crlf(&new_text))
    } else {
        (old_text, new_text)
    }
}

/// The file a write to `path` should replace: `path` itself, or if it is a symlink, the file
/// it resolves to (which cap-std keeps inside the workspace, or refuses).
fn write_target(dir: &Dir, path: &WsPath) -> Result<WsPath, FileError> {
    if path.is_root() {
        return Err(FileError::IsADirectory {
            path: path.display(),
        });
    }
    match dir.symlink_metadata(path.as_path()) {
        Ok(meta) if meta.is_symlink() => dir
            .canonicalize(path.as_path())
            .map(WsPath::from_canonical)
            .map_err(|e| io_error(e, path)),
        Ok(meta) if meta.is_dir() => Err(FileError::IsADirectory {
            path: path.display(),
        }),
        Ok(_) => Ok(path.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.clone()),
        Err(e) => Err(io_error(e, path)),
    }
}

fn target_exists(dir: &Dir, target: &WsPath) -> Result<bool, FileError> {
    dir.try_exists(target.as_path())
        .map_err(|e| io_error(e, target))
}

/// Reads a whole text file for editing (`shown` is the path the model gave, for messages).
fn read_text(dir: &Dir, target: &WsPath, shown: &WsPath) -> Result<String, FileError> {
    use std::io::Read;
    let (file, size) = open_file(dir, target)?;
    if size > MAX_FILE_BYTES {
        return Err(too_large(shown, size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(e, shown))?;
    let not_text = || FileError::NotText {
        path: shown.display(),
    };
    if looks_binary(&bytes) {
        return Err(not_text());
    }
    String::from_utf8(bytes).map_err(|_| not_text())
}

/// Distinguishes temporary files of concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `target` through a temporary file and a rename, creating parent folders.
/// An existing target keeps its permissions (an executable script stays executable).
pub(super) fn atomic_write(dir: &Dir, target: &WsPath, bytes: &[u8]) -> Result<(), FileError> {
    let parent = target.parent().unwrap_or_else(WsPath::root);
    if !parent.is_root() {
        dir.create_dir_all(parent.as_path())
            .map_err(|e| io_error(e, &parent))?;
    }
    let permissions = match dir.metadata(target.as_path()) {
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(e, target)),
    };
    // The name does not include the target's, which may already be at NAME_MAX.
    let temp_name = format!(
        ".roost-write-{}-{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let temp = parent.join(temp_name.as_ref());
    let result = write_then_rename(dir, &temp, target, bytes, permissions);
    if result.is_err() {
        // Best effort: the write already failed, and the temp file is only clutter.
        let _ = dir.remove_file(temp.as_path());
    }
    result.map_err(|e| io_error(e, target))?;
    sync_dir(dir, parent.as_path());
    Ok(())
}

fn write_then_rename(
    dir: &Dir,
    temp: &WsPath,
    target: &WsPath,
    bytes: &[u8],
    permissions: Option<cap_std::fs::Permissions>,
) -> std::io::Result<()> {
    let mut file = dir.open_with(
        temp.as_path(),
        OpenOptions::new().write(true).create_new(true),
    )?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    dir.rename(temp.as_path(), dir, target.as_path())
}

/// Flushes the directory entry of a rename to disk, so the new file survives a power loss on
/// the user's volume. Best effort: the data itself is already synced, and failing the write
/// here would report an error for a write that happened.
fn sync_dir(dir: &Dir, parent: &Path) {
    if let Ok(handle) = dir.open(parent) {
        let _ = handle.sync_all();
    }
}
