//! The rows of the word bag table that a run's training texts reach, trained
//! apart from the table.
//!
//! The table has a row for each of 131,072 hashed words and word pairs, but
//! the training books of a library of 6,000 reach about 37,000 of them. Each
//! step's AdamW update and gradient were the whole table's: AdamW over the
//! table was about a sixth of a fused step on a 2-core machine, most of it
//! spent on rows no training text reaches. Those rows start at zero, their
//! gradient is zero, so their moments stay zero and AdamW (weight decay
//! included) leaves them at zero: training the reached rows alone, in a
//! table of their own with an optimizer of their own, gives the same table.
//! The rows are written back into the table before anything else reads it
//! (validation, checkpoints, weight averaging).
//!
//! A run started from another run's weights (fine-tuning) differs in one
//! way: the rows its own training texts do not reach keep the values the
//! other run learnt, where training the whole table decayed them.

use tch::Tensor;
use tch::nn;

use super::word_bag::{BagInput, WordBagPath};

/// The reached rows, their own variable store (for their optimizer), and
/// where each of the table's buckets sits among them.
#[derive(Debug)]
pub struct ReachedRows {
    store: nn::VarStore,
    /// `[reached, BAG_WIDTH]`, trainable.
    rows: Tensor,
    /// Each reached row's bucket in the table, `[reached]`, `int64`.
    buckets: Tensor,
    /// Each bucket's row among the reached ones, -1 where none: `[buckets]`
    /// of the path's bags (words, pairs and character n-grams), `int64`.
    slots: Tensor,
}

impl ReachedRows {
    /// The table's rows that `buckets` name (any order, repeats and buckets
    /// past the table's rows allowed), copied out of `path`'s table, which
    /// stops taking gradients until [`Self::finish`].
    pub fn new(path: &WordBagPath, buckets: impl IntoIterator<Item = i64>) -> Self {
        let table = &path.vectors;
        let words = table.size()[0];
        let mut reached: Vec<i64> = buckets
            .into_iter()
            .filter(|&bucket| (0..words).contains(&bucket))
            .collect();
        reached.sort_unstable();
        reached.dedup();
        let mut slots = vec![-1i64; path.idf.size()[0].max(words) as usize];
        for (slot, &bucket) in reached.iter().enumerate() {
            slots[bucket as usize] = slot as i64;
        }
        let device = table.device();
        let buckets = Tensor::from_slice(&reached).to_device(device);
        let store = nn::VarStore::new(device);
        let rows = tch::no_grad(|| {
            store
                .root()
                .var_copy("rows", &table.index_select(0, &buckets))
        });
        let _ = table.set_requires_grad(false);
        Self {
            store,
            rows,
            buckets,
            slots: Tensor::from_slice(&slots).to_device(device),
        }
    }

    /// The store of the reached rows, to build their optimizer on.
    pub fn store(&self) -> &nn::VarStore {
        &self.store
    }

    /// How many rows are trained.
    pub fn len(&self) -> i64 {
        self.buckets.size()[0]
    }

    /// Whether no training text reaches the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`WordBagPath::forward`] read from the reached rows: a bucket not
    /// among them (a character n-gram's, or a word no training text has)
    /// counts as the zero it is in the table.
    pub fn forward(&self, path: &WordBagPath, bags: &BagInput) -> Tensor {
        if bags.buckets.numel() == 0 {
            return path.forward(bags);
        }
        let slots = self.slots.index_select(0, &bags.buckets);
        let known = slots.ge(0);
        let reached = BagInput {
            buckets: slots.clamp_min(0).to_kind(bags.offsets.kind()),
            offsets: bags.offsets.shallow_clone(),
            weights: &bags.weights * known.to_kind(bags.weights.kind()),
        };
        path.project_sum(&self.rows, &reached)
    }

    /// Writes the rows back into `path`'s table.
    pub fn write_back(&self, path: &WordBagPath) {
        tch::no_grad(|| {
            let _ = path
                .vectors
                .shallow_clone()
                .index_copy_(0, &self.buckets, &self.rows);
        });
    }

    /// Writes the rows back and lets the table take gradients again.
    pub fn finish(self, path: &WordBagPath) {
        self.write_back(path);
        let _ = path.vectors.set_requires_grad(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::word_bag::BagShape;
    use tch::Device;
    use tch::Kind;
    use tch::nn::OptimizerConfig as _;

    const SHAPE: BagShape = BagShape {
        words: 12,
        characters: 6,
    };

    /// A path whose projection starts from the same weights at every call:
    /// drawn from a generator of the test's own, since tests on other
    /// threads draw from libtorch's global one between a seed and a build.
    fn path(store: &nn::VarStore, start: Option<&Tensor>) -> WordBagPath {
        use rand::{Rng as _, SeedableRng as _};
        let path = WordBagPath::new(&store.root(), SHAPE, 3, 2);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut projection: Vec<_> = store
            .variables()
            .into_iter()
            .filter(|(name, _)| name.starts_with("project"))
            .collect();
        projection.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(projection.len(), 2, "the projection's weight and bias");
        tch::no_grad(|| {
            for (_, mut variable) in projection {
                let values: Vec<f32> = (0..variable.numel())
                    .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
                    .collect();
                variable.copy_(&Tensor::from_slice(&values).view(variable.size().as_slice()));
            }
            if let Some(start) = start {
                path.vectors.shallow_clone().copy_(start);
            }
        });
        path
    }

    /// Bags over words 1, 4, 5, 9 and two character n-grams (12, 15).
    fn bags() -> Vec<BagInput> {
        let batches: [&[&[(u32, f32)]]; 3] = [
            &[&[(1, 0.5), (4, 1.0), (12, 0.3)], &[(5, 2.0)]],
            &[&[(9, 1.0), (15, 0.7)], &[], &[(1, 1.0), (9, 0.25)]],
            &[&[(4, 0.5), (5, 0.5)], &[(9, 1.5)]],
        ];
        batches
            .iter()
            .map(|rows| BagInput::from_rows(rows.iter().copied(), Device::Cpu))
            .collect()
    }

    fn objective(output: &Tensor) -> Tensor {
        (output * output).sum(Kind::Float) + output.sum(Kind::Float)
    }

    /// `steps` AdamW steps (with weight decay) over the bags, on the whole
    /// table or on its reached rows; returns the table.
    fn train(start: Option<&Tensor>, reached_only: bool, steps: usize) -> Tensor {
        let store = nn::VarStore::new(Device::Cpu);
        let path = path(&store, start);
        let adamw = nn::AdamW {
            wd: 0.1,
            ..Default::default()
        };
        let mut optimizer = adamw.build(&store, 0.05).unwrap();
        let bags = bags();
        let buckets = bags
            .iter()
            .flat_map(|b| Vec::<i64>::try_from(&b.buckets).unwrap());
        let reached = reached_only.then(|| ReachedRows::new(&path, buckets));
        let mut rows_optimizer = reached
            .as_ref()
            .map(|r| adamw.build(r.store(), 0.05).unwrap());
        for step in 0..steps {
            let batch = &bags[step % bags.len()];
            let output = match &reached {
                Some(reached) => reached.forward(&path, batch),
                None => path.forward(batch),
            };
            optimizer.zero_grad();
            if let Some(rows) = rows_optimizer.as_mut() {
                rows.zero_grad();
            }
            objective(&output).backward();
            optimizer.step();
            if let Some(rows) = rows_optimizer.as_mut() {
                rows.step();
            }
        }
        if let Some(reached) = reached {
            assert_eq!(reached.len(), 4, "words 1, 4, 5 and 9");
            reached.finish(&path);
        }
        path.vectors.detach().copy()
    }

    #[test]
    fn training_the_reached_rows_trains_the_table_as_a_whole() {
        let whole = train(None, false, 9);
        let reached = train(None, true, 9);
        assert!(whole.abs().sum(Kind::Float).double_value(&[]) > 0.1);
        assert!(
            reached.allclose(&whole, 1e-6, 1e-7, false),
            "{}",
            (&reached - &whole).abs().max()
        );
        let untouched = Tensor::from_slice(&[0i64, 2, 3, 6, 7, 8, 10, 11]);
        assert_eq!(
            whole
                .index_select(0, &untouched)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
    }

    /// From another run's weights, the rows no training text reaches keep
    /// them; the reached ones train as in the whole table.
    #[test]
    fn a_started_table_keeps_the_rows_its_texts_do_not_reach() {
        let start = Tensor::randn([SHAPE.words, 64], (Kind::Float, Device::Cpu));
        let whole = train(Some(&start), false, 6);
        let reached = train(Some(&start), true, 6);
        let untouched = Tensor::from_slice(&[0i64, 2, 11]);
        assert!(
            reached
                .index_select(0, &untouched)
                .equal(&start.index_select(0, &untouched))
        );
        let trained = Tensor::from_slice(&[1i64, 4, 5, 9]);
        assert!(reached.index_select(0, &trained).allclose(
            &whole.index_select(0, &trained),
            1e-6,
            1e-7,
            false
        ));
    }

    /// Texts without words reach no row; the table trains again after.
    #[test]
    fn no_words_reach_no_rows_and_the_table_trains_again_after() {
        let store = nn::VarStore::new(Device::Cpu);
        let path = path(&store, None);
        let reached = ReachedRows::new(&path, [SHAPE.words, SHAPE.words + 3]);
        assert!(reached.is_empty());
        assert!(!path.vectors.requires_grad());
        reached.finish(&path);
        assert!(path.vectors.requires_grad());
    }

    #[test]
    fn the_rows_read_bags_as_the_table_does() {
        let store = nn::VarStore::new(Device::Cpu);
        let start = Tensor::randn([SHAPE.words, 64], (Kind::Float, Device::Cpu));
        let path = path(&store, Some(&start));
        let bags = bags();
        let reached = ReachedRows::new(&path, [9, 1, 4, 5, 1, 40, -3]);
        for batch in &bags {
            assert!(reached.forward(&path, batch).allclose(
                &path.forward(batch),
                1e-5,
                1e-6,
                false
            ));
        }
        let empty: [&[(u32, f32)]; 2] = [&[], &[]];
        let empty = BagInput::from_rows(empty, Device::Cpu);
        assert_eq!(reached.forward(&path, &empty).size(), [2, 3]);
    }
}
