//! What the Projection view can colour its points by, beside the category:
//! the run's verdict on its held-out books (predicted category, right or
//! wrong), which books it trained on, each book's cover share, language and
//! readers; and the groups (legend entries) of points each choice makes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::store::{BookId, Library, Modalities, RunId, StoredProjection};
use crate::train::{HeldOutBook, RunDir};

/// What the points are coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourBy {
    #[default]
    Category,
    Predicted,
    RightWrong,
    TrainedOrHeldOut,
    CoverShare,
    Language,
    Reader,
}

impl ColourBy {
    pub const ALL: [ColourBy; 7] = [
        ColourBy::Category,
        ColourBy::Predicted,
        ColourBy::RightWrong,
        ColourBy::TrainedOrHeldOut,
        ColourBy::CoverShare,
        ColourBy::Language,
        ColourBy::Reader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ColourBy::Category => "category",
            ColourBy::Predicted => "predicted category",
            ColourBy::RightWrong => "right / wrong",
            ColourBy::TrainedOrHeldOut => "training / held-out",
            ColourBy::CoverShare => "cover share",
            ColourBy::Language => "language",
            ColourBy::Reader => "reader",
        }
    }
}

/// The facts behind each colouring, read once per projection's run.
#[derive(Debug, Default, Clone)]
pub struct ProjectionFacts {
    pub run: Option<RunId>,
    /// The run's categories, the rows `held_out` names.
    pub categories: Vec<String>,
    pub held_out: HashMap<BookId, HeldOutBook>,
    pub trained_on: HashSet<BookId>,
    /// `S_c / (S_c + S_t)` of the run's placement of each book.
    pub cover_share: HashMap<BookId, f32>,
    pub language: HashMap<BookId, String>,
    /// Reader id → the books they read.
    pub readers: BTreeMap<String, HashSet<BookId>>,
}

impl ProjectionFacts {
    pub fn read(library: &Library, library_root: &Path, run_id: RunId) -> anyhow::Result<Self> {
        let dir = RunDir::new(library_root, run_id);
        let split = dir.load_split()?;
        let held_out = dir.load_held_out()?.unwrap_or_default();
        let cover_share = library
            .run_embeddings(run_id, Modalities::Fused)?
            .into_iter()
            .map(|e| {
                let total = e.image_weight + e.text_weight;
                let share = if total > 0.0 {
                    e.image_weight / total
                } else {
                    0.0
                };
                (e.book_id, share)
            })
            .collect();
        let mut readers: BTreeMap<String, HashSet<BookId>> = BTreeMap::new();
        for (reader, book, _) in library.all_readings()? {
            readers.entry(reader).or_default().insert(book);
        }
        Ok(Self {
            run: Some(run_id),
            categories: split
                .as_ref()
                .map_or_else(Vec::new, |s| s.categories.clone()),
            trained_on: split.map_or_else(HashSet::new, |s| s.train.into_iter().collect()),
            held_out: held_out.into_iter().map(|b| (b.book_id, b)).collect(),
            cover_share,
            language: library
                .book_languages()?
                .into_iter()
                .filter_map(|(book, language)| Some((book, language?)))
                .collect(),
            readers,
        })
    }

    /// The legend entry of one book under `colour_by` (`reader`: the reader
    /// whose books stand out).
    pub fn group_of(
        &self,
        book_id: BookId,
        category: &str,
        colour_by: ColourBy,
        reader: &str,
    ) -> String {
        let judged = self.held_out.get(&book_id);
        let category_name = |row: usize| {
            self.categories
                .get(row)
                .cloned()
                .unwrap_or_else(|| format!("category {row}"))
        };
        match colour_by {
            ColourBy::Category if category.is_empty() => "(none)".into(),
            ColourBy::Category => category.into(),
            ColourBy::Predicted => {
                judged.map_or_else(|| self.not_judged(book_id), |b| category_name(b.predicted))
            }
            ColourBy::RightWrong => judged.map_or_else(
                || self.not_judged(book_id),
                |b| {
                    if b.predicted == b.actual {
                        "right".into()
                    } else {
                        "wrong".into()
                    }
                },
            ),
            ColourBy::TrainedOrHeldOut => {
                if self.trained_on.contains(&book_id) {
                    "trained on".into()
                } else if judged.is_some() {
                    "held out".into()
                } else {
                    "not in the run".into()
                }
            }
            ColourBy::CoverShare => match self.cover_share.get(&book_id) {
                None => "no placement".into(),
                Some(share) if *share < 0.05 => "cover < 5% (did not count)".into(),
                Some(share) if *share < 0.15 => "cover 5-15%".into(),
                Some(share) if *share < 0.30 => "cover 15-30%".into(),
                Some(_) => "cover >= 30%".into(),
            },
            ColourBy::Language => self
                .language
                .get(&book_id)
                .cloned()
                .unwrap_or_else(|| "(unknown)".into()),
            ColourBy::Reader => {
                let read = self
                    .readers
                    .get(reader)
                    .is_some_and(|books| books.contains(&book_id));
                if read {
                    format!("read by {reader}")
                } else {
                    "not read by them".into()
                }
            }
        }
    }

    /// Why a book has no verdict: the run trained on it, or never saw it.
    fn not_judged(&self, book_id: BookId) -> String {
        if self.trained_on.contains(&book_id) {
            "trained on (not judged)".into()
        } else {
            "not in the run".into()
        }
    }

    /// The projection's points in legend groups, sorted by name.
    pub fn groups(
        &self,
        projection: &StoredProjection,
        category_of: impl Fn(BookId) -> String,
        colour_by: ColourBy,
        reader: &str,
    ) -> BTreeMap<String, Vec<[f64; 2]>> {
        let mut groups: BTreeMap<String, Vec<[f64; 2]>> = BTreeMap::new();
        for (book_id, point) in projection.book_ids.iter().zip(projection.points.chunks(2)) {
            let group = self.group_of(*book_id, &category_of(*book_id), colour_by, reader);
            groups
                .entry(group)
                .or_default()
                .push([f64::from(point[0]), f64::from(point[1])]);
        }
        groups
    }
}

/// Whether `point` lies inside the closed polygon `outline` (even-odd rule,
/// by counting crossings of a ray to the right).
pub fn inside(outline: &[[f64; 2]], [x, y]: [f64; 2]) -> bool {
    let mut inside = false;
    let mut previous = match outline.last() {
        Some(&last) => last,
        None => return false,
    };
    for &[xi, yi] in outline {
        let [xj, yj] = previous;
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        previous = [xi, yi];
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ProjectionFacts {
        let judged = |book, actual, predicted| HeldOutBook {
            book_id: BookId(book),
            actual,
            predicted,
            confidence: 0.9,
        };
        ProjectionFacts {
            run: Some(RunId(1)),
            categories: vec!["Drama".into(), "Poetry".into()],
            held_out: [judged(2, 0, 1), judged(3, 1, 1)]
                .into_iter()
                .map(|b| (b.book_id, b))
                .collect(),
            trained_on: [BookId(1)].into_iter().collect(),
            cover_share: [(BookId(1), 0.01), (BookId(2), 0.4)].into_iter().collect(),
            language: [(BookId(1), "en".to_string())].into_iter().collect(),
            readers: [("ada".to_string(), [BookId(3)].into_iter().collect())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn each_colouring_puts_a_book_in_the_group_its_facts_say() {
        let facts = facts();
        let group = |book, by| facts.group_of(BookId(book), "Drama", by, "ada");
        assert_eq!(group(2, ColourBy::Predicted), "Poetry");
        assert_eq!(group(1, ColourBy::Predicted), "trained on (not judged)");
        assert_eq!(group(4, ColourBy::Predicted), "not in the run");
        assert_eq!(group(2, ColourBy::RightWrong), "wrong");
        assert_eq!(group(3, ColourBy::RightWrong), "right");
        assert_eq!(group(1, ColourBy::TrainedOrHeldOut), "trained on");
        assert_eq!(group(2, ColourBy::TrainedOrHeldOut), "held out");
        assert_eq!(group(1, ColourBy::CoverShare), "cover < 5% (did not count)");
        assert_eq!(group(2, ColourBy::CoverShare), "cover >= 30%");
        assert_eq!(group(3, ColourBy::CoverShare), "no placement");
        assert_eq!(group(1, ColourBy::Language), "en");
        assert_eq!(group(2, ColourBy::Language), "(unknown)");
        assert_eq!(group(3, ColourBy::Reader), "read by ada");
        assert_eq!(group(2, ColourBy::Reader), "not read by them");
        assert_eq!(
            facts.group_of(BookId(9), "", ColourBy::Category, ""),
            "(none)"
        );
    }

    #[test]
    fn a_point_is_inside_a_lasso_by_the_even_odd_rule() {
        // A "C" shape: its notch is outside though within its bounding box.
        let outline = [
            [0.0, 0.0],
            [3.0, 0.0],
            [3.0, 1.0],
            [1.0, 1.0],
            [1.0, 2.0],
            [3.0, 2.0],
            [3.0, 3.0],
            [0.0, 3.0],
        ];
        assert!(inside(&outline, [0.5, 1.5]));
        assert!(inside(&outline, [2.0, 0.5]));
        assert!(!inside(&outline, [2.0, 1.5]), "the notch");
        assert!(!inside(&outline, [4.0, 1.0]));
        assert!(!inside(&[], [0.0, 0.0]));
    }
}
