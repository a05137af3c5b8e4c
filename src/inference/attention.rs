//! Where the model looked on a cover and how it weighed it, for one book:
//! what the Attention view draws and what each suggestion's "focus" is.

use tch::{Device, Kind, Tensor};

use super::TrainedRun;
use crate::embed::FeatureCache;
use crate::model::focus;
use crate::store::{BookId, BookText, Library};
use crate::train::TrainError;
use crate::train::batches::batch_tensors;
use crate::train::covers::CoverMaps;
use crate::train::data::Example;

/// Below this share of the fusion (`S_c / (S_c + S_u)`), a cover is said not
/// to have counted: its spatial map then carries no cover information, and
/// neither the Attention view nor a suggestion points at a place on it.
pub const MIN_COVER_SHARE: f32 = 0.05;

/// True when a cover with fusion share `image_share` counted for its book.
pub fn cover_counted(image_share: f32) -> bool {
    image_share >= MIN_COVER_SHARE
}

/// `S_c / (S_c + S_u)`: how much the cover counted in a book's fusion.
pub fn image_share(image_weight: f32, text_weight: f32) -> f32 {
    image_weight / (image_weight + text_weight).max(1e-6)
}

/// Where the model looked on a cover whose CBAM maps (`grid x grid`) peak
/// at `peak_cell` (see `model::focus::peak_cell`; none when flat), with
/// fusion share `image_share`: the cell's centre, as fractions of width and
/// height, when the cover counted. The Attention view's reading and the one
/// stored with each placement.
pub fn counted_focus(peak_cell: Option<usize>, grid: usize, image_share: f32) -> Option<[f32; 2]> {
    peak_cell
        .filter(|_| cover_counted(image_share))
        .map(|cell| focus::cell_centre(cell, grid))
}

/// CBAM's spatial map `Ms` (row-major `grid x grid`, values in 0..1) and
/// channel weights `Mc` per scale, and the fusion's `S_c` / `S_u` per scale.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttentionMaps {
    pub grid: usize,
    pub heatmaps: Vec<Vec<f32>>,
    pub channel_weights: Vec<Vec<f32>>,
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
}

impl AttentionMaps {
    fn maps(&self) -> Vec<&[f32]> {
        self.heatmaps.iter().map(Vec::as_slice).collect()
    }

    /// The centre of the hottest cell of the mean heatmap, as fractions of the
    /// cover's width and height: "the model looked here".
    pub fn focus(&self) -> (f32, f32) {
        let cell = focus::hottest_mean_cell(&self.maps(), self.grid * self.grid);
        let [x, y] = focus::cell_centre(cell, self.grid);
        (x, y)
    }

    /// Where the model looked, only when the cover counted (see
    /// [`MIN_COVER_SHARE`]) and its map has a place that stands out (a flat
    /// map's hottest cell is only the first one, a corner).
    pub fn counted_focus(&self) -> Option<(f32, f32)> {
        counted_focus(
            focus::peak_cell(&self.maps()),
            self.grid,
            self.image_share(),
        )
        .map(|[x, y]| (x, y))
    }

    /// True when the hottest cell of the mean map is on the map's edge.
    pub fn peaks_on_border(&self) -> bool {
        let (x, y) = self.focus();
        let side = self.grid as f32;
        let (column, row) = ((x * side) as usize, (y * side) as usize);
        let last = self.grid.saturating_sub(1);
        column == 0 || row == 0 || column == last || row == last
    }

    /// `S_c / (S_c + S_u)` over the scales: how much the cover counted.
    pub fn image_share(&self) -> f32 {
        let mean = |values: &[f32]| values.iter().sum::<f32>() / values.len().max(1) as f32;
        image_share(mean(&self.image_weights), mean(&self.text_weights))
    }
}

impl TrainedRun {
    /// CBAM's maps and the fusion weights for one book of the library.
    pub fn attention(
        &self,
        library: &Library,
        book_id: BookId,
    ) -> Result<Option<AttentionMaps>, TrainError> {
        let Some(text) = library
            .book_texts()?
            .into_iter()
            .find(|t| t.book_id == book_id)
        else {
            return Ok(None);
        };
        let cover_hash = library
            .book_cover_hashes()?
            .into_iter()
            .find(|(id, _)| *id == book_id)
            .map(|(_, hash)| hash);
        let cache = self.feature_cache(library)?;
        let cover = self.book_cover(library, &cache, book_id, cover_hash.as_deref())?;
        Ok(Some(self.attention_for(&text, cover)))
    }

    /// A library book's trunk maps: from `cache` when there, else computed
    /// from its cover file; `None` for a book without a cover.
    pub fn book_cover(
        &self,
        library: &Library,
        cache: &FeatureCache,
        book_id: BookId,
        cover_hash: Option<&str>,
    ) -> Result<Option<[Tensor; 3]>, TrainError> {
        let Some(hash) = cover_hash else {
            return Ok(None);
        };
        if let Some(maps) = cache.load(hash)? {
            return Ok(Some(maps));
        }
        Ok(
            match library.book_detail(book_id)?.and_then(|d| d.cover_path) {
                Some(path) => Some(self.cover_maps(&path)?),
                None => None,
            },
        )
    }

    /// CBAM's maps and the fusion weights for a book's text and trunk maps.
    pub fn attention_for(&self, text: &BookText, cover: Option<[Tensor; 3]>) -> AttentionMaps {
        self.attention_of(self.example_of(text, cover))
    }

    /// [`TrainedRun::attention_for`] of several books in one pass of the
    /// heads, in their order: a list of suggestions asks for ten, and one
    /// pass each was most of a "more like this" answer's time.
    pub fn attention_for_many(&self, books: Vec<(&BookText, [Tensor; 3])>) -> Vec<AttentionMaps> {
        let examples = books
            .into_iter()
            .map(|(text, cover)| self.example_of(text, Some(cover)))
            .collect();
        self.attention_of_many(examples)
    }

    fn example_of(&self, text: &BookText, cover: Option<[Tensor; 3]>) -> Example {
        let (word_ids, bag) = self.words(&self.tokens(text));
        Example {
            book_id: Some(text.book_id),
            label: 0,
            word_ids,
            bag,
            cover: cover.map(CoverMaps::Loaded),
        }
    }

    /// [`TrainedRun::attention_for`] of an example already made.
    pub(crate) fn attention_of(&self, example: Example) -> AttentionMaps {
        self.attention_of_many(vec![example])
            .pop()
            .expect("one example, one answer")
    }

    /// [`TrainedRun::attention_of`] of several examples, in one pass.
    fn attention_of_many(&self, examples: Vec<Example>) -> Vec<AttentionMaps> {
        if examples.is_empty() {
            return Vec::new();
        }
        let rows: Vec<usize> = (0..examples.len()).collect();
        let dataset = self.dataset(examples);
        let batch = batch_tensors(&dataset, &rows, self.layout(), self.config.modalities, None);
        let output = self.predictor().forward(&batch);
        let flat = |t: &Tensor| {
            Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1).to_device(Device::Cpu))
                .unwrap_or_default()
        };
        rows.iter()
            .map(|&row| {
                let of_row = |t: &Tensor| flat(&t.get(row as i64));
                let scalar = |t: &Tensor| of_row(t).first().copied().unwrap_or(0.0);
                AttentionMaps {
                    grid: self.config.trunk.grid as usize,
                    heatmaps: output.heatmaps.iter().map(of_row).collect(),
                    channel_weights: output.channel_weights.iter().map(of_row).collect(),
                    image_weights: output.image_weights.iter().map(scalar).collect(),
                    text_weights: output.text_weights.iter().map(scalar).collect(),
                }
            })
            .collect()
    }
}
