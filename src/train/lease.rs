//! One owner per run: the process that trains a run holds an exclusive lock
//! on `runs/<run>/owner.lock` (the OS releases it when the process dies, by
//! kill or crash), with its process id written inside. Another process that
//! asks to train, resume or delete the run is refused and told who holds it;
//! a run that says `running` while nobody holds its lock was interrupted.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;

use super::TrainError;
use super::checkpoints::{RunDir, checkpoint_error};
use crate::store::RunId;

/// A held run: the lock goes with this value.
#[derive(Debug)]
pub struct RunLease {
    _file: File,
}

fn lock_path(run_dir: &RunDir) -> PathBuf {
    run_dir.path().join("owner.lock")
}

fn open_lock(run_dir: &RunDir) -> Result<File, TrainError> {
    run_dir.create()?;
    let path = lock_path(run_dir);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| checkpoint_error(&path, e))
}

fn owner_of(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl RunLease {
    /// Holds `run_id` for this process, or says which process holds it.
    pub fn acquire(run_dir: &RunDir, run_id: RunId) -> Result<Self, TrainError> {
        let mut file = open_lock(run_dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(TrainError::RunBusy {
                    run: run_id,
                    owner: owner_of(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(checkpoint_error(&lock_path(run_dir), e));
            }
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        written.map_err(|e| checkpoint_error(&lock_path(run_dir), e))?;
        Ok(Self { _file: file })
    }

    /// The process holding the run, when one does (`Some(None)`: held, by an
    /// owner that wrote no id yet).
    pub fn holder(run_dir: &RunDir) -> Option<Option<u32>> {
        if !lock_path(run_dir).is_file() {
            return None;
        }
        let mut file = File::open(lock_path(run_dir)).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(_) => Some(owner_of(&mut file)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_run_is_refused_with_its_owner_and_free_once_let_go() {
        let library = tempfile::tempdir().unwrap();
        let dir = RunDir::new(library.path(), RunId(2));
        assert_eq!(RunLease::holder(&dir), None);
        let lease = RunLease::acquire(&dir, RunId(2)).unwrap();
        assert_eq!(RunLease::holder(&dir), Some(Some(std::process::id())));
        let refused = RunLease::acquire(&dir, RunId(2)).unwrap_err();
        assert!(
            matches!(refused, TrainError::RunBusy { owner: Some(pid), .. } if pid == std::process::id()),
            "{refused}"
        );
        drop(lease);
        assert_eq!(RunLease::holder(&dir), None);
        RunLease::acquire(&dir, RunId(2)).unwrap();
    }
}
