//! Multinomial logistic regression fitted full-batch, for a grid of L2
//! strengths and class weightings at once: the fit both classifiers beside
//! the network use (`word_classifier`, `cover_classifier`) and the
//! doubtful-label check (`doubtful`).
//!
//! The gradient is written out rather than taken by autograd: for the word
//! bags, autograd's backward of `embedding_bag` sorted every bucket index
//! and added each one's row on its own at every step, most of a fit's time
//! (perf on an openlibrary_covers5 run). Here it is two products with the
//! bags as a sparse matrix and its transpose (`SparseRows`), and the Adam
//! update is libtorch's own, step for step.

use tch::{Device, Kind, Tensor};

use super::TrainError;
use crate::jobs::{Cancel, is_cancelled};
use crate::model::word_bag::{BagEntry, BagInput, bag_sum};

/// Full-batch Adam steps of one fit (the objective is convex).
const STEPS: usize = 300;
/// Adam's first learning rate, lowered along a cosine to 0.
const RATE: f64 = 0.1;
/// libtorch's Adam defaults, as `tch::nn::Adam::default()` has them.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// A fitted classifier: weights `[features, categories]` and bias.
pub(crate) struct Fitted {
    pub weights: Tensor,
    pub bias: Tensor,
}

impl Fitted {
    /// The same weights, shared (they are never written in place).
    pub(super) fn shallow_clone(&self) -> Self {
        Self {
            weights: self.weights.shallow_clone(),
            bias: self.bias.shallow_clone(),
        }
    }
}

/// One point of the grid: scikit-learn's `C`, and whether books are
/// weighted inversely to their category's size.
pub(super) type Setting = (f64, bool);

/// Rows of `(column, value)` pairs (word bags) as a sparse matrix, with its
/// transpose kept beside it for the gradient: both products are then sums
/// of bags (`embedding_bag`'s forward), one of the weights' rows for each
/// row, one of the rows' gradients for each column. Both ways took 32 ms
/// against 100 ms for libtorch's sparse CSR products (PyTorch, one core,
/// 4,760 random bags of 500 entries over 100,000 columns, 50 columns of
/// weights), and CSR tensors print a warning that they are in beta.
pub(super) struct SparseRows {
    rows: BagInput,
    columns: BagInput,
}

impl SparseRows {
    /// `rows` over `columns` columns (every column index below it). The
    /// transpose is laid out in place (a counting sort by column), each of
    /// its tensors on its own pass over the rows, so that it costs its
    /// entries' memory and no more; indices are `int32` while they fit (see
    /// [`BagInput::from_rows`]).
    pub(super) fn new<R, E>(
        rows: impl IntoIterator<Item = R> + Clone,
        columns: i64,
        device: Device,
    ) -> Self
    where
        R: IntoIterator<Item = E>,
        E: BagEntry,
    {
        let columns = columns as usize;
        // Where each column's entries start in the transpose, then one past.
        let mut starts = vec![0i64; columns + 1];
        let mut row_count = 0usize;
        for entries in rows.clone() {
            row_count += 1;
            for entry in entries {
                starts[entry.bucket() as usize + 1] += 1;
            }
        }
        for column in 1..=columns {
            starts[column] += starts[column - 1];
        }
        let total = starts[columns] as usize;
        let narrow = total.max(row_count) <= i32::MAX as usize;
        // One pass of the counting sort: `place(at, row, entry)` for every
        // entry, `at` its place in the transpose.
        let sorted = |place: &mut dyn FnMut(usize, usize, E)| {
            let mut next: Vec<i64> = starts[..columns].to_vec();
            for (row, entries) in rows.clone().into_iter().enumerate() {
                for entry in entries {
                    let column = entry.bucket() as usize;
                    place(next[column] as usize, row, entry);
                    next[column] += 1;
                }
            }
        };
        let row_of = if narrow {
            let mut row_of = vec![0i32; total];
            sorted(&mut |at, row, _| row_of[at] = row as i32);
            Tensor::from_slice(&row_of).to_device(device)
        } else {
            let mut row_of = vec![0i64; total];
            sorted(&mut |at, row, _| row_of[at] = row as i64);
            Tensor::from_slice(&row_of).to_device(device)
        };
        let mut value_of = vec![0f32; total];
        sorted(&mut |at, _, entry| value_of[at] = entry.weight());
        let value_of = Tensor::from_slice(&value_of).to_device(device);
        let offsets = Tensor::from_slice(&starts[..columns]).to_device(device);
        let columns = BagInput {
            buckets: row_of,
            offsets: if narrow {
                offsets.to_kind(Kind::Int)
            } else {
                offsets
            },
            weights: value_of,
        };
        drop(starts);
        Self {
            rows: BagInput::from_rows(rows, device),
            columns,
        }
    }
}

/// What a linear classifier reads, row by row: word bags (sparse) or dense
/// features `[rows, width]` (the cover classifier's).
#[derive(Clone, Copy)]
pub(super) enum Inputs<'a> {
    Bags(&'a SparseRows),
    Dense(&'a Tensor),
}

impl Inputs<'_> {
    /// The rows times `weights` (`[width, columns]`): `[rows, columns]`.
    fn times(self, weights: &Tensor) -> Tensor {
        match self {
            Inputs::Bags(bags) => bag_sum(weights, &bags.rows),
            Inputs::Dense(features) => features.matmul(weights),
        }
    }

    /// The transposed rows times `per_row` (`[rows, columns]`): `[width,
    /// columns]`, the weights' gradient.
    fn transposed_times(self, per_row: &Tensor) -> Tensor {
        match self {
            Inputs::Bags(bags) => bag_sum(per_row, &bags.columns),
            Inputs::Dense(features) => features.tr().matmul(per_row),
        }
    }
}

/// Adam's running moments of one tensor.
struct Moments {
    mean: Tensor,
    square: Tensor,
}

impl Moments {
    fn like(tensor: &Tensor) -> Self {
        Self {
            mean: tensor.zeros_like(),
            square: tensor.zeros_like(),
        }
    }

    /// One step of libtorch's Adam (`torch::optim::Adam`, no weight decay),
    /// `step` counted from 1 with its rate, taking `gradient` (it may be
    /// changed in place) to which the L2 penalty's `parameter x
    /// penalty_slopes` (one slope a column) is added first. On the CPU the
    /// step is one pass over the tables ([`one_pass_step`]); libtorch's
    /// operations, elsewhere, took ten (the moments' updates, the square
    /// root, the divisions), each reading and writing tables of the
    /// parameter's size: 44% of the fits' time on openlibrary_covers5, in
    /// `perf`.
    fn step(
        &mut self,
        parameter: &mut Tensor,
        mut gradient: Tensor,
        (step, rate): (i32, f64),
        penalty_slopes: Option<&Tensor>,
    ) {
        let first = 1.0 - BETA1.powi(step);
        let second = 1.0 - BETA2.powi(step);
        // Read on the CPU alone: elsewhere the copy would wait on the device
        // at every step, for a pass that is not taken there.
        let slopes = penalty_slopes
            .filter(|_| parameter.device() == Device::Cpu)
            .map(|slopes| Vec::<f32>::try_from(slopes).unwrap_or_default());
        if one_pass_step(
            [parameter, &mut self.mean, &mut self.square, &mut gradient],
            slopes.as_deref(),
            (first, second, rate),
        ) {
            return;
        }
        if let Some(slopes) = penalty_slopes {
            let _ = gradient.addcmul_(parameter, slopes);
        }
        self.tensor_step(parameter, gradient, (first, second, rate));
    }

    /// [`Self::step`] by libtorch's operations, on any device. The moments
    /// and the parameter are updated in place, and the step makes one table
    /// of the parameter's size beside them: with word bags of character
    /// n-grams at 100,000 books, one table of ten settings came to hundreds
    /// of MB, and the copies of the plain formula took the fit past 8 GB.
    fn tensor_step(
        &mut self,
        parameter: &mut Tensor,
        mut gradient: Tensor,
        (first, second, rate): (f64, f64, f64),
    ) {
        // mean x beta1 + gradient x (1 - beta1).
        let _ = self.mean.lerp_(&gradient, 1.0 - BETA1);
        // square x beta2 + gradient^2 x (1 - beta2).
        let _ = gradient.g_mul_scalar_((1.0 - BETA2).sqrt());
        let _ = self
            .square
            .g_mul_scalar_(BETA2)
            .addcmul_(&gradient, &gradient);
        drop(gradient);
        // parameter - rate / first x mean / (sqrt(square / second) + epsilon).
        let mut denominator = self.square.sqrt();
        let _ = denominator
            .g_div_scalar_(second.sqrt())
            .g_add_scalar_(EPSILON)
            .g_div_scalar_(-rate / first);
        let _ = parameter.addcdiv_(&self.mean, &denominator);
    }
}

/// [`Moments::step`] in one pass over `[parameter, mean, square, gradient]`
/// when all four are contiguous float tables of one size in the CPU's
/// memory (else `false`, and nothing is changed): the arithmetic of
/// [`Moments::tensor_step`] element by element in `f32`, to float rounding
/// (its divisions by scalars are products here).
#[allow(unsafe_code)]
fn one_pass_step(
    tables: [&mut Tensor; 4],
    penalty_slopes: Option<&[f32]>,
    (first, second, rate): (f64, f64, f64),
) -> bool {
    let size = tables[0].numel();
    let fits = tables.iter().all(|t| {
        t.device() == Device::Cpu
            && t.kind() == Kind::Float
            && t.is_contiguous()
            && t.numel() == size
    });
    let columns = penalty_slopes.map_or(1, <[f32]>::len);
    if !fits || columns == 0 || !size.is_multiple_of(columns) {
        return false;
    }
    let [parameter, mean, square, gradient] = tables.map(|t| {
        // SAFETY: each tensor is a contiguous f32 table of `size` elements in
        // the CPU's memory (checked above), four tables of their own (the
        // parameter, its two moments, and the gradient just computed), held
        // through `&mut` for the length of these slices, so no other view
        // reads or writes them meanwhile.
        unsafe { std::slice::from_raw_parts_mut(t.data_ptr().cast::<f32>(), size) }
    });
    let (mean_rate, square_keep) = ((1.0 - BETA1) as f32, BETA2 as f32);
    let gradient_scale = (1.0 - BETA2).sqrt() as f32;
    // One division an element: `rate / first` multiplies the mean rather
    // than dividing the denominator, and the square root's scale is a
    // product.
    let (second_scale, epsilon, step_size) = (
        (1.0 / second.sqrt()) as f32,
        EPSILON as f32,
        (rate / first) as f32,
    );
    let update = |p: &mut f32, m: &mut f32, v: &mut f32, g: f32| {
        *m += mean_rate * (g - *m);
        let scaled = g * gradient_scale;
        *v = *v * square_keep + scaled * scaled;
        *p -= step_size * *m / (v.sqrt() * second_scale + epsilon);
    };
    // Row by row, each element with its column's slope.
    let rows = parameter
        .chunks_exact_mut(columns)
        .zip(mean.chunks_exact_mut(columns))
        .zip(square.chunks_exact_mut(columns))
        .zip(gradient.chunks_exact(columns));
    for (((p_row, m_row), v_row), g_row) in rows {
        for column in 0..columns {
            let p = &mut p_row[column];
            let g = match penalty_slopes {
                Some(slopes) => *p * slopes[column] + g_row[column],
                None => g_row[column],
            };
            update(p, &mut m_row[column], &mut v_row[column], g);
        }
    }
    true
}

/// The most bytes one table of a fit's weights may take (the settings are
/// fitted in groups that keep within it): a fit holds five such tables at a
/// time (the weights, Adam's two moments, the gradient and the step).
const TABLE_BYTES: i64 = 192 << 20;

/// Logistic regression on `inputs` against `labels` (`[rows]` int64), with
/// scikit-learn's objective divided by the number of rows, for every setting
/// at once: the settings' classifiers sit side by side in one table, so one
/// pass over the inputs serves them all. Adam works weight by weight, so
/// each fit is the one it would be alone.
///
/// Where one table of all the settings would pass [`TABLE_BYTES`], the
/// settings are fitted in groups, one after another: the products with the
/// inputs cost the same in all, and the memory stays bounded.
pub(super) fn fit_grid(
    inputs: Inputs<'_>,
    labels: &Tensor,
    (width, categories): (i64, i64),
    settings: &[Setting],
    stop: &Cancel,
) -> Result<Vec<Fitted>, TrainError> {
    fit_in_groups(
        inputs,
        labels,
        (width, categories),
        settings,
        (TABLE_BYTES, stop),
    )
}

/// [`fit_grid`] with tables of at most `table_bytes`.
fn fit_in_groups(
    inputs: Inputs<'_>,
    labels: &Tensor,
    (width, categories): (i64, i64),
    settings: &[Setting],
    (table_bytes, stop): (i64, &Cancel),
) -> Result<Vec<Fitted>, TrainError> {
    let per_setting = (width * categories * 4).max(1);
    let group = usize::try_from(table_bytes / per_setting)
        .unwrap_or(1)
        .clamp(1, settings.len().max(1));
    let mut fitted = Vec::with_capacity(settings.len());
    for group_settings in settings.chunks(group) {
        fitted.extend(fit_side_by_side(
            inputs,
            labels,
            (width, categories),
            group_settings,
            stop,
        )?);
    }
    Ok(fitted)
}

/// [`fit_grid`] of `settings` in one table.
fn fit_side_by_side(
    inputs: Inputs<'_>,
    labels: &Tensor,
    (width, categories): (i64, i64),
    settings: &[Setting],
    stop: &Cancel,
) -> Result<Vec<Fitted>, TrainError> {
    let device = labels.device();
    let grid = settings.len() as i64;
    let columns = grid * categories;
    let rows = labels.size()[0] as f64;
    let counts = labels
        .bincount(None::<Tensor>, categories)
        .to_kind(Kind::Float);
    let balanced_weights =
        (Tensor::from(rows) / (counts.clamp_min(1.0) * categories as f64)).to_kind(Kind::Float);
    let alike = Tensor::ones([categories], (Kind::Float, device));
    // [rows, grid, 1]: each book's weight under each setting, over the rows.
    let row_scale = (Tensor::stack(
        &settings
            .iter()
            .map(|&(_, balanced)| {
                if balanced { &balanced_weights } else { &alike }.index_select(0, labels)
            })
            .collect::<Vec<_>>(),
        1,
    ) / rows)
        .unsqueeze(2);
    // Each column's L2 term is `|w|^2 / (2 C rows)`, its gradient `w / (C rows)`.
    let penalty_slopes: Vec<f32> = settings
        .iter()
        .flat_map(|&(c, _)| std::iter::repeat_n((1.0 / (c * rows)) as f32, categories as usize))
        .collect();
    let penalty_slopes = Tensor::from_slice(&penalty_slopes).to_device(device);
    let targets = labels.one_hot(categories).to_kind(Kind::Float).unsqueeze(1);
    let mut weights = Tensor::zeros([width, columns], (Kind::Float, device));
    let mut bias = Tensor::zeros([columns], (Kind::Float, device));
    let (mut weight_moments, mut bias_moments) = (Moments::like(&weights), Moments::like(&bias));
    tch::no_grad(|| -> Result<(), TrainError> {
        for step in 0..STEPS {
            if step % 25 == 0 && is_cancelled(stop) {
                return Err(TrainError::Cancelled);
            }
            let progress = step as f64 / STEPS as f64;
            let rate = RATE * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            let logits = (inputs.times(&weights) + &bias).view([-1, grid, categories]);
            // The loss's gradient at the logits: (softmax - one-hot) x weight.
            let per_row =
                ((logits.softmax(2, Kind::Float) - &targets) * &row_scale).view([-1, columns]);
            let weight_gradient = inputs.transposed_times(&per_row);
            let bias_gradient = per_row.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
            drop((logits, per_row));
            let step = (step as i32 + 1, rate);
            weight_moments.step(&mut weights, weight_gradient, step, Some(&penalty_slopes));
            bias_moments.step(&mut bias, bias_gradient, step, None);
        }
        Ok(())
    })?;
    let (weights, bias) = (
        weights.view([width, grid, categories]),
        bias.view([grid, categories]),
    );
    Ok((0..grid)
        .map(|g| Fitted {
            weights: weights.select(1, g).contiguous(),
            bias: bias.get(g).contiguous(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, OptimizerConfig as _};

    /// The fit as it was written before, by autograd through `embedding_bag`
    /// and tch's Adam: what the written-out gradient must reproduce.
    fn autograd_fit(
        bags: &BagInput,
        labels: &Tensor,
        (width, categories): (i64, i64),
        settings: &[Setting],
    ) -> Vec<(Tensor, Tensor)> {
        let grid = settings.len() as i64;
        let store = nn::VarStore::new(Device::Cpu);
        let weights = store.root().zeros("weights", &[width, grid * categories]);
        let bias = store.root().zeros("bias", &[grid * categories]);
        let mut optimizer = nn::Adam::default().build(&store, RATE).unwrap();
        let rows = labels.size()[0] as f64;
        let counts = labels
            .bincount(None::<Tensor>, categories)
            .to_kind(Kind::Float);
        let balanced = Tensor::from(rows) / (counts.clamp_min(1.0) * categories as f64);
        let alike = Tensor::ones([categories], (Kind::Float, Device::Cpu));
        let row_weights = Tensor::stack(
            &settings
                .iter()
                .map(|&(_, b)| if b { &balanced } else { &alike }.index_select(0, labels))
                .collect::<Vec<_>>(),
            1,
        )
        .to_kind(Kind::Float);
        let strengths: Vec<f32> = settings
            .iter()
            .flat_map(|&(c, _)| {
                std::iter::repeat_n((1.0 / (2.0 * c * rows)) as f32, categories as usize)
            })
            .collect();
        let strengths = Tensor::from_slice(&strengths);
        let targets = labels.view([-1, 1, 1]).expand([-1, grid, 1], false);
        for step in 0..STEPS {
            let progress = step as f64 / STEPS as f64;
            optimizer.set_lr(RATE * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let logits = (bag_sum(&weights, bags) + &bias).view([-1, grid, categories]);
            let loss_per_row = -logits
                .log_softmax(2, Kind::Float)
                .gather(2, &targets, false)
                .squeeze_dim(2);
            let penalty = weights
                .square()
                .sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
            let loss = (loss_per_row * &row_weights).sum(Kind::Float) / rows
                + (penalty * &strengths).sum(Kind::Float);
            optimizer.backward_step(&loss);
        }
        let weights = weights.detach().view([width, grid, categories]);
        let bias = bias.detach().view([grid, categories]);
        (0..grid)
            .map(|g| (weights.select(1, g), bias.get(g)))
            .collect()
    }

    /// 60 books of three categories over 12 columns, a few words telling
    /// their category and a few noise, one column named twice in a row.
    fn books() -> (Vec<Vec<(i64, f32)>>, Vec<i64>) {
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as i64
        };
        (0..60)
            .map(|book| {
                let label = book % 3;
                let mut row = vec![(label * 2, 0.7), (label * 2 + 1, 0.3)];
                for _ in 0..3 {
                    row.push((6 + next() % 6, 0.25 + (next() % 4) as f32 * 0.1));
                }
                row.push((label * 2, 0.2));
                (row, label)
            })
            .unzip()
    }

    /// The written-out gradient and Adam give the fits autograd through
    /// `embedding_bag` and tch's Adam gave, setting by setting. The bias is
    /// compared less its mean: the softmax does not see a shift of every
    /// category's bias, and rounding moves the two fits apart along it.
    #[test]
    fn the_fit_is_the_one_autograd_and_tch_adam_gave() {
        let (rows, labels) = books();
        let labels = Tensor::from_slice(&labels);
        let settings = [(0.3, false), (30.0, false), (1.0, true)];
        let sparse = SparseRows::new(rows.iter().map(Vec::as_slice), 12, Device::Cpu);
        let ours = fit_grid(
            Inputs::Bags(&sparse),
            &labels,
            (12, 3),
            &settings,
            &Cancel::new(false),
        )
        .unwrap();
        let bags = BagInput::from_rows(rows.iter().map(Vec::as_slice), Device::Cpu);
        let theirs = autograd_fit(&bags, &labels, (12, 3), &settings);
        let centred = |bias: &Tensor| bias - bias.mean(Kind::Float);
        for (fitted, (weights, bias)) in ours.iter().zip(&theirs) {
            let size = weights.abs().max().double_value(&[]);
            assert!(size > 0.1, "the fit learnt something: {size}");
            let apart = (&fitted.weights - weights).abs().max().double_value(&[]);
            assert!(apart < 1e-4 * size.max(1.0), "weights {apart} apart");
            let bias_apart = (centred(&fitted.bias) - centred(bias))
                .abs()
                .max()
                .double_value(&[]);
            assert!(bias_apart < 1e-4 * size.max(1.0), "bias {bias_apart} apart");
        }
    }

    /// Dense inputs (the cover classifier's) and the same values as sparse
    /// rows give the same fit.
    #[test]
    fn dense_and_sparse_inputs_give_the_same_fit() {
        let (rows, labels) = books();
        let labels = Tensor::from_slice(&labels);
        let mut dense = vec![0f32; rows.len() * 12];
        for (row, entries) in rows.iter().enumerate() {
            for &(column, value) in entries {
                dense[row * 12 + column as usize] += value;
            }
        }
        let dense = Tensor::from_slice(&dense).view([-1, 12]);
        let sparse = SparseRows::new(rows.iter().map(Vec::as_slice), 12, Device::Cpu);
        let settings = [(3.0, true)];
        let go_on = Cancel::new(false);
        let from_dense =
            fit_grid(Inputs::Dense(&dense), &labels, (12, 3), &settings, &go_on).unwrap();
        let from_sparse =
            fit_grid(Inputs::Bags(&sparse), &labels, (12, 3), &settings, &go_on).unwrap();
        let apart = (&from_dense[0].weights - &from_sparse[0].weights)
            .abs()
            .max()
            .double_value(&[]);
        assert!(apart < 1e-4, "{apart}");
    }

    /// Settings fitted in groups (a table too large for all of them) come
    /// out as they do side by side, in the order asked.
    #[test]
    fn settings_fitted_in_groups_are_those_fitted_side_by_side() {
        let (rows, labels) = books();
        let labels = Tensor::from_slice(&labels);
        let sparse = SparseRows::new(rows.iter().map(Vec::as_slice), 12, Device::Cpu);
        let settings = [(0.1, false), (1.0, true), (3.0, false), (10.0, true)];
        let go_on = Cancel::new(false);
        let fit = |table_bytes| {
            fit_in_groups(
                Inputs::Bags(&sparse),
                &labels,
                (12, 3),
                &settings,
                (table_bytes, &go_on),
            )
            .unwrap()
        };
        // 12 x 3 x 4 bytes a setting: one table, groups of two, one by one.
        let (together, pairs, alone) = (fit(1 << 20), fit(2 * 144), fit(1));
        for fitted in [&pairs, &alone] {
            assert_eq!(fitted.len(), settings.len());
            for (a, b) in together.iter().zip(fitted.iter()) {
                let apart = (&a.weights - &b.weights).abs().max().double_value(&[])
                    + (&a.bias - &b.bias).abs().max().double_value(&[]);
                assert!(apart < 1e-6, "{apart}");
            }
        }
        // The settings differ, so a mix-up of the order would show.
        let spread = (&together[0].weights - &together[3].weights)
            .abs()
            .max()
            .double_value(&[]);
        assert!(spread > 1e-3, "{spread}");
    }

    /// The one-pass step on the CPU is libtorch's operations' step, the
    /// penalty included, over steps whose moments build up.
    #[test]
    fn the_one_pass_step_is_the_step_of_libtorchs_operations() {
        let (rows, columns) = (7, 6);
        let start = Tensor::randn([rows, columns], (Kind::Float, Device::Cpu));
        let slopes = Tensor::from_slice(&[0.5f32, 0.0, 2.0, 0.1, 1.0, 3.0]);
        let (mut one_pass, mut by_tensors) = (start.copy(), start.copy());
        let (mut one_moments, mut tensor_moments) = (Moments::like(&start), Moments::like(&start));
        for step in 1..=20 {
            let gradient = Tensor::randn([rows, columns], (Kind::Float, Device::Cpu));
            let rate = 0.1 / f64::from(step);
            one_moments.step(&mut one_pass, gradient.copy(), (step, rate), Some(&slopes));
            let mut penalised = gradient.copy();
            let _ = penalised.addcmul_(&by_tensors, &slopes);
            let (first, second) = (1.0 - BETA1.powi(step), 1.0 - BETA2.powi(step));
            tensor_moments.tensor_step(&mut by_tensors, penalised, (first, second, rate));
        }
        let apart = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(
            apart(&one_pass, &by_tensors) < 1e-5,
            "{}",
            apart(&one_pass, &by_tensors)
        );
        assert!(apart(&one_moments.square, &tensor_moments.square) < 1e-5);
        assert!(
            apart(&one_pass, &start) > 0.1,
            "the steps moved the parameter"
        );
        // A table that is not contiguous takes libtorch's operations.
        let mut strided = Tensor::zeros([columns, rows], (Kind::Float, Device::Cpu)).tr();
        let mut moments = Moments::like(&strided);
        let gradient = Tensor::ones([rows, columns], (Kind::Float, Device::Cpu));
        moments.step(&mut strided, gradient, (1, 0.1), None);
        assert!(
            apart(
                &strided,
                &Tensor::full([rows, columns], -0.1, (Kind::Float, Device::Cpu))
            ) < 1e-6
        );
    }

    #[test]
    fn a_stopped_fit_says_cancelled() {
        let (rows, labels) = books();
        let sparse = SparseRows::new(rows.iter().map(Vec::as_slice), 12, Device::Cpu);
        let result = fit_grid(
            Inputs::Bags(&sparse),
            &Tensor::from_slice(&labels),
            (12, 3),
            &[(1.0, false)],
            &Cancel::new(true),
        );
        assert!(matches!(result, Err(TrainError::Cancelled)));
    }
}
