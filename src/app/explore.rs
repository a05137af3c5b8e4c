//! The state of the views that explore a trained run: Attention (CBAM maps
//! of up to two books side by side), Projection (the 2D layout and what is
//! selected in it) and Recommend (the query and its explained suggestions).

use std::path::PathBuf;

use super::projection_facts::{ColourBy, ProjectionFacts};
use crate::inference::AttentionMaps;
use crate::jobs::Job;
use crate::project::Method;
use crate::recommend::{IndexCache, Query, Suggestion};
use crate::store::{BookDetail, BookId, StoredProjection};

pub struct AttentionState {
    pub job: Option<Job<(BookId, AttentionMaps)>>,
    /// Up to two books' maps, side by side.
    pub shown: Vec<(BookId, AttentionMaps)>,
    /// 1..=3, or 0 for the mean over the scales.
    pub scale: usize,
    pub opacity: f32,
}

impl Default for AttentionState {
    fn default() -> Self {
        Self {
            job: None,
            shown: Vec::new(),
            scale: 3,
            opacity: 0.6,
        }
    }
}

impl AttentionState {
    /// Shows `maps` beside the last book shown (replacing the older one).
    pub fn show(&mut self, maps: (BookId, AttentionMaps)) {
        self.shown.retain(|(id, _)| *id != maps.0);
        self.shown.push(maps);
        if self.shown.len() > 2 {
            self.shown.remove(0);
        }
    }
}

/// What a drag on the projection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectMode {
    /// Moves the view.
    #[default]
    Pan,
    /// Selects the points in a rectangle.
    Box,
    /// Selects the points inside a freehand outline.
    Lasso,
}

pub struct ProjectionState {
    pub method: Method,
    pub job: Option<Job<StoredProjection>>,
    pub projection: Option<StoredProjection>,
    pub selection: Vec<BookId>,
    /// Each projected book's place on screen in the last frame drawn.
    pub screen: Vec<(BookId, egui::Pos2)>,
    pub select_mode: SelectMode,
    /// Where the box being dragged started.
    pub box_origin: Option<egui::Pos2>,
    /// The lasso being drawn, in screen points.
    pub lasso: Vec<egui::Pos2>,
    /// The book a hub link asked to see here, ringed.
    pub focus: Option<BookId>,
    pub colour_by: ColourBy,
    /// The reader whose books stand out when colouring by reader.
    pub reader: String,
    pub facts: ProjectionFacts,
    /// The shelf the selection is put on.
    pub shelf: String,
    /// The points in their legend groups, as last drawn, and what they were
    /// made from: remade only when that changes, not every frame (at 100,000
    /// points the grouping alone took longer than a frame).
    pub groups: Option<(GroupsKey, std::sync::Arc<PointGroups>)>,
    /// The plot's bounds in the last frame: which points are in view.
    pub last_bounds: Option<egui_plot::PlotBounds>,
    /// The plot's frame on screen and the layout `screen` was placed for.
    pub screen_frame: Option<egui::Rect>,
    pub screen_points: usize,
    /// The points drawn, for the bounds and groups they were sampled for.
    pub drawn: Option<DrawnKey>,
    /// The layout's extent, for the points buffer it was measured on.
    pub extent: Option<(usize, [(f64, f64); 2])>,
}

/// Each group's name and the points of it drawn.
pub type DrawnPoints = Vec<(String, Vec<[f64; 2]>)>;

/// Drawn points with the plot bounds and groups buffer they were sampled for.
pub type DrawnKey = (
    (Option<egui_plot::PlotBounds>, usize),
    std::sync::Arc<DrawnPoints>,
);

/// Legend groups of points: each group's name and its points.
pub type PointGroups = std::collections::BTreeMap<String, Vec<[f64; 2]>>;

/// What a projection's point groups are made from. The projection is known
/// by its points' buffer (a new layout is a new buffer), the books by
/// [`super::library::LibraryState::books_version`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupsKey {
    pub points: (usize, usize),
    pub books_version: u64,
    pub facts_run: Option<crate::store::RunId>,
    pub colour_by: ColourBy,
    pub reader: String,
}

impl Default for ProjectionState {
    fn default() -> Self {
        Self {
            method: Method::Pca,
            job: None,
            projection: None,
            selection: Vec::new(),
            screen: Vec::new(),
            select_mode: SelectMode::default(),
            groups: None,
            last_bounds: None,
            screen_frame: None,
            screen_points: 0,
            drawn: None,
            extent: None,
            box_origin: None,
            lasso: Vec::new(),
            focus: None,
            colour_by: ColourBy::default(),
            reader: String::new(),
            facts: ProjectionFacts::default(),
            shelf: "From the projection".into(),
        }
    }
}

/// How many nearest points a hub link selects around its book.
const FOCUS_NEIGHBOURS: usize = 10;

impl ProjectionState {
    /// Rings `book_id` and selects it with its nearest points in the plane;
    /// false when the projection does not hold it.
    pub fn focus_on(&mut self, book_id: BookId) -> bool {
        let Some(projection) = &self.projection else {
            return false;
        };
        let points: Vec<(BookId, [f32; 2])> = projection
            .book_ids
            .iter()
            .zip(projection.points.chunks(2))
            .map(|(id, xy)| (*id, [xy[0], xy[1]]))
            .collect();
        let Some(&(_, [x, y])) = points.iter().find(|(id, _)| *id == book_id) else {
            return false;
        };
        let mut by_distance: Vec<(f32, BookId)> = points
            .iter()
            .map(|(id, [px, py])| ((px - x).powi(2) + (py - y).powi(2), *id))
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.selection = by_distance
            .into_iter()
            .take(FOCUS_NEIGHBOURS + 1)
            .map(|(_, id)| id)
            .collect();
        self.focus = Some(book_id);
        true
    }
}

/// What the Recommend view asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    SelectedBook,
    Description,
    Image,
    Reader,
}

pub struct RecommendState {
    pub kind: QueryKind,
    pub text: String,
    pub image: Option<PathBuf>,
    pub reader: String,
    pub count: usize,
    pub diverse: bool,
    pub job: Option<Job<Vec<Suggestion>>>,
    /// The run and index of the last query, for the next (a large library's
    /// placements take seconds to read, a query milliseconds).
    pub index_cache: IndexCache,
    pub suggestions: Vec<Suggestion>,
    /// The shelf "Add to shelf" puts a suggestion on.
    pub shelf: String,
}

impl Default for RecommendState {
    fn default() -> Self {
        Self {
            kind: QueryKind::SelectedBook,
            shelf: "Reading list".into(),
            text: String::new(),
            image: None,
            reader: String::new(),
            count: 10,
            diverse: false,
            job: None,
            index_cache: IndexCache::default(),
            suggestions: Vec::new(),
        }
    }
}

impl RecommendState {
    /// The query the form describes, or what is missing.
    pub fn query(&self, selected: Option<&BookDetail>) -> Result<Query, &'static str> {
        match self.kind {
            QueryKind::SelectedBook => selected
                .map(|book| Query::Like(book.external_id.clone()))
                .ok_or("Pick a book in the Library view first."),
            QueryKind::Description if !self.text.trim().is_empty() => {
                Ok(Query::Text(self.text.trim().to_string()))
            }
            QueryKind::Image if self.image.is_some() => {
                Ok(Query::Image(self.image.clone().expect("checked")))
            }
            QueryKind::Reader if !self.reader.trim().is_empty() => {
                Ok(Query::Reader(self.reader.trim().to_string()))
            }
            _ => Err("Say what to look for first."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_needs_what_its_kind_asks_for() {
        let mut state = RecommendState::default();
        assert!(state.query(None).is_err());
        state.kind = QueryKind::Description;
        assert!(state.query(None).is_err());
        state.text = "  pirate ship ".into();
        assert_eq!(state.query(None), Ok(Query::Text("pirate ship".into())));
    }
}
