//! A run's embeddings of the library's books, stored with the run and stamped
//! with each book's `updated_at`: a query reads the stored ones, and books
//! imported or edited since are placed now (by whatever can place them, a
//! loaded run) and stored, without retraining.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::jobs::{Cancel, OnProgress};
use crate::store::{BookId, Library, Modalities, RunId, StoreError, StoredEmbedding, StoredFocus};

/// One embedded item and how much each modality counted in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// `S_c` and `S_u`, the mean over the three scales (0 for a missing modality).
    pub image_weight: f32,
    pub text_weight: f32,
    /// The category the classifier head gives it.
    pub category: String,
    /// Where the model looked on its cover (see
    /// `inference::attention::counted_focus`): none without a cover, when
    /// the cover did not count or its maps are flat.
    pub focus: Option<[f32; 2]>,
}

/// What places library books in a run's embedding space.
pub trait PlaceBooks {
    type Error: From<StoreError>;

    fn run_id(&self) -> RunId;

    fn embedding_dim(&self) -> usize;

    /// The placements of `only` these books from `modalities` (books an
    /// image-only placement cannot place, those without a cover, are left out).
    fn place_books(
        &self,
        library: &mut Library,
        only: &[BookId],
        modalities: Modalities,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<Vec<(BookId, Placement)>, Self::Error>;
}

/// The run's embeddings of every book from `modalities`, in book id order:
/// the stored ones where the book has not changed since, the others (new or
/// edited books) placed now and stored.
pub fn current_embeddings<R: PlaceBooks>(
    library: &mut Library,
    run: &R,
    modalities: Modalities,
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<StoredEmbedding>, R::Error> {
    let stamps: BTreeMap<BookId, String> = library.book_update_stamps()?.into_iter().collect();
    let mut stored: BTreeMap<BookId, StoredEmbedding> = library
        .run_embeddings(run.run_id(), modalities)?
        .into_iter()
        .filter(|row| {
            stamps.get(&row.book_id) == Some(&row.book_updated)
                && row.embedding.len() == run.embedding_dim()
        })
        .map(|row| (row.book_id, row))
        .collect();
    let stale: Vec<BookId> = stamps
        .keys()
        .filter(|id| !stored.contains_key(id))
        .copied()
        .collect();
    if !stale.is_empty() {
        let placed = run.place_books(library, &stale, modalities, progress, cancel)?;
        let fresh: Vec<StoredEmbedding> = placed
            .into_iter()
            .map(|(book_id, placement)| StoredEmbedding {
                book_id,
                book_updated: stamps[&book_id].clone(),
                embedding: placement.embedding,
                image_weight: placement.image_weight,
                text_weight: placement.text_weight,
                focus: StoredFocus::found(placement.focus),
            })
            .collect();
        // A read-only library answers from embeddings computed now, unstored.
        if !library.is_read_only() {
            library.save_run_embeddings(run.run_id(), modalities, &fresh)?;
        }
        stored.extend(fresh.into_iter().map(|row| (row.book_id, row)));
    }
    Ok(stored.into_values().collect())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::jobs::Progress;
    use crate::store::NewBook;

    /// Places each book at `[book id, calls so far]`.
    struct Counting {
        calls: RefCell<Vec<Vec<BookId>>>,
    }

    impl PlaceBooks for Counting {
        type Error = StoreError;
        fn run_id(&self) -> RunId {
            RunId(1)
        }
        fn embedding_dim(&self) -> usize {
            2
        }
        fn place_books(
            &self,
            _: &mut Library,
            only: &[BookId],
            _: Modalities,
            _: OnProgress,
            _: &Cancel,
        ) -> Result<Vec<(BookId, Placement)>, StoreError> {
            self.calls.borrow_mut().push(only.to_vec());
            let round = self.calls.borrow().len() as f32;
            Ok(only
                .iter()
                .map(|&id| {
                    let placement = Placement {
                        embedding: vec![id.0 as f32, round],
                        image_weight: 0.5,
                        text_weight: 0.5,
                        category: String::new(),
                        focus: (id.0 % 2 == 0).then_some([0.5, 0.25]),
                    };
                    (id, placement)
                })
                .collect())
        }
    }

    fn book(external_id: &str, title: &str) -> NewBook {
        NewBook {
            external_id: external_id.into(),
            title: title.into(),
            author: String::new(),
            synopsis: String::new(),
            category: "Drama".into(),
            language: None,
            cover: None,
        }
    }

    #[test]
    fn only_new_or_edited_books_are_placed_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        library
            .upsert_books(&[book("a", "A"), book("b", "B")], "t")
            .unwrap();
        library
            .create_run(None, 0.3, Modalities::Fused, "{}")
            .unwrap();
        let run = Counting {
            calls: RefCell::new(Vec::new()),
        };
        let none = Cancel::new(false);
        let quiet = |_: Progress| {};
        let first =
            current_embeddings(&mut library, &run, Modalities::Fused, &quiet, &none).unwrap();
        assert_eq!(first.len(), 2);
        let again =
            current_embeddings(&mut library, &run, Modalities::Fused, &quiet, &none).unwrap();
        assert_eq!(again, first, "nothing changed, nothing placed");
        assert_eq!(run.calls.borrow().len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        library
            .upsert_books(&[book("b", "B, revised")], "t")
            .unwrap();
        let after =
            current_embeddings(&mut library, &run, Modalities::Fused, &quiet, &none).unwrap();
        assert_eq!(
            run.calls.borrow().last().unwrap().len(),
            1,
            "only the edited book"
        );
        assert_eq!(after[0], first[0]);
        assert_eq!(after[1].embedding[1], 2.0);
    }
}
