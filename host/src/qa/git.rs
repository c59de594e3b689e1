//! The few git questions a review asks: which files changed since a base,
//! and what a folder held at that base. Runs the `git` command, as CI
//! checkouts and operator clones have it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why git could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// `git` could not be started.
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// A git command failed.
    #[error("git {args} failed ({status}): {stderr}")]
    Failed {
        /// The arguments, space-joined.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// Writing an exported file failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Git printed a path that is not UTF-8.
    #[error("git printed a path that is not UTF-8")]
    NotUtf8,
}

/// A git work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository holding `dir`.
    pub fn discover(dir: &Path) -> Result<Repo, GitError> {
        let out = run(dir, &["rev-parse", "--show-toplevel"])?;
        let root = String::from_utf8(out).map_err(|_| GitError::NotUtf8)?;
        Ok(Repo {
            root: PathBuf::from(root.trim_end_matches('\n')),
        })
    }

    /// The work tree's top folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `file` (under the top folder) as the repository names it; a file
    /// elsewhere as it is.
    pub fn relative(&self, file: &Path) -> PathBuf {
        file.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| file.to_owned())
    }

    /// The commit `rev` names.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        let out = run(
            &self.root,
            &[
                "rev-parse",
                "--verify",
                "--end-of-options",
                &format!("{rev}^{{commit}}"),
            ],
        )?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Files that differ between `commit` (the merge base: see
    /// [`Repo::merge_base`]) and the work tree (committed, staged, unstaged
    /// and untracked), relative to the top folder, deleted files included.
    pub fn changed_since(&self, commit: &str) -> Result<Vec<PathBuf>, GitError> {
        let mut paths = split_z(&run(
            &self.root,
            &["diff", "--name-only", "-z", "--no-renames", commit, "--"],
        )?)?;
        paths.extend(split_z(&run(
            &self.root,
            &["ls-files", "--others", "--exclude-standard", "-z"],
        )?)?);
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The merge base of `base` and HEAD.
    pub fn merge_base(&self, base: &str) -> Result<String, GitError> {
        let base = self.resolve(base)?;
        let out = run(&self.root, &["merge-base", &base, "HEAD"])?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Whether `path` (relative to the top) existed at `rev`.
    pub fn exists_at(&self, rev: &str, path: &Path) -> Result<bool, GitError> {
        let spec = format!("{rev}:{}", path.to_str().ok_or(GitError::NotUtf8)?);
        let status = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["cat-file", "-e", &spec])
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(GitError::Spawn)?;
        Ok(status.success())
    }

    /// Writes the files under `folder` (relative to the top) as they were
    /// at `rev` into `dest`; false when the folder did not exist then.
    pub fn export(&self, rev: &str, folder: &Path, dest: &Path) -> Result<bool, GitError> {
        let spec = folder.to_str().ok_or(GitError::NotUtf8)?;
        let files = split_z(&run(
            &self.root,
            &["ls-tree", "-r", "-z", "--name-only", rev, "--", spec],
        )?)?;
        if files.is_empty() {
            return Ok(false);
        }
        for file in files {
            let Ok(rel) = file.strip_prefix(folder) else {
                continue;
            };
            let object = format!("{rev}:{}", file.to_str().ok_or(GitError::NotUtf8)?);
            let bytes = run(&self.root, &["cat-file", "blob", &object])?;
            let target = dest.join(rel);
            let write = |source| GitError::Write {
                path: target.clone(),
                source,
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write)?;
            }
            std::fs::write(&target, bytes).map_err(write)?;
        }
        Ok(true)
    }
}

fn split_z(out: &[u8]) -> Result<Vec<PathBuf>, GitError> {
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            std::str::from_utf8(p)
                .map(PathBuf::from)
                .map_err(|_| GitError::NotUtf8)
        })
        .collect()
}

fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}
