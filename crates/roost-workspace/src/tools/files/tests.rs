//! Tests of the file tools: each tool's results and error messages on a real temp folder.
//! Escape attempts (`..`, absolute paths, symlinks) are in [`confinement`].

mod confinement;
mod listing;
mod manage;
mod read;
mod write;

use std::path::Path;

use tempfile::TempDir;

use super::*;

/// A workspace in a fresh temp folder (`<tmp>/workspace`, created by `Files::open`).
pub(super) struct Fixture {
    pub tmp: TempDir,
    pub files: Files,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let files = Files::open(&tmp.path().join("workspace")).unwrap();
        Self { tmp, files }
    }

    pub fn root(&self) -> &Path {
        self.files.root()
    }

    /// Writes a file directly on disk, bypassing the tools.
    pub fn put(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn get(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap()
    }

    pub async fn read(&self, path: &str) -> Result<ReadOutput, FileError> {
        self.files
            .read(ReadArgs {
                path: path.into(),
                offset_line: None,
                limit_lines: None,
            })
            .await
    }

    pub async fn write(&self, path: &str, content: &str) -> Result<WriteOutput, FileError> {
        self.files
            .write(WriteArgs {
                path: path.into(),
                content: content.into(),
            })
            .await
    }

    pub async fn edit(
        &self,
        path: &str,
        old_text: &str,
        new_text: &str,
        replace_all: bool,
    ) -> Result<EditOutput, FileError> {
        self.files
            .edit(EditArgs {
                path: path.into(),
                old_text: old_text.into(),
                new_text: new_text.into(),
                replace_all,
            })
            .await
    }

    pub async fn list(&self, path: Option<&str>, recursive: bool) -> Result<ListOutput, FileError> {
        self.files
            .list(ListArgs {
                path: path.map(Into::into),
                recursive,
            })
            .await
    }

    pub async fn search(
        &self,
        pattern: &str,
        path: Option<&str>,
    ) -> Result<SearchOutput, FileError> {
        self.files
            .search(SearchArgs {
                pattern: pattern.into(),
                path: path.map(Into::into),
                max_results: None,
            })
            .await
    }

    pub async fn mv(&self, from: &str, to: &str, overwrite: bool) -> Result<MoveOutput, FileError> {
        self.files
            .r#move(MoveArgs {
                from: from.into(),
                to: to.into(),
                overwrite,
            })
            .await
    }

    pub async fn delete(&self, path: &str, recursive: bool) -> Result<DeleteOutput, FileError> {
        self.files
            .delete(DeleteArgs {
                path: path.into(),
                recursive,
            })
            .await
    }

    /// Names of every entry in `rel` on disk, sorted.
    pub fn names_in(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

pub(super) fn paths(list: &ListOutput) -> Vec<&str> {
    list.entries.iter().map(|e| e.path.as_str()).collect()
}
