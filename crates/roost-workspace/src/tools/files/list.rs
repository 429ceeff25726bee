//! `list_files`, and the flat listing of every file behind `resources/list`.
//!
//! Listings never follow symlinks (a link is shown as a link), so a link to `/` or a link loop
//! cannot make a listing walk the host or run forever; both are bounded in count too.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use cap_std::fs::{Dir, Metadata};

use super::path::{WsPath, display_rel, io_error};
use super::{FileError, Files};

/// At most this many entries are returned by one `list`.
pub const MAX_LIST_ENTRIES: usize = 1000;

/// Arguments of `list_files`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct ListArgs {
    /// Folder to list, relative to the workspace root (default: the root).
    #[serde(default)]
    pub path: Option<String>,
    /// Also list everything in subfolders (default false). Symlinked folders and `.git` are
    /// shown but not entered.
    #[serde(default)]
    pub recursive: bool,
}

/// What kind of thing a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Directory,
    /// A symbolic link (listings and deletes act on the link itself).
    Symlink,
    /// A socket, FIFO or device.
    Other,
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ListEntry {
    /// Path relative to the workspace root.
    pub path: String,
    /// File, directory, symlink (never followed) or other.
    pub kind: EntryKind,
    /// Size in bytes (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification time, RFC 3339 in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// The result of `list_files`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ListOutput {
    /// The folder listed, relative to the workspace root (`.` is the root).
    pub path: String,
    /// Entries sorted by path; in a recursive listing a folder comes right before its contents.
    pub entries: Vec<ListEntry>,
    /// True when there were more than 1000 entries and the rest were left out.
    pub truncated: bool,
}

/// A file as a resource: what `resources/list` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FileInfo {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type guessed from the extension (`application/octet-stream` when unknown).
    pub mime: String,
}

impl Files {
    /// Lists a folder, optionally recursively, up to [`MAX_LIST_ENTRIES`] entries.
    pub async fn list(&self, args: ListArgs) -> Result<ListOutput, FileError> {
        let path = WsPath::parse_or_root(args.path.as_deref())?;
        self.blocking(move |dir| {
            let meta = dir
                .metadata(path.as_path())
                .map_err(|e| io_error(e, &path))?;
            if !meta.is_dir() {
                return Err(FileError::NotADirectory {
                    path: path.display(),
                });
            }
            let mut entries = Vec::new();
            let complete = walk(dir, &path, args.recursive, &mut |_, entry| {
                if entries.len() == MAX_LIST_ENTRIES {
                    return false;
                }
                entries.push(entry);
                true
            })?;
            Ok(ListOutput {
                path: path.display(),
                entries,
                truncated: !complete,
            })
        })
        .await
    }

    /// Every regular file in the workspace (symlinks and `.git` internals excluded), sorted by
    /// path, at most `limit`.
    pub async fn list_all(&self, limit: usize) -> Result<Vec<FileInfo>, FileError> {
        Ok(self.list_page(None, limit).await?.0)
    }

    /// The next `limit` files (as [`Files::list_all`] orders them) after the file `after`, and
    /// whether more follow. `after` need not exist any more: paging goes on from where it
    /// would sort, so files added or deleted between pages do not derail it.
    pub async fn list_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<FileInfo>, bool), FileError> {
        self.blocking(move |dir| {
            let mut files = Vec::new();
            let mut more = false;
            walk(dir, &WsPath::root(), true, &mut |_, entry| {
                if entry.kind != EntryKind::File
                    || after
                        .as_deref()
                        .is_some_and(|after| !walks_after(&entry.path, after))
                {
                    return true;
                }
                if files.len() == limit {
                    more = true;
                    return false;
                }
                let mime = mime_guess::from_path(&entry.path)
                    .first_or_octet_stream()
                    .to_string();
                files.push(FileInfo {
                    path: entry.path,
                    size: entry.size.unwrap_or(0),
                    mime,
                });
                true
            })?;
            Ok((files, more))
        })
        .await
    }
}

/// Whether [`walk`] visits `path` after `after`. The walk sorts each folder's names and goes
/// depth-first, which is the order of the paths' components compared one by one (not of the
/// path strings: `a/b` comes before `a-c`, though `-` sorts before `/`).
fn walks_after(path: &str, after: &str) -> bool {
    path.split('/').cmp(after.split('/')) == std::cmp::Ordering::Greater
}

/// Folders a recursive walk shows but does not enter: version-control internals are thousands
/// of files of noise that would use up every listing's and search's budget. Naming one as the
/// folder to list or search still works.
const NOT_ENTERED: &[&str] = &[".git"];

/// Visits the entries under `folder` in sorted order, depth-first, without following symlinks
/// or entering [`NOT_ENTERED`] folders. `visit` returns false to stop; the result is false when
/// the walk was stopped early.
pub(super) fn walk(
    dir: &Dir,
    folder: &WsPath,
    recursive: bool,
    visit: &mut dyn FnMut(&WsPath, ListEntry) -> bool,
) -> Result<bool, FileError> {
    let mut names = Vec::new();
    for entry in dir
        .read_dir(folder.as_path())
        .map_err(|e| io_error(e, folder))?
    {
        names.push(entry.map_err(|e| io_error(e, folder))?.file_name());
    }
    names.sort();
    for name in names {
        let path = folder.join(&name);
        let meta = match dir.symlink_metadata(path.as_path()) {
            Ok(meta) => meta,
            // Deleted between read_dir and stat (a command running at the same time).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(e, &path)),
        };
        let entry = entry_for(&path, &meta);
        let descend = recursive
            && entry.kind == EntryKind::Directory
            && !NOT_ENTERED.iter().any(|skipped| name == *skipped);
        if !visit(&path, entry) {
            return Ok(false);
        }
        if descend && !walk(dir, &path, recursive, visit)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn entry_for(path: &WsPath, meta: &Metadata) -> ListEntry {
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    let modified = meta.modified().ok().map(|time| {
        DateTime::<Utc>::from(time.into_std()).to_rfc3339_opts(SecondsFormat::Secs, true)
    });
    ListEntry {
        path: display_rel(path.as_path()),
        kind,
        size: (kind == EntryKind::File).then(|| meta.len()),
        modified,
    }
}
