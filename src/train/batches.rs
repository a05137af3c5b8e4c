//! Examples turned into the tensors of one batch for the heads: the cached
//! trunk maps (zeros where a cover is missing or hidden), padded word ids,
//! lengths, which modalities each row has, and the labels.

use rand::Rng as _;
use rand::rngs::SmallRng;
use tch::{Device, Kind, Tensor};

use super::covers::CoverMaps;
use super::data::{Dataset, Example};
use crate::model::word_bag::BagInput;
use crate::model::{Covers, TextInput};
use crate::store::Modalities;

/// The shape of the trunk's cached maps and where the heads run: what every
/// batch of a run is built for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub channels: [i64; 3],
    /// Each cached map's side (see [`crate::embed::TrunkSettings::cached_sides`]).
    pub sides: [i64; 3],
    pub device: Device,
}

/// Training-time hiding: the share of books losing one modality, and the
/// share of words replaced by the unknown word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dropouts {
    pub modality: f64,
    pub word: f64,
}

/// The tensors of one batch for the heads.
pub(crate) struct BatchTensors {
    pub scales: [Tensor; 3],
    pub ids: Tensor,
    pub lengths: Tensor,
    pub image_present: Tensor,
    /// Whether any row shows its cover (`image_present` not all 0).
    pub any_cover: bool,
    pub text_present: Tensor,
    /// Each row's word bag (empty where the text is not shown).
    pub bags: BagInput,
    pub labels: Tensor,
}

fn chance(rng: &mut SmallRng) -> f64 {
    rng.next_u32() as f64 / u32::MAX as f64
}

/// Whether a row shows its cover and its text: what it has, what the run
/// reads, and (in training) a modality hidden at random.
fn shown(
    example: &Example,
    modalities: Modalities,
    dropout: &mut Option<(Dropouts, &mut SmallRng)>,
) -> (bool, bool) {
    let mut has_image = example.cover.is_some() && modalities != Modalities::Text;
    let mut has_text = !example.word_ids.is_empty() && modalities != Modalities::Image;
    if let Some((shares, rng)) = dropout.as_mut()
        && has_image
        && has_text
        && chance(rng) < shares.modality
    {
        if rng.next_u32() % 2 == 0 {
            has_image = false;
        } else {
            has_text = false;
        }
    }
    (has_image, has_text)
}

/// A row's word ids, some replaced by the unknown word in training.
fn row_words(
    words: &[i64],
    unknown: i64,
    dropout: &mut Option<(Dropouts, &mut SmallRng)>,
    ids: &mut Vec<i64>,
) {
    match dropout.as_mut() {
        Some((shares, rng)) if shares.word > 0.0 => ids.extend(words.iter().map(|&id| {
            if chance(rng) < shares.word {
                unknown
            } else {
                id
            }
        })),
        _ => ids.extend_from_slice(words),
    }
}

/// Each scale's maps of a batch's rows, `[rows, channels, side, side]`:
/// zeros where a row shows no cover. When no row shows one, a broadcast view
/// of one row of zeros (the heads skip the maps then, see
/// [`BatchTensors::covers`]), not a batch of them: 83 MB a batch of 64 at
/// the CPU defaults, made and zeroed for nothing.
fn batch_maps(row_covers: &[Option<[Tensor; 3]>], layout: Layout) -> [Tensor; 3] {
    let zeros = |scale: usize| {
        let side = layout.sides[scale];
        Tensor::zeros(
            [layout.channels[scale], side, side],
            (Kind::Float, Device::Cpu),
        )
    };
    let none_shown = row_covers.iter().all(Option::is_none);
    std::array::from_fn(|scale| {
        if none_shown {
            let side = layout.sides[scale];
            return zeros(scale).unsqueeze(0).expand(
                [row_covers.len() as i64, layout.channels[scale], side, side],
                false,
            );
        }
        let rows: Vec<Tensor> = row_covers
            .iter()
            .map(|cover| match cover {
                Some(cover) => cover[scale].shallow_clone(),
                None => zeros(scale),
            })
            .collect();
        Tensor::stack(&rows, 0)
    })
}

impl BatchTensors {
    /// The batch's covers as the heads read them: none shown when no row
    /// shows its cover, so that the heads skip the work on maps that cannot
    /// count (text-only runs, typed descriptions, the alignment term's text
    /// pass).
    pub fn covers(&self) -> Covers<'_> {
        if self.any_cover {
            Covers::Maps(&self.scales)
        } else {
            Covers::NoneShown {
                side: self.scales[0].size()[2],
            }
        }
    }

    /// The batch's text as the heads read it.
    pub fn text(&self) -> TextInput<'_> {
        TextInput {
            ids: &self.ids,
            lengths: &self.lengths,
            bags: Some(&self.bags),
        }
    }
}

pub(crate) fn batch_tensors(
    dataset: &Dataset,
    batch: &[usize],
    layout: Layout,
    modalities: Modalities,
    mut dropout: Option<(Dropouts, &mut SmallRng)>,
) -> BatchTensors {
    let longest = if modalities == Modalities::Image {
        1
    } else {
        batch
            .iter()
            .map(|&i| dataset.examples[i].word_ids.len())
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let mut ids = Vec::with_capacity(batch.len() * longest);
    let (mut lengths, mut image_present, mut text_present, mut labels) =
        (vec![], vec![], vec![], vec![]);
    let mut row_covers: Vec<Option<[Tensor; 3]>> = Vec::with_capacity(batch.len());
    let mut bags: Vec<&[(u32, f32)]> = Vec::with_capacity(batch.len());
    for &index in batch {
        let example = &dataset.examples[index];
        let (has_image, has_text) = shown(example, modalities, &mut dropout);
        // A cached cover that cannot be read leaves the row without it (the
        // run reports the failure at its next check).
        let cover = example
            .cover
            .as_ref()
            .filter(|_| has_image)
            .and_then(CoverMaps::maps);
        let has_image = cover.is_some();
        row_covers.push(cover);
        let words = if has_text {
            &example.word_ids[..]
        } else {
            &[][..]
        };
        row_words(words, dataset.padding_id - 1, &mut dropout, &mut ids);
        bags.push(if has_text { &example.bag } else { &[] });
        ids.extend(std::iter::repeat_n(
            dataset.padding_id,
            longest - words.len(),
        ));
        lengths.push(words.len().max(1) as i64);
        image_present.push(if has_image { 1f32 } else { 0.0 });
        text_present.push(if has_text { 1f32 } else { 0.0 });
        labels.push(example.label as i64);
    }
    let device = layout.device;
    BatchTensors {
        scales: batch_maps(&row_covers, layout).map(|scale| scale.to_device(device)),
        ids: Tensor::from_slice(&ids)
            .reshape([batch.len() as i64, longest as i64])
            .to_device(device),
        lengths: Tensor::from_slice(&lengths).to_device(device),
        any_cover: image_present.iter().any(|&shown| shown > 0.0),
        image_present: Tensor::from_slice(&image_present).to_device(device),
        text_present: Tensor::from_slice(&text_present).to_device(device),
        bags: BagInput::from_rows(bags, device),
        labels: Tensor::from_slice(&labels).to_device(device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(words: &[i64], cover: bool) -> Example {
        Example {
            book_id: None,
            label: 1,
            word_ids: words.to_vec(),
            bag: vec![(7, 0.5)].into(),
            cover: cover.then(|| {
                CoverMaps::Loaded(
                    [4, 8, 16].map(|c| Tensor::ones([c, 2, 2], (Kind::Float, Device::Cpu))),
                )
            }),
        }
    }

    #[test]
    fn rows_are_padded_and_a_missing_or_unread_modality_is_absent() {
        let dataset = Dataset {
            examples: vec![example(&[1, 2, 3], true), example(&[4], false)],
            categories: vec!["a".into(), "b".into()],
            padding_id: 9,
            word_bag: None,
        };
        let layout = Layout {
            channels: [4, 8, 16],
            sides: [2; 3],
            device: Device::Cpu,
        };
        let batch = batch_tensors(&dataset, &[0, 1], layout, Modalities::Fused, None);
        assert_eq!(batch.ids.size(), [2, 3]);
        assert_eq!(
            Vec::<i64>::try_from(batch.ids.flatten(0, -1)).unwrap(),
            [1, 2, 3, 4, 9, 9]
        );
        assert_eq!(
            Vec::<f32>::try_from(&batch.image_present).unwrap(),
            [1.0, 0.0]
        );
        assert_eq!(batch.scales[2].size(), [2, 16, 2, 2]);
        assert_eq!(Vec::<i64>::try_from(&batch.bags.buckets).unwrap(), [7, 7]);
        assert_eq!(Vec::<i64>::try_from(&batch.bags.offsets).unwrap(), [0, 1]);
        // Without its text shown, a row's bag is empty too.
        let image_only = batch_tensors(&dataset, &[0, 1], layout, Modalities::Image, None);
        assert_eq!(image_only.bags.buckets.size(), [0]);
        assert_eq!(
            Vec::<i64>::try_from(&image_only.bags.offsets).unwrap(),
            [0, 0]
        );
        let text_only = batch_tensors(&dataset, &[0, 1], layout, Modalities::Text, None);
        assert_eq!(
            Vec::<f32>::try_from(&text_only.image_present).unwrap(),
            [0.0, 0.0]
        );
        // No row shows a cover: the heads are told so, and the maps are
        // zeros of the batch's shape.
        assert!(matches!(text_only.covers(), Covers::NoneShown { side: 2 }));
        assert_eq!(text_only.scales[1].size(), [2, 8, 2, 2]);
        assert_eq!(
            text_only.scales[0].abs().sum(Kind::Float).double_value(&[]),
            0.0
        );
        assert!(matches!(batch.covers(), Covers::Maps(_)));
        // The row without a cover has zeros, the row with one its maps.
        assert_eq!(
            batch.scales[0].get(0).sum(Kind::Float).double_value(&[]),
            16.0
        );
        assert_eq!(
            batch.scales[0]
                .get(1)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
    }
}
