//! Sweeps and training runs, with every step's loss and every epoch's metrics.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Library, Modalities, RunId, RunStatus, StoreError, SweepId};

/// One training step's losses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStep {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
    pub cross_entropy: f64,
    pub triplet: f64,
    /// The alignment term, in runs that had one.
    pub alignment: Option<f64>,
}

/// A run as the run table lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunListing {
    pub run_id: RunId,
    pub sweep_id: Option<SweepId>,
    pub beta: f64,
    pub modalities: Modalities,
    pub status: RunStatus,
    pub best_epoch: Option<i64>,
    pub val_accuracy: Option<f64>,
    pub val_macro_f1: Option<f64>,
    /// The final report (JSON), when finished.
    pub summary: Option<String>,
    pub created_at: String,
    /// The last epoch recorded (0: none yet).
    pub epochs_done: i64,
    /// The run this one was fine-tuned from, when it was.
    pub parent_run_id: Option<RunId>,
    /// The seed of its split, batches and heads (from its settings).
    pub seed: Option<i64>,
}

/// One epoch's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEpoch {
    pub epoch: i64,
    pub train_loss: f64,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
}

/// How far a run got; see [`Library::run_progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    pub last_epoch: i64,
    pub last_step: i64,
    /// (epoch, validation accuracy, validation macro-F1) of the best epoch.
    pub best: Option<(i64, f64, f64)>,
}

/// A run's settings and summary as stored (JSON), and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub config: String,
    pub summary: Option<String>,
    pub status: RunStatus,
    /// The run this one was fine-tuned from, when it was.
    pub parent_run_id: Option<RunId>,
}

/// How a run ended, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The trunk's provenance, as JSON.
    pub trunk: Option<String>,
    pub best_epoch: Option<i64>,
    pub val_accuracy: Option<f64>,
    pub val_macro_f1: Option<f64>,
    /// The run's summary (or error), as JSON.
    pub summary: String,
}

impl Library {
    pub fn create_sweep(&mut self) -> Result<SweepId, StoreError> {
        self.conn.execute("INSERT INTO sweeps DEFAULT VALUES", [])?;
        Ok(SweepId(self.conn.last_insert_rowid()))
    }

    /// Records a run about to start; its status is `running` until finished.
    pub fn create_run(
        &mut self,
        sweep_id: Option<SweepId>,
        beta: f64,
        modalities: Modalities,
        config: &str,
    ) -> Result<RunId, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (sweep_id, beta, modalities, config, status) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sweep_id, beta, modalities, config, RunStatus::Running],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Records a run about to be fine-tuned from `parent`, outside any sweep.
    pub fn create_fine_tune_run(
        &mut self,
        parent: RunId,
        beta: f64,
        modalities: Modalities,
        config: &str,
    ) -> Result<RunId, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (beta, modalities, config, status, parent_run_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![beta, modalities, config, RunStatus::Running, parent],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Stores an epoch's steps and metrics together, in one transaction.
    pub fn record_epoch(
        &mut self,
        run_id: RunId,
        steps: &[RunStep],
        epoch: &RunEpoch,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_steps (run_id, step, epoch, loss, cross_entropy, triplet, alignment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for step in steps {
                put.execute(params![
                    run_id,
                    step.step,
                    step.epoch,
                    step.loss,
                    step.cross_entropy,
                    step.triplet,
                    step.alignment
                ])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_accuracy, val_macro_f1)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, epoch.epoch, epoch.train_loss, epoch.val_accuracy, epoch.val_macro_f1],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a run finished (or failed / cancelled) with its outcome.
    pub fn finish_run(&mut self, run_id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, trunk = ?3, best_epoch = ?4, val_accuracy = ?5, val_macro_f1 = ?6,
                 summary = ?7, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE run_id = ?1",
            params![
                run_id,
                outcome.status,
                outcome.trunk,
                outcome.best_epoch,
                outcome.val_accuracy,
                outcome.val_macro_f1,
                outcome.summary
            ],
        )?;
        Ok(())
    }

    /// A run's per-epoch metrics, in epoch order.
    pub fn run_epochs(&self, run_id: RunId) -> Result<Vec<RunEpoch>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT epoch, train_loss, val_accuracy, val_macro_f1 FROM run_epochs WHERE run_id = ?1 ORDER BY epoch",
        )?;
        let rows = stmt.query_map([run_id], |row| {
            Ok(RunEpoch {
                epoch: row.get(0)?,
                train_loss: row.get(1)?,
                val_accuracy: row.get(2)?,
                val_macro_f1: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunListing>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, sweep_id, beta, modalities, status, best_epoch, val_accuracy, val_macro_f1,
                    summary, created_at,
                    COALESCE((SELECT MAX(epoch) FROM run_epochs e WHERE e.run_id = runs.run_id), 0),
                    parent_run_id, json_extract(config, '$.seed')
             FROM runs ORDER BY run_id DESC",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(RunListing {
                run_id: row.get(0)?,
                sweep_id: row.get(1)?,
                beta: row.get(2)?,
                modalities: row.get(3)?,
                status: row.get(4)?,
                best_epoch: row.get(5)?,
                val_accuracy: row.get(6)?,
                val_macro_f1: row.get(7)?,
                summary: row.get(8)?,
                created_at: row.get(9)?,
                epochs_done: row.get(10)?,
                parent_run_id: row.get(11)?,
                seed: row.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A run's per-step losses, in step order.
    pub fn run_steps(&self, run_id: RunId) -> Result<Vec<RunStep>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT step, epoch, loss, cross_entropy, triplet, alignment FROM run_steps WHERE run_id = ?1 ORDER BY step",
        )?;
        let rows = stmt.query_map([run_id], |row| {
            Ok(RunStep {
                step: row.get(0)?,
                epoch: row.get(1)?,
                loss: row.get(2)?,
                cross_entropy: row.get(3)?,
                triplet: row.get(4)?,
                alignment: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A run's settings and summary as stored (JSON), and its status.
    pub fn run_record(&self, run_id: RunId) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT config, summary, status, parent_run_id FROM runs WHERE run_id = ?1",
                [run_id],
                |row| {
                    Ok(RunRecord {
                        config: row.get(0)?,
                        summary: row.get(1)?,
                        status: row.get(2)?,
                        parent_run_id: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// How far a run got: its last recorded epoch and step, and its best epoch
    /// (epoch, accuracy, macro-F1) by validation macro-F1.
    pub fn run_progress(&self, run_id: RunId) -> Result<RunProgress, StoreError> {
        let (last_epoch, last_step) = self.conn.query_row(
            "SELECT COALESCE((SELECT MAX(epoch) FROM run_epochs WHERE run_id = ?1), 0),
                    COALESCE((SELECT MAX(step) FROM run_steps WHERE run_id = ?1), 0)",
            [run_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let best = self
            .conn
            .query_row(
                "SELECT epoch, val_accuracy, val_macro_f1 FROM run_epochs WHERE run_id = ?1
                 ORDER BY val_macro_f1 DESC, epoch ASC LIMIT 1",
                [run_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        Ok(RunProgress {
            last_epoch,
            last_step,
            best,
        })
    }

    /// Marks a run as running again, with its (possibly longer) settings.
    pub fn restart_run(&mut self, run_id: RunId, config: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', config = ?2, finished_at = NULL WHERE run_id = ?1",
            params![run_id, config],
        )?;
        Ok(())
    }

    /// A run's status and best epoch.
    pub fn run_status(
        &self,
        run_id: RunId,
    ) -> Result<Option<(RunStatus, Option<i64>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, best_epoch FROM runs WHERE run_id = ?1",
                [run_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// Marks a run whose process died as interrupted (only while it still
    /// says running, so a run that ended meanwhile keeps its outcome).
    pub fn mark_interrupted(&mut self, run_id: RunId) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE runs SET status = ?2 WHERE run_id = ?1 AND status = ?3",
            params![run_id, RunStatus::Interrupted, RunStatus::Running],
        )?;
        Ok(changed > 0)
    }

    /// Forgets a run's steps and epochs, for a run that starts over.
    pub fn clear_run_history(&mut self, run_id: RunId) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM run_steps WHERE run_id = ?1", [run_id])?;
        tx.execute("DELETE FROM run_epochs WHERE run_id = ?1", [run_id])?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a run with its steps, epochs, embeddings and projections; a
    /// sweep left without runs goes too. False when there was no such run.
    pub fn delete_run(&mut self, run_id: RunId) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let deleted = tx.execute("DELETE FROM runs WHERE run_id = ?1", [run_id])?;
        tx.execute(
            "DELETE FROM sweeps WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.sweep_id = sweeps.sweep_id)",
            [],
        )?;
        tx.commit()?;
        Ok(deleted > 0)
    }
}
