//! Turning the model's path strings into normalised workspace-relative paths, and cap-std's
//! errors into [`FileError`]s that name the path.
//!
//! The lexical checks here are for clear messages; the security boundary is cap-std, which
//! resolves every path beneath the root directory handle and refuses escapes itself. `..` is
//! resolved lexically (`a/../b` is `b`) before the OS sees the path, so a `..` after a symlinked
//! directory cannot be used to step out of that directory's target either.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::FileError;

/// The message cap-std gives (as `PermissionDenied`) when a path, usually through a symlink,
/// resolves outside the directory handle (`cap_primitives::fs::errors::escape_attempt`; on
/// Linux also what `openat2(RESOLVE_BENEATH)`'s `EXDEV` is mapped to).
const CAP_STD_ESCAPE: &str = "a path led outside of the filesystem";

/// A normalised path inside the workspace: relative, no `.`, `..` or empty components.
/// The root is the empty path, shown as `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WsPath {
    rel: PathBuf,
}

impl WsPath {
    /// The workspace root.
    pub(super) fn root() -> Self {
        Self {
            rel: PathBuf::new(),
        }
    }

    /// Checks and normalises a path given by the model.
    pub(super) fn parse(input: &str) -> Result<Self, FileError> {
        if input.contains('\0') {
            return Err(FileError::InvalidPath {
                path: input.replace('\0', "\\0"),
                reason: "it contains a NUL byte",
            });
        }
        if input.trim().is_empty() {
            return Err(FileError::InvalidPath {
                path: input.to_owned(),
                reason: "it is empty; use '.' for the workspace root",
            });
        }
        let mut rel = PathBuf::new();
        for component in Path::new(input).components() {
            match component {
                Component::Normal(name) => rel.push(name),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !rel.pop() {
                        return Err(FileError::OutsideWorkspace {
                            path: input.to_owned(),
                            why: "'..' climbs above the workspace root",
                        });
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(FileError::OutsideWorkspace {
                        path: input.to_owned(),
                        why: "absolute paths are not allowed",
                    });
                }
            }
        }
        Ok(Self { rel })
    }

    /// Parses an optional path, defaulting to the root.
    pub(super) fn parse_or_root(input: Option<&str>) -> Result<Self, FileError> {
        match input {
            None => Ok(Self::root()),
            Some(path) => Self::parse(path),
        }
    }

    pub(super) fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }

    /// The path to hand to cap-std (`.` for the root).
    pub(super) fn as_path(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            &self.rel
        }
    }

    /// The path as shown to the model: `/`-separated, `.` for the root.
    pub(super) fn display(&self) -> String {
        display_rel(self.as_path())
    }

    /// Whether `self` is `other` or lies inside it.
    pub(super) fn starts_with(&self, other: &WsPath) -> bool {
        self.rel.starts_with(&other.rel)
    }

    /// The parent directory (the root for a top-level name), or `None` for the root itself.
    pub(super) fn parent(&self) -> Option<WsPath> {
        self.rel.parent().map(|parent| WsPath {
            rel: parent.to_path_buf(),
        })
    }

    /// Appends one directory entry name.
    pub(super) fn join(&self, name: &std::ffi::OsStr) -> WsPath {
        WsPath {
            rel: self.rel.join(name),
        }
    }

    /// Wraps a path cap-std returned (from `canonicalize`), which is already relative and
    /// normalised.
    pub(super) fn from_canonical(rel: PathBuf) -> WsPath {
        if rel == Path::new(".") {
            Self::root()
        } else {
            WsPath { rel }
        }
    }
}

/// A relative path as text for the model; non-UTF-8 names are shown lossily.
pub(super) fn display_rel(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Maps an I/O error on `path` to the [`FileError`] that explains it.
pub(super) fn io_error(source: io::Error, path: &WsPath) -> FileError {
    let path = path.display();
    if is_escape(&source) {
        return FileError::OutsideWorkspace {
            path,
            why: "it goes through a symlink that points outside",
        };
    }
    match source.kind() {
        io::ErrorKind::NotFound => FileError::NotFound { path },
        io::ErrorKind::AlreadyExists => FileError::AlreadyExists { path },
        io::ErrorKind::IsADirectory => FileError::IsADirectory { path },
        io::ErrorKind::NotADirectory => FileError::NotADirectory { path },
        io::ErrorKind::DirectoryNotEmpty => FileError::DirectoryNotEmpty { path },
        _ => FileError::Io { path, source },
    }
}

fn is_escape(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::PermissionDenied && err.to_string() == CAP_STD_ESCAPE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> String {
        WsPath::parse(input).unwrap().display()
    }

    #[test]
    fn normalises_dots_and_slashes() {
        assert_eq!(parsed("a/./b//c/"), "a/b/c");
        assert_eq!(parsed("a/b/../c"), "a/c");
        assert_eq!(parsed("."), ".");
        assert_eq!(parsed("a/.."), ".");
        assert!(WsPath::parse("a/..").unwrap().is_root());
    }

    #[test]
    fn refuses_paths_that_leave_the_root() {
        for input in ["..", "../x", "a/../../x", "/etc/passwd", "/"] {
            let err = WsPath::parse(input).unwrap_err();
            assert!(
                matches!(err, FileError::OutsideWorkspace { .. }),
                "{input}: {err}"
            );
            assert!(
                err.to_string()
                    .contains("use a path relative to the workspace root"),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_nul_bytes_and_empty_paths() {
        let err = WsPath::parse("a\0b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "path \"a\\\\0b\" is not valid: it contains a NUL byte"
        );
        assert!(matches!(
            WsPath::parse("  ").unwrap_err(),
            FileError::InvalidPath { .. }
        ));
    }
}
