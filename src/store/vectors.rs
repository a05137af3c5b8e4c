//! The library's word vectors, tied to the corpus they were trained on.

use rusqlite::{OptionalExtension, params};

use super::{Library, StoreError};

/// Word vectors as stored: the vocabulary in id order and a row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWordVectors {
    pub corpus_hash: String,
    /// The training settings, as JSON.
    pub config: String,
    pub words: Vec<String>,
    pub surfaces: Vec<String>,
    pub counts: Vec<u64>,
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub seconds: f64,
    pub trained_at: String,
}

impl Library {
    /// Replaces the stored word vectors (one set per library) in one transaction.
    pub fn save_word_vectors(&mut self, stored: &StoredWordVectors) -> Result<(), StoreError> {
        let counts: Vec<u8> = stored.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
        let vectors: Vec<u8> = stored
            .vectors
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM word_vectors", [])?;
        tx.execute(
            "INSERT INTO word_vectors (corpus_hash, config, words, surfaces, counts, dim, vectors, seconds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                stored.corpus_hash,
                stored.config,
                stored.words.join("\n"),
                stored.surfaces.join("\n"),
                counts,
                stored.dim,
                vectors,
                stored.seconds
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The stored word vectors, if any were trained.
    pub fn load_word_vectors(&self) -> Result<Option<StoredWordVectors>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT corpus_hash, config, words, surfaces, counts, dim, vectors, seconds, trained_at
                 FROM word_vectors ORDER BY vectors_id DESC LIMIT 1",
                [],
                |row| {
                    let split = |text: String| -> Vec<String> {
                        if text.is_empty() {
                            Vec::new()
                        } else {
                            text.split('\n').map(str::to_string).collect()
                        }
                    };
                    let counts: Vec<u8> = row.get(4)?;
                    let vectors: Vec<u8> = row.get(6)?;
                    Ok(StoredWordVectors {
                        corpus_hash: row.get(0)?,
                        config: row.get(1)?,
                        words: split(row.get(2)?),
                        surfaces: split(row.get(3)?),
                        counts: counts
                            .chunks_exact(8)
                            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                            .collect(),
                        dim: row.get(5)?,
                        vectors: vectors
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                            .collect(),
                        seconds: row.get(7)?,
                        trained_at: row.get(8)?,
                    })
                },
            )
            .optional()?)
    }
}
