//! How the classifiers fitted after training (on the words, on the covers)
//! join the network: the network's softmax plus the word classifier's times
//! its weight, that sum times the cover classifier's softmax raised to its
//! own weight (a product of experts, tempered: 0 leaves the sum alone). Both
//! weights are chosen together by macro-F1 on the run's validation books.
//!
//! Why a product for the covers: the sum's scale changes with the words'
//! weight (up to 1,000), so a cover weight right beside one is lost beside
//! another; a power of the cover's softmax is as strong whatever the sum's
//! scale. On openlibrary_covers5's training books (5 folds, a linear model
//! on the words beside one on the covers) the product gave 0.8025 macro-F1
//! at its best weight, the sum 0.7987, the words alone 0.788.

use tch::Tensor;

use super::word_classifier::macro_f1;

/// Weights of the word classifier's softmax tried; the last one lets the
/// classifier decide alone.
pub(super) const WORD_MIXES: [f64; 6] = [0.0, 0.5, 1.0, 2.0, 4.0, 1000.0];
/// Powers of the cover classifier's softmax tried. Alone, a random trunk's
/// covers are far weaker than the words (0.42 macro-F1 on openlibrary_covers5
/// against 0.79): no weight above 1.
pub(super) const COVER_MIXES: [f64; 7] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0];

/// What [`choose_mixes`] chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mixes {
    pub words: f64,
    pub covers: f64,
    /// Validation macro-F1 of the network alone and with the chosen mixes.
    pub network_macro_f1: f64,
    pub macro_f1: f64,
}

/// The pair of weights with the best macro-F1 of `(network + words * w) *
/// covers ^ c` against `actual` (all `[validation, categories]`; a missing
/// classifier is left out; `covers` is uniform on a book without a cover).
/// Ties go to the smaller weights, the words' first: the network alone
/// unless a classifier helps.
pub(crate) fn choose_mixes(
    network: &Tensor,
    (words, covers): (Option<&Tensor>, Option<&Tensor>),
    actual: &[usize],
    categories: usize,
) -> Mixes {
    let network_macro_f1 = macro_f1(network, actual, categories);
    let mut best = Mixes {
        words: 0.0,
        covers: 0.0,
        network_macro_f1,
        macro_f1: network_macro_f1,
    };
    let tried = |probabilities: Option<&Tensor>, weights: &'static [f64]| match probabilities {
        Some(_) => weights,
        None => &weights[..1],
    };
    for &word_mix in tried(words, &WORD_MIXES) {
        for &cover_mix in tried(covers, &COVER_MIXES) {
            // New tensors, never in place: `network` is the caller's.
            let summed = match words.filter(|_| word_mix > 0.0) {
                Some(words) => network + words * word_mix,
                None => network.shallow_clone(),
            };
            let mixed = match covers.filter(|_| cover_mix > 0.0) {
                Some(covers) => summed * covers.pow_tensor_scalar(cover_mix),
                None => summed,
            };
            let f1 = macro_f1(&mixed, actual, categories);
            if f1 > best.macro_f1 {
                (best.words, best.covers, best.macro_f1) = (word_mix, cover_mix, f1);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[[f32; 2]]) -> Tensor {
        Tensor::from_slice(&values.concat()).view([-1, 2])
    }

    /// Four books of categories 0, 0, 1, 1: the network gets the first
    /// three right, the words the last two, the covers none.
    #[test]
    fn the_weights_that_help_are_chosen_and_the_ones_that_do_not_stay_at_zero() {
        let actual = [0, 0, 1, 1];
        let network = rows(&[[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.55, 0.45]]);
        let words = rows(&[[0.5, 0.5], [0.5, 0.5], [0.4, 0.6], [0.2, 0.8]]);
        let covers = rows(&[[0.01, 0.99], [0.01, 0.99], [0.99, 0.01], [0.99, 0.01]]);
        let mixes = choose_mixes(&network, (Some(&words), Some(&covers)), &actual, 2);
        assert!(mixes.network_macro_f1 < 1.0);
        assert_eq!(mixes.macro_f1, 1.0, "{mixes:?}");
        assert_eq!((mixes.words, mixes.covers), (0.5, 0.0), "{mixes:?}");

        let alone = choose_mixes(&network, (None, Some(&covers)), &actual, 2);
        assert_eq!((alone.words, alone.covers), (0.0, 0.0), "{alone:?}");
        assert_eq!(alone.macro_f1, alone.network_macro_f1);
    }
}
