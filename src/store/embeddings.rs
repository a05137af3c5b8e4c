//! A run's stored book embeddings and its 2D projections.

use rusqlite::{OptionalExtension, params};

use super::{BookId, Library, Modalities, RunId, StoreError, f32s_from_bytes, f32s_to_bytes};

/// One book's embedding in a run, with the stamp of the book it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub book_id: BookId,
    pub book_updated: String,
    pub embedding: Vec<f32>,
    pub image_weight: f32,
    pub text_weight: f32,
    /// Where the model looked on the book's cover in this placement: kept so
    /// that a suggestion's ring needs no pass of the heads at query time.
    pub focus: StoredFocus,
}

/// Where the model looked on a book's cover, as stored with its placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StoredFocus {
    /// Stored before placements kept it (found again when a query asks).
    Unknown,
    /// Nowhere: no cover, a cover that did not count, or flat maps.
    Nowhere,
    /// The centre of the hottest cell, as fractions of width and height.
    At([f32; 2]),
}

impl StoredFocus {
    /// What a placement found (`None`: nowhere).
    pub fn found(focus: Option<[f32; 2]>) -> Self {
        focus.map_or(Self::Nowhere, Self::At)
    }

    /// The column's value: NULL unknown, no bytes nowhere, else `x, y`.
    fn to_column(self) -> Option<Vec<u8>> {
        match self {
            Self::Unknown => None,
            Self::Nowhere => Some(Vec::new()),
            Self::At(point) => Some(f32s_to_bytes(&point)),
        }
    }

    fn from_column(bytes: Option<Vec<u8>>) -> Self {
        match bytes.as_deref().map(f32s_from_bytes).as_deref() {
            None => Self::Unknown,
            Some(&[x, y]) => Self::At([x, y]),
            Some(_) => Self::Nowhere,
        }
    }
}

/// A run's books laid out in 2D by one method.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProjection {
    pub method: String,
    /// The method's settings, as JSON.
    pub settings: String,
    pub book_ids: Vec<BookId>,
    /// `x, y` per book, in `book_ids` order.
    pub points: Vec<f32>,
    pub trustworthiness: f64,
    /// The neighbourhood size trustworthiness was measured at.
    pub neighbours: usize,
    pub seconds: f64,
}

impl Library {
    /// A run's stored book embeddings from `modalities` ("fused", "image",
    /// "text"), in book id order.
    pub fn run_embeddings(
        &self,
        run_id: RunId,
        modalities: Modalities,
    ) -> Result<Vec<StoredEmbedding>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, book_updated, embedding, image_weight, text_weight, focus
             FROM run_embeddings WHERE run_id = ?1 AND modalities = ?2 ORDER BY book_id",
        )?;
        let rows = stmt.query_map(params![run_id, modalities], |row| {
            let bytes: Vec<u8> = row.get(2)?;
            Ok(StoredEmbedding {
                book_id: BookId(row.get(0)?),
                book_updated: row.get(1)?,
                embedding: f32s_from_bytes(&bytes),
                image_weight: row.get::<_, f64>(3)? as f32,
                text_weight: row.get::<_, f64>(4)? as f32,
                focus: StoredFocus::from_column(row.get(5)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores (or replaces) embeddings of a run, all in one transaction.
    pub fn save_run_embeddings(
        &mut self,
        run_id: RunId,
        modalities: Modalities,
        embeddings: &[StoredEmbedding],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT OR REPLACE INTO run_embeddings
                 (run_id, modalities, book_id, book_updated, embedding, image_weight, text_weight,
                  focus)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for row in embeddings {
                stmt.execute(params![
                    run_id,
                    modalities,
                    row.book_id.0,
                    row.book_updated,
                    f32s_to_bytes(&row.embedding),
                    f64::from(row.image_weight),
                    f64::from(row.text_weight),
                    row.focus.to_column(),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores (or replaces) a run's projection by one method.
    pub fn save_projection(
        &mut self,
        run_id: RunId,
        projection: &StoredProjection,
    ) -> Result<(), StoreError> {
        let ids: Vec<u8> = projection
            .book_ids
            .iter()
            .flat_map(|id| id.0.to_le_bytes())
            .collect();
        self.conn.execute(
            "INSERT OR REPLACE INTO run_projections
             (run_id, method, settings, book_ids, points, trustworthiness, neighbours, seconds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run_id,
                projection.method,
                projection.settings,
                ids,
                f32s_to_bytes(&projection.points),
                projection.trustworthiness,
                projection.neighbours as i64,
                projection.seconds,
            ],
        )?;
        Ok(())
    }

    /// A run's stored projection by `method`, if it was computed.
    pub fn projection(
        &self,
        run_id: RunId,
        method: &str,
    ) -> Result<Option<StoredProjection>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT method, settings, book_ids, points, trustworthiness, neighbours, seconds
                 FROM run_projections WHERE run_id = ?1 AND method = ?2",
                params![run_id, method],
                |row| {
                    let ids: Vec<u8> = row.get(2)?;
                    let points: Vec<u8> = row.get(3)?;
                    Ok(StoredProjection {
                        method: row.get(0)?,
                        settings: row.get(1)?,
                        book_ids: ids
                            .chunks_exact(8)
                            .map(|b| BookId(i64::from_le_bytes(b.try_into().expect("8 bytes"))))
                            .collect(),
                        points: f32s_from_bytes(&points),
                        trustworthiness: row.get(4)?,
                        neighbours: row.get::<_, i64>(5)? as usize,
                        seconds: row.get(6)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::book;

    /// Each kind of focus reads back as it was stored; a row stored before
    /// the column (NULL) reads as unknown.
    #[test]
    fn a_stored_focus_reads_back_and_an_old_row_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let books: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| book(id, &id.to_uppercase()))
            .collect();
        library.upsert_books(&books, "t").unwrap();
        let run = library
            .create_run(None, 0.3, Modalities::Fused, "{}")
            .unwrap();
        let ids: Vec<BookId> = library
            .book_summaries()
            .unwrap()
            .iter()
            .map(|b| b.book_id)
            .collect();
        let focus = [
            StoredFocus::At([0.25, 0.75]),
            StoredFocus::Nowhere,
            StoredFocus::Unknown,
        ];
        let rows: Vec<StoredEmbedding> = ids
            .iter()
            .zip(focus)
            .map(|(&book_id, focus)| StoredEmbedding {
                book_id,
                book_updated: "t".into(),
                embedding: vec![1.0, 0.0],
                image_weight: 0.5,
                text_weight: 0.5,
                focus,
            })
            .collect();
        library
            .save_run_embeddings(run, Modalities::Fused, &rows)
            .unwrap();
        let read: Vec<StoredFocus> = library
            .run_embeddings(run, Modalities::Fused)
            .unwrap()
            .iter()
            .map(|row| row.focus)
            .collect();
        assert_eq!(read, focus);
        library
            .conn
            .execute("UPDATE run_embeddings SET focus = NULL", [])
            .unwrap();
        assert!(
            library
                .run_embeddings(run, Modalities::Fused)
                .unwrap()
                .iter()
                .all(|row| row.focus == StoredFocus::Unknown)
        );
    }
}
