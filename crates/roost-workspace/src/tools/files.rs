//! The user's files: read, write, edit, list, search, move and delete, confined to one folder.
//!
//! Confinement is the point of this module. Every operation goes through a `cap_std::fs::Dir`
//! opened once on the workspace root, so the OS itself (`openat2(RESOLVE_BENEATH)` on Linux, or
//! cap-std's component-by-component resolution elsewhere) refuses any path that leaves it,
//! including through symlinks that the user's own commands may have created. Before that, each
//! path given by the model is checked and normalised lexically (see [`path`]) so the common
//! mistakes get a precise message:
//!
//! - absolute paths (`/etc/passwd`) are **refused**, not reinterpreted as workspace-relative: a
//!   model that writes `/home/x` means a real system path, and silently writing somewhere else
//!   would lose the user's intent. The error says to use a path relative to the workspace root.
//! - `..` is resolved lexically and refused if it climbs above the root (`a/../../x`).
//! - NUL bytes and empty paths are refused.
//! - symlinks inside the workspace that point inside it work; any that lead outside (absolute
//!   targets included) fail with [`FileError::OutsideWorkspace`].
//!
//! Blocking cap-std calls run on `tokio::task::spawn_blocking`.

mod list;
mod manage;
mod path;
mod read;
mod search;
mod write;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

pub use list::{EntryKind, FileInfo, ListArgs, ListEntry, ListOutput, MAX_LIST_ENTRIES};
pub use manage::{DeleteArgs, DeleteOutput, MoveArgs, MoveOutput};
pub use read::{ReadArgs, ReadOutput};
pub use search::{SearchArgs, SearchMatch, SearchOutput};
pub use write::{EditArgs, EditOutput, WriteArgs, WriteOutput};

/// At most this much text is returned by one `read`; the output says where to continue.
pub const MAX_READ_TEXT_BYTES: usize = 256 * 1024;
/// The largest file `read_bytes` (resources), `edit` and `write` will handle.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Handle on the workspace folder. Cheap to clone; every clone shares one open directory.
#[derive(Clone)]
pub struct Files {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    dir: Dir,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl Files {
    /// Opens (creating it if missing) the workspace folder at `root`.
    pub fn open(root: &Path) -> Result<Self, FileError> {
        std::fs::create_dir_all(root).map_err(|source| FileError::OpenRoot {
            root: root.to_path_buf(),
            source,
        })?;
        let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|source| {
            FileError::OpenRoot {
                root: root.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                dir,
            }),
        })
    }

    /// The workspace folder on the host (for `run_command`'s working directory).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Runs `f` with the root directory on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, FileError>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> Result<T, FileError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner.dir))
            .await
            .map_err(|join| FileError::Interrupted(join.to_string()))?
    }
}

/// Why a file operation failed. The `Display` text is shown to the model as the tool result.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The workspace folder itself could not be created or opened (a start-up failure).
    #[error("cannot open the workspace folder {}: {source}", root.display())]
    OpenRoot { root: PathBuf, source: io::Error },
    /// The path is malformed (empty, or contains a NUL byte).
    #[error("path {path:?} is not valid: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// The path is absolute, climbs out with `..`, or goes through a symlink that leads out.
    #[error(
        "path '{path}' leaves the workspace folder ({why}); use a path relative to the workspace root, like 'notes/todo.md'"
    )]
    OutsideWorkspace { path: String, why: &'static str },
    #[error("'{path}' does not exist; use list_files to see what is there")]
    NotFound { path: String },
    #[error("'{path}' already exists; pass overwrite: true to replace it, or choose another name")]
    AlreadyExists { path: String },
    #[error("'{path}' is a directory, not a file; use list_files to see its contents")]
    IsADirectory { path: String },
    #[error(
        "'{path}' is not a regular file (it is a FIFO, socket or device); it cannot be opened here"
    )]
    NotAFile { path: String },
    #[error("'{path}' is not a directory (a part of the path is a file)")]
    NotADirectory { path: String },
    #[error(
        "directory '{path}' is not empty; pass recursive: true to delete it with everything in it"
    )]
    DirectoryNotEmpty { path: String },
    #[error(
        "'{path}' is an existing folder; give the full new path including the name, like '{path}/name'"
    )]
    DestinationIsDirectory { path: String },
    #[error("cannot move '{from}' into itself ('{to}')")]
    IntoItself { from: String, to: String },
    #[error("refusing to {action} the workspace root itself; name a file or folder inside it")]
    IsRoot { action: &'static str },
    #[error(
        "'{path}' is not a text file (it contains binary data); attach it as a resource, or inspect it with run_command (e.g. 'file' or 'xxd | head')"
    )]
    NotText { path: String },
    #[error("'{path}' is {size} bytes, over the {limit}-byte limit for this operation")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error(
        "the text to replace was not found in '{path}'; read the file again and copy the exact text, including whitespace"
    )]
    NotFoundText { path: String },
    #[error(
        "the text to replace occurs {count} times in '{path}'; include more surrounding lines to make it unique, or pass replace_all: true"
    )]
    Ambiguous { path: String, count: usize },
    #[error("old_text is empty; give the exact text to replace (use write_file to create a file)")]
    EmptyOldText,
    #[error("{field} must be between 1 and {max}, got {given}")]
    OutOfRange {
        field: &'static str,
        given: u64,
        max: u64,
    },
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidPattern {
        pattern: String,
        source: regex::Error,
    },
    #[error("file system error on '{path}': {source}")]
    Io { path: String, source: io::Error },
    /// The blocking task running the operation panicked or was cancelled (a bug, or shutdown).
    #[error("the file operation was interrupted ({0}); try again")]
    Interrupted(String),
}
