//! `move_file` and `delete_file`.
//!
//! Both act on the named entry itself, never on what a symlink points at: moving a link moves
//! the link, deleting a link deletes the link, and a link at the destination of a move is
//! replaced (with `overwrite`), not written through. That keeps them inside the workspace even
//! when a link points outside.

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use super::list::EntryKind;
use super::path::{WsPath, io_error};
use super::{FileError, Files};

/// Arguments of `move_file`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct MoveArgs {
    /// The file or folder to move or rename, relative to the workspace root.
    pub from: String,
    /// Its full new path, relative to the workspace root (including the name, like
    /// `archive/old.md`). Missing parent folders are created.
    pub to: String,
    /// Replace an existing file at `to` (default false). An existing folder is never replaced.
    #[serde(default)]
    pub overwrite: bool,
}

/// What `move_file` did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MoveOutput {
    /// The old path.
    pub from: String,
    /// The new path.
    pub to: String,
    /// True if an existing file at `to` was replaced.
    pub replaced: bool,
}

/// Arguments of `delete_file`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct DeleteArgs {
    /// The file or folder to delete, relative to the workspace root. A symlink is removed
    /// itself; what it points at is left alone.
    pub path: String,
    /// Delete a folder together with everything in it (default false: only empty folders).
    #[serde(default)]
    pub recursive: bool,
}

/// What `delete_file` did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeleteOutput {
    /// The deleted path.
    pub path: String,
    /// What it was.
    pub kind: EntryKind,
}

impl Files {
    /// Moves or renames a file, folder or symlink.
    pub async fn r#move(&self, args: MoveArgs) -> Result<MoveOutput, FileError> {
        let from = WsPath::parse(&args.from)?;
        let to = WsPath::parse(&args.to)?;
        if from.is_root() || to.is_root() {
            return Err(FileError::IsRoot { action: "move" });
        }
        if to.starts_with(&from) {
            return Err(FileError::IntoItself {
                from: from.display(),
                to: to.display(),
            });
        }
        self.blocking(move |dir| {
            let replaced = check_destination(dir, &from, &to, args.overwrite)?;
            if let Some(parent) = to.parent().filter(|parent| !parent.is_root()) {
                dir.create_dir_all(parent.as_path())
                    .map_err(|e| io_error(e, &parent))?;
            }
            // Between the check and the rename another writer could create `to`; only the
            // user's own commands run here, and the rename still cannot leave the workspace.
            dir.rename(from.as_path(), dir, to.as_path())
                .map_err(|e| io_error(e, &to))?;
            Ok(MoveOutput {
                from: from.display(),
                to: to.display(),
                replaced,
            })
        })
        .await
    }

    /// Deletes a file, symlink, or folder (recursively only when asked). Never the root.
    pub async fn delete(&self, args: DeleteArgs) -> Result<DeleteOutput, FileError> {
        let path = WsPath::parse(&args.path)?;
        if path.is_root() {
            return Err(FileError::IsRoot { action: "delete" });
        }
        self.blocking(move |dir| {
            let meta = dir
                .symlink_metadata(path.as_path())
                .map_err(|e| io_error(e, &path))?;
            let kind = if meta.is_symlink() {
                EntryKind::Symlink
            } else if meta.is_dir() {
                EntryKind::Directory
            } else {
                EntryKind::File
            };
            let removed = match kind {
                // cap-std's remove_dir_all removes symlinks inside without following them.
                EntryKind::Directory if args.recursive => dir.remove_dir_all(path.as_path()),
                EntryKind::Directory => dir.remove_dir(path.as_path()),
                _ => dir.remove_file(path.as_path()),
            };
            removed.map_err(|e| io_error(e, &path))?;
            Ok(DeleteOutput {
                path: path.display(),
                kind,
            })
        })
        .await
    }
}

/// Checks that `from` exists and `to` may be written; returns whether `to` will be replaced.
fn check_destination(
    dir: &Dir,
    from: &WsPath,
    to: &WsPath,
    overwrite: bool,
) -> Result<bool, FileError> {
    dir.symlink_metadata(from.as_path())
        .map_err(|e| io_error(e, from))?;
    match dir.symlink_metadata(to.as_path()) {
        Ok(meta) if meta.is_dir() => Err(FileError::DestinationIsDirectory { path: to.display() }),
        Ok(_) if !overwrite => Err(FileError::AlreadyExists { path: to.display() }),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(e, to)),
    }
}
