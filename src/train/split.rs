//! Which books a run trains on and which it holds out, and the P x K batches
//! of each epoch: seeded, so that a seed gives the same split and batches.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

/// Splits example indices by category: `share` of each category (at least one
/// book when it has two or more) goes to validation. Seeded.
pub fn stratified_split(labels: &[usize], share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, &label) in labels.iter().enumerate() {
        by_label.entry(label).or_default().push(index);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for members in by_label.values_mut() {
        shuffle(members, &mut rng);
        let held = held_out_of(members.len(), share);
        validation.extend_from_slice(&members[..held]);
        train.extend_from_slice(&members[held..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// How many of a category's `size` books [`stratified_split`] holds out:
/// `share` of them, at least one when it has two or more (the same for every
/// seed).
pub fn held_out_of(size: usize, share: f64) -> usize {
    if size < 2 {
        0
    } else {
        ((size as f64 * share).round() as usize).clamp(1, size - 1)
    }
}

/// The fold (of `folds`) of each of `labels`' items, stratified: each
/// category's items, shuffled by `seed`, are dealt to the folds in turn, so
/// every fold holds about its share of each category (scikit-learn's
/// `StratifiedKFold` with `shuffle`).
pub(crate) fn stratified_folds(labels: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, &label) in labels.iter().enumerate() {
        by_label.entry(label).or_default().push(index);
    }
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xF01D);
    let mut fold_of = vec![0; labels.len()];
    let mut next = 0;
    for members in by_label.values_mut() {
        shuffle(members, &mut rng);
        for &index in members.iter() {
            fold_of[index] = next % folds.max(1);
            next += 1;
        }
    }
    fold_of
}

pub(crate) fn shuffle<T>(items: &mut [T], rng: &mut SmallRng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// One epoch of P x K batches over `train` (indices with `labels`): each batch
/// takes P categories at random and K books of each, with repeats when a
/// category has fewer. Steps per epoch: enough to see every training book once
/// on average.
pub fn pk_batches(
    train: &[usize],
    labels: &[usize],
    p: usize,
    k: usize,
    rng: &mut SmallRng,
) -> Vec<Vec<usize>> {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in train {
        by_label.entry(labels[index]).or_default().push(index);
    }
    let classes: Vec<usize> = by_label.keys().copied().collect();
    let per_batch = p.min(classes.len()).max(1) * k.max(1);
    let steps = train.len().div_ceil(per_batch).max(1);
    (0..steps)
        .map(|_| {
            let mut chosen = classes.clone();
            shuffle(&mut chosen, rng);
            chosen.truncate(p.max(1));
            let mut batch = Vec::with_capacity(per_batch);
            for class in chosen {
                let mut members = by_label[&class].clone();
                shuffle(&mut members, rng);
                for i in 0..k.max(1) {
                    batch.push(members[i % members.len()]);
                }
            }
            batch
        })
        .collect()
}

/// The generator of one epoch's batches, seeded by the run's seed and the
/// epoch, so that a resumed run sees the batches the uninterrupted one would have.
pub(crate) fn epoch_rng(seed: u64, epoch: usize) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ 0x5EED ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stratified_and_seeded() {
        let labels: Vec<usize> = (0..50).map(|i| i % 5).collect();
        let (train, validation) = stratified_split(&labels, 0.2, 7);
        assert_eq!((train.len(), validation.len()), (40, 10));
        for class in 0..5 {
            assert_eq!(
                validation.iter().filter(|&&i| labels[i] == class).count(),
                2
            );
        }
        assert_eq!(
            stratified_split(&labels, 0.2, 7),
            (train.clone(), validation.clone())
        );
        assert_ne!(stratified_split(&labels, 0.2, 8).1, validation);
        // A category of one book stays in training.
        let (train, validation) = stratified_split(&[0, 0, 0, 1], 0.5, 1);
        assert!(train.contains(&3) && !validation.contains(&3));
        // What the window says before a sweep is what the split holds out.
        let sizes = [1, 2, 7, 33];
        let labels: Vec<usize> = sizes
            .iter()
            .enumerate()
            .flat_map(|(category, &size)| std::iter::repeat_n(category, size))
            .collect();
        let held: usize = sizes.iter().map(|&size| held_out_of(size, 0.2)).sum();
        assert_eq!(stratified_split(&labels, 0.2, 3).1.len(), held);
        assert_eq!(held, 1 + 1 + 7, "at least one of two; 1.4 and 6.6 rounded");
    }

    #[test]
    fn folds_share_each_category_and_follow_the_seed() {
        let labels: Vec<usize> = (0..53).map(|i| i % 3).collect();
        let folds = stratified_folds(&labels, 5, 4);
        for fold in 0..5 {
            for class in 0..3 {
                let held = (0..53)
                    .filter(|&i| folds[i] == fold && labels[i] == class)
                    .count();
                assert!((3..=4).contains(&held), "fold {fold} class {class}: {held}");
            }
        }
        assert_eq!(stratified_folds(&labels, 5, 4), folds);
        assert_ne!(stratified_folds(&labels, 5, 5), folds);
    }

    #[test]
    fn batches_hold_p_categories_of_k_books() {
        let labels: Vec<usize> = (0..60).map(|i| i % 6).collect();
        let train: Vec<usize> = (0..60).collect();
        let mut rng = SmallRng::seed_from_u64(1);
        let batches = pk_batches(&train, &labels, 3, 4, &mut rng);
        assert_eq!(batches.len(), 5);
        for batch in &batches {
            assert_eq!(batch.len(), 12);
            let mut classes: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
            classes.dedup();
            assert_eq!(classes.len(), 3, "{batch:?}");
        }
    }

    #[test]
    fn an_epochs_batches_depend_on_the_seed_and_the_epoch_only() {
        let labels: Vec<usize> = (0..40).map(|i| i % 4).collect();
        let train: Vec<usize> = (0..40).collect();
        let batches = |seed, epoch| pk_batches(&train, &labels, 2, 3, &mut epoch_rng(seed, epoch));
        assert_eq!(batches(1, 3), batches(1, 3));
        assert_ne!(batches(1, 3), batches(1, 4));
        assert_ne!(batches(1, 3), batches(2, 3));
    }
}
