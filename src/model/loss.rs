//! The objective (paper §4): `beta * CE + alpha * triplet`, the triplet loss
//! soft-margin and batch-hard on L2-normalised embeddings:
//! `log(1 + exp(|e_a - e_p|^2 - |e_a - e_n|^2))` with, per anchor, its farthest
//! positive (same category) and nearest negative (another category).

use tch::{Kind, Tensor};

/// Mean cross-entropy of softmax(`logits`) against `labels` (`[batch]` int64).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(labels)
}

/// Cross-entropy against labels smoothed toward the uniform distribution:
/// `(1 - s) * CE + s * mean over classes of -log p`. `s = 0` is [`cross_entropy`].
pub fn cross_entropy_smoothed(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Tensor {
    if smoothing <= 0.0 {
        return cross_entropy(logits, labels);
    }
    let log_p = logits.log_softmax(-1, Kind::Float);
    let nll = -log_p.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
    let uniform = -log_p.mean_dim([1i64].as_slice(), false, Kind::Float);
    (nll * (1.0 - smoothing) + uniform * smoothing).mean(Kind::Float)
}

/// Batch-hard soft-margin triplet loss; anchors without a positive or a
/// negative in the batch are left out (0 when none has both).
pub fn batch_hard_triplet(embeddings: &Tensor, labels: &Tensor) -> Tensor {
    let squared_norms =
        embeddings
            .pow_tensor_scalar(2)
            .sum_dim_intlist([1i64].as_slice(), true, None);
    let distances = (&squared_norms + squared_norms.transpose(0, 1)
        - embeddings.matmul(&embeddings.transpose(0, 1)) * 2.0)
        .clamp_min(0.0);
    let same = labels.unsqueeze(0).eq_tensor(&labels.unsqueeze(1));
    let batch = labels.size()[0];
    let not_self = Tensor::eye(batch, (Kind::Bool, labels.device())).logical_not();
    let positive = same.logical_and(&not_self);
    let negative = same.logical_not();
    let hardest_positive =
        distances.where_self(&positive, &Tensor::from(-1.0f32).to_device(labels.device()));
    let hardest_positive = hardest_positive.amax([1i64].as_slice(), false);
    let far = Tensor::from(1e9f32).to_device(labels.device());
    let hardest_negative = distances
        .where_self(&negative, &far)
        .amin([1i64].as_slice(), false);
    let valid = positive
        .any_dim(1, false)
        .logical_and(&negative.any_dim(1, false))
        .to_kind(Kind::Float);
    let losses = (hardest_positive - hardest_negative).softplus() * &valid;
    let anchors = valid.sum(Kind::Float);
    if anchors.double_value(&[]) == 0.0 {
        return losses.sum(Kind::Float) * 0.0;
    }
    losses.sum(Kind::Float) / anchors
}

/// `beta * CE + alpha * triplet`, and the two parts for the curves.
pub fn objective(
    logits: &Tensor,
    embeddings: &Tensor,
    labels: &Tensor,
    beta: f64,
    alpha: f64,
) -> (Tensor, f64, f64) {
    objective_smoothed(logits, embeddings, labels, beta, alpha, 0.0)
}

/// [`objective`] with the cross-entropy's labels smoothed by `smoothing`.
pub fn objective_smoothed(
    logits: &Tensor,
    embeddings: &Tensor,
    labels: &Tensor,
    beta: f64,
    alpha: f64,
    smoothing: f64,
) -> (Tensor, f64, f64) {
    let ce = cross_entropy_smoothed(logits, labels, smoothing);
    let triplet = batch_hard_triplet(embeddings, labels);
    let (ce_value, triplet_value) = (ce.double_value(&[]), triplet.double_value(&[]));
    (ce * beta + triplet * alpha, ce_value, triplet_value)
}

/// Temperature of the alignment term's softmax over a batch's books.
pub const ALIGNMENT_TEMPERATURE: f64 = 0.1;

/// The alignment term (MODEL.md, beyond the paper; Table 2): symmetric
/// InfoNCE between the books' text-only placements `text` and cover-only
/// placements `image` (row `i` of each is book `i`, both L2-normalised), so
/// that each cover picks out its own book's text among the batch's, and each
/// text its cover. Without it nothing asks the two placements of a book to
/// meet, and cross-modal retrieval stayed at chance.
pub fn alignment(text: &Tensor, image: &Tensor) -> Tensor {
    let books = text.size()[0];
    let similarities = text.matmul(&image.transpose(0, 1)) / ALIGNMENT_TEMPERATURE;
    let own = Tensor::arange(books, (Kind::Int64, text.device()));
    (similarities.cross_entropy_for_logits(&own)
        + similarities.transpose(0, 1).cross_entropy_for_logits(&own))
        / 2.0
}
