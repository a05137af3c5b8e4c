//! Shapes, gradient flow, and hand-computed values of the model's pieces.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::cbam::Cbam;
use super::fusion::ModalityFusion;
use super::loss::{ALIGNMENT_TEMPERATURE, alignment, batch_hard_triplet, cross_entropy, objective};
use super::trunk::torchvision_parameter_names;
use super::weights::{TrunkProvenance, WeightsError, load_by_name};
use super::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn assert_close(found: &[f64], expected: &[f64]) {
    assert_eq!(found.len(), expected.len(), "{found:?} vs {expected:?}");
    for (f, e) in found.iter().zip(expected) {
        assert!((f - e).abs() < 1e-5, "{found:?} vs {expected:?}");
    }
}

fn set(t: &Tensor, values: &[f32], shape: &[i64]) {
    tch::no_grad(|| {
        t.shallow_clone()
            .copy_(&Tensor::from_slice(values).reshape(shape));
    });
}

fn tiny_config() -> ModelConfig {
    ModelConfig {
        image_size: 32,
        width: 0.125,
        word_dim: 6,
        lstm_hidden: 4,
        fused_channels: 8,
        embedding_dim: 5,
        categories: 3,
        dropout: 0.0,
        bidirectional_text: true,
        subword_buckets: 16,
        word_bag_buckets: 32,
        character_buckets: 16,
        standardize_covers: true,
        train_block5: false,
        cover_classifier: true,
    }
}

/// `count` distinct made-up words for a vocabulary.
fn words(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("word{i}")).collect()
}

struct Batch {
    images: Tensor,
    ids: Tensor,
    lengths: Tensor,
    bags: word_bag::BagInput,
    present: Tensor,
    labels: Tensor,
}

impl Batch {
    /// The model on this batch with both modalities present.
    fn run(&self, model: &MultimodalModel) -> ModelOutput {
        let text = TextInput {
            ids: &self.ids,
            lengths: &self.lengths,
            bags: Some(&self.bags),
        };
        model.forward(&self.images, text, &self.present, &self.present)
    }
}

fn tiny_batch() -> Batch {
    tch::manual_seed(1);
    Batch {
        images: Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu)),
        ids: Tensor::randint(10, [4, 5], (Kind::Int64, Device::Cpu)),
        lengths: Tensor::from_slice(&[5i64, 3, 1, 2]),
        // Rows 0 and 1 share bucket 3; row 3 has an empty bag.
        bags: word_bag::BagInput {
            buckets: Tensor::from_slice(&[3i64, 7, 3, 30]),
            offsets: Tensor::from_slice(&[0i64, 2, 3, 4]),
            weights: Tensor::from_slice(&[0.6f32, 0.8, 1.0, 1.0]),
        },
        present: Tensor::ones([4], (Kind::Float, Device::Cpu)),
        labels: Tensor::from_slice(&[0i64, 0, 1, 2]),
    }
}

/// A tiny model on the CPU, with its trunk's and heads' stores.
fn tiny_model() -> ([nn::VarStore; 2], MultimodalModel) {
    let trunk_store = nn::VarStore::new(Device::Cpu);
    let heads_store = nn::VarStore::new(Device::Cpu);
    let model = MultimodalModel::new(
        &trunk_store.root(),
        &heads_store.root(),
        &tiny_config(),
        &words(8),
    );
    ([trunk_store, heads_store], model)
}

#[test]
fn every_piece_has_the_shapes_of_model_md() {
    let (_stores, model) = tiny_model();
    let batch = tiny_batch();
    let [c1, c2, c3] = model.trunk.forward(&batch.images);
    assert_eq!(
        c1.size(),
        [4, 32, 8, 8],
        "block 3: 256 x 1/8 channels at S/4"
    );
    assert_eq!(c2.size(), [4, 64, 4, 4]);
    assert_eq!(c3.size(), [4, 64, 2, 2]);
    let texts = model.heads.text.forward(&batch.ids, &batch.lengths);
    for u in &texts {
        assert_eq!(
            u.size(),
            [4, 16],
            "mean and max of 4 hidden units, both ways"
        );
    }
    let output = batch.run(&model);
    assert_eq!(output.embeddings.size(), [4, 5]);
    assert_eq!(output.logits.size(), [4, 3]);
    let norms = values(&output.embeddings.pow_tensor_scalar(2).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        None,
    ));
    assert_close(&norms, &[1.0; 4]);
    let heatmap_sizes: Vec<Vec<i64>> = output.heatmaps.iter().map(Tensor::size).collect();
    assert_eq!(
        heatmap_sizes,
        [vec![4, 1, 8, 8], vec![4, 1, 4, 4], vec![4, 1, 2, 2]]
    );
    for (image, text) in output.image_weights.iter().zip(&output.text_weights) {
        assert_eq!((image.size(), text.size()), (vec![4], vec![4]));
    }
    assert_eq!(output.channel_weights[0].size(), [4, 8]);
}

#[test]
fn gradients_reach_every_head_and_not_the_frozen_trunk() {
    let ([mut trunk_store, heads_store], model) = tiny_model();
    trunk_store.freeze();
    let batch = tiny_batch();
    let output = batch.run(&model);
    let (loss, ..) = objective(&output.logits, &output.embeddings, &batch.labels, 0.3, 0.7);
    loss.backward();
    // Every parameter gets a gradient, and every piece a non-zero one. (A single
    // tensor may legitimately get zeros: a ReLU unit that no input excites.)
    let mut per_piece: std::collections::BTreeMap<String, f64> = Default::default();
    for (name, variable) in heads_store.variables() {
        if !variable.requires_grad() {
            // The word path's document frequencies and fitted classifier, the
            // covers' statistics and the fitted cover classifier are data kept
            // with the run, not weights.
            assert!(
                ["word_bag.", "cover_statistics.", "cover_classifier."]
                    .iter()
                    .any(|kept| name.starts_with(kept)),
                "{name}"
            );
            continue;
        }
        let grad = variable.grad();
        assert!(grad.defined(), "{name} has no gradient");
        let piece = name.split('.').next().unwrap().to_string();
        *per_piece.entry(piece).or_default() += grad.abs().sum(Kind::Float).double_value(&[]);
    }
    let pieces: Vec<&str> = per_piece.keys().map(String::as_str).collect();
    assert_eq!(
        pieces,
        [
            "attention",
            "cbam1",
            "cbam2",
            "cbam3",
            "classify",
            "embed",
            "fusion1",
            "fusion2",
            "fusion3",
            "text",
            "word_bag"
        ]
    );
    for (piece, total) in &per_piece {
        assert!(*total > 0.0, "no gradient reaches {piece}");
    }
    let subwords = heads_store.variables()["text.subwords"].grad();
    assert!(
        subwords.abs().sum(Kind::Float).double_value(&[]) > 0.0,
        "no gradient reaches the n-gram vectors"
    );
    for (name, variable) in trunk_store.variables() {
        assert!(!variable.requires_grad(), "{name} is not frozen");
    }
}

/// A cover whose features are the same everywhere has a spatial map that is
/// the same everywhere: no cell, and no border, stands out. With the zero
/// padding used before, the border cells came out apart from the centre.
/// However large the features' level, the map is `sigmoid(bias)`: read from
/// the level (edge replication did), it saturated at 0 or 1 for every cell
/// at once, multiplied the fused features by about zero, and training stalled.
#[test]
fn a_map_flat_in_space_gives_flat_spatial_attention_whatever_its_level() {
    tch::manual_seed(7);
    let store = nn::VarStore::new(Device::Cpu);
    let cbam = Cbam::new(&store.root(), 32);
    let bias = values(cbam.spatial.bs.as_ref().unwrap())[0];
    for level in [1.0, 100.0] {
        let per_channel =
            Tensor::randn([1, 32, 1, 1], (tch::Kind::Float, Device::Cpu)).abs() * level;
        let flat = per_channel.expand([1, 32, 8, 8], false).contiguous();
        let spatial = values(&cbam.forward(&flat).spatial);
        for value in spatial {
            assert!(
                (value - sigmoid(bias)).abs() < 1e-5,
                "level {level}: {value}"
            );
        }
    }
}

#[test]
fn cbam_by_hand() {
    let store = nn::VarStore::new(Device::Cpu);
    let cbam = Cbam::new(&store.root(), 2);
    set(&cbam.mlp_in.ws, &[1.0, 0.0], &[1, 2]);
    set(cbam.mlp_in.bs.as_ref().unwrap(), &[0.0], &[1]);
    set(&cbam.mlp_out.ws, &[1.0, 0.0], &[2, 1]);
    set(cbam.mlp_out.bs.as_ref().unwrap(), &[0.0, 0.0], &[2]);
    let mut spatial = vec![0.0f32; 2 * 49];
    spatial[3 * 7 + 3] = 1.0; // the centre tap of the channel-mean map
    set(&cbam.spatial.ws, &spatial, &[1, 2, 7, 7]);
    set(cbam.spatial.bs.as_ref().unwrap(), &[0.0], &[1]);
    // Channel 0 = [1, 3], channel 1 = [2, -2] on a 1x2 grid.
    let input = Tensor::from_slice(&[1.0f32, 3.0, 2.0, -2.0]).reshape([1, 2, 1, 2]);
    let output = cbam.forward(&input);
    // avg = [2, 0], max = [3, 2]; MLP keeps channel 0 only: Mc = sigmoid([2 + 3, 0]).
    let s5 = sigmoid(5.0);
    assert_close(&values(&output.channel), &[s5, 0.5]);
    // L' = [[s5, 3 s5], [1, -1]]; the channel mean per pixel is
    // [(s5 + 1) / 2, (3 s5 - 1) / 2], its mean over the grid s5, and
    // Ms = sigmoid(the channel mean less that).
    let ms = [sigmoid((1.0 - s5) / 2.0), sigmoid((s5 - 1.0) / 2.0)];
    assert_close(&values(&output.spatial), &ms);
    assert_close(
        &values(&output.features),
        &[s5 * ms[0], 3.0 * s5 * ms[1], ms[0], -ms[1]],
    );
}

fn hand_fusion(store: &nn::VarStore) -> ModalityFusion {
    let fusion = ModalityFusion::new(&store.root(), 1, 1, 2);
    set(&fusion.image_nin.ws, &[2.0], &[1, 1, 1, 1]);
    set(fusion.image_nin.bs.as_ref().unwrap(), &[0.0], &[1]);
    set(&fusion.text_nin.ws, &[3.0], &[1, 1]);
    set(fusion.text_nin.bs.as_ref().unwrap(), &[0.0], &[1]);
    set(&fusion.image_gate.ws, &[1.0], &[1, 1]);
    set(fusion.image_gate.bs.as_ref().unwrap(), &[0.0], &[1]);
    set(&fusion.text_gate.ws, &[1.0], &[1, 1]);
    set(fusion.text_gate.bs.as_ref().unwrap(), &[-1.0], &[1]);
    fusion
}

#[test]
fn fusion_by_hand() {
    let store = nn::VarStore::new(Device::Cpu);
    let fusion = hand_fusion(&store);
    let image = Tensor::from_slice(&[0.5f32]).reshape([1, 1, 1, 1]);
    let text = Tensor::from_slice(&[1.0f32]).reshape([1, 1]);
    let one = Tensor::from_slice(&[1.0f32]);
    let fused = fusion.forward(&image, &text, &one, &one);
    // NIN(C) = 1, NIN(U) = 3; S_c = sigmoid(1), S_u = sigmoid(3 - 1).
    let (sc, su) = (sigmoid(1.0), sigmoid(2.0));
    assert_close(&values(&fused.image_weight), &[sc]);
    assert_close(&values(&fused.text_weight), &[su]);
    assert_close(
        &values(&fused.features),
        &[sc / (sc + su), 3.0 * su / (sc + su)],
    );
    // Without text, the cover takes all the weight.
    let zero = Tensor::from_slice(&[0.0f32]);
    let cover_only = fusion.forward(&image, &text, &one, &zero);
    assert_close(&values(&cover_only.features), &[1.0, 0.0]);
    // Neither: nothing.
    let neither = fusion.forward(&image, &text, &zero, &zero);
    assert_close(&values(&neither.features), &[0.0, 0.0]);
}

/// Rows that show no cover fuse as the maps would with `image_present` 0
/// (the text-only runs' and the alignment term's text pass), as one value
/// per channel that the maps hold at every place, and the cover's side gets
/// no gradient.
#[test]
fn fusion_without_covers_is_fusion_with_absent_covers() {
    tch::manual_seed(5);
    let store = nn::VarStore::new(Device::Cpu);
    let fusion = ModalityFusion::new(&store.root(), 3, 4, 6);
    let image = Tensor::randn([2, 3, 5, 5], (Kind::Float, Device::Cpu));
    let text = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
    let absent = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let text_present = Tensor::from_slice(&[1.0f32, 0.0]);
    let with_maps = fusion.forward(&image, &text, &absent, &text_present);
    let without = fusion.flat_without_covers(&text, &text_present);
    assert_eq!(without.features.size(), [2, 6]);
    let everywhere = without
        .features
        .unsqueeze(-1)
        .unsqueeze(-1)
        .expand([2, 6, 5, 5], false);
    assert!(with_maps.features.allclose(&everywhere, 1e-6, 1e-6, false));
    assert!(
        with_maps
            .image_weight
            .allclose(&without.image_weight, 0.0, 0.0, false)
    );
    assert!(
        with_maps
            .text_weight
            .allclose(&without.text_weight, 1e-6, 1e-6, false)
    );
    with_maps.features.sum(Kind::Float).backward();
    let cover_gradient = fusion.image_nin.ws.grad().abs().max().double_value(&[]);
    assert_eq!(cover_gradient, 0.0);
}

#[test]
fn a_saturated_gate_does_not_erase_a_lone_cover() {
    let store = nn::VarStore::new(Device::Cpu);
    let fusion = hand_fusion(&store);
    // S_c = sigmoid(1 - 60), about 4e-26: dividing by S_t + 1e-6 gave the
    // lone cover a share of 0, and a cover-only run nothing to learn from.
    set(fusion.image_gate.bs.as_ref().unwrap(), &[-60.0], &[1]);
    let image = Tensor::from_slice(&[0.5f32]).reshape([1, 1, 1, 1]);
    let text = Tensor::from_slice(&[1.0f32]).reshape([1, 1]);
    let (one, zero) = (Tensor::from_slice(&[1.0f32]), Tensor::from_slice(&[0.0f32]));
    let cover_only = fusion.forward(&image, &text, &one, &zero);
    assert_close(&values(&cover_only.features), &[1.0, 0.0]);
    // And what comes after still reaches the cover's NIN.
    cover_only.features.sum(Kind::Float).backward();
    let gradient = fusion.image_nin.ws.grad().double_value(&[0, 0, 0, 0]);
    assert!((gradient - 0.5).abs() < 1e-6, "{gradient}");
}

#[test]
fn losses_by_hand() {
    let logits = Tensor::from_slice(&[1.0f32, 2.0]).reshape([1, 2]);
    let ce = cross_entropy(&logits, &Tensor::from_slice(&[1i64]));
    assert_close(
        &values(&ce),
        &[-(2f64.exp() / (1f64.exp() + 2f64.exp())).ln()],
    );

    // Squared distances: d01 = 1, d02 = 4, d03 = 9, d12 = 5, d13 = 10, d23 = 1.
    let embeddings =
        Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 3.0]).reshape([4, 2]);
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1]);
    let triplet = batch_hard_triplet(&embeddings, &labels);
    let expected =
        (softplus(1.0 - 4.0) + softplus(1.0 - 5.0) + softplus(1.0 - 4.0) + softplus(1.0 - 9.0))
            / 4.0;
    assert_close(&values(&triplet), &[expected]);

    // An anchor alone in its category has no positive and is left out.
    let lonely = Tensor::from_slice(&[0i64, 0, 1, 2]);
    let triplet = batch_hard_triplet(&embeddings, &lonely);
    let expected = (softplus(1.0 - 4.0) + softplus(1.0 - 5.0)) / 2.0;
    assert_close(&values(&triplet), &[expected]);

    let (total, ce_part, triplet_part) =
        objective(&logits.repeat([4, 1]), &embeddings, &labels, 0.3, 0.7);
    assert!((total.double_value(&[]) - (0.3 * ce_part + 0.7 * triplet_part)).abs() < 1e-6);
}

#[test]
fn trunk_weights_load_by_torchvision_name() {
    let store = nn::VarStore::new(Device::Cpu);
    let _trunk = trunk::Vgg16Trunk::new(&store.root(), 0.125);
    let names = torchvision_parameter_names();
    assert_eq!(names.len(), 26);
    assert_eq!(names[0], "features.0.weight");
    assert_eq!(names[25], "features.28.bias");
    let variables = store.variables();
    let dir = tempfile::tempdir().unwrap();
    let tensors: Vec<(String, Tensor)> = names
        .iter()
        .map(|name| {
            (
                name.clone(),
                Tensor::full(variables[name].size(), 0.5, (Kind::Float, Device::Cpu)),
            )
        })
        .collect();
    let good = dir.path().join("vgg16.safetensors");
    Tensor::write_safetensors(&tensors, &good).unwrap();

    let provenance = load_by_name(&store, &good, &names).unwrap();
    assert_eq!(
        provenance,
        TrunkProvenance::Pretrained {
            file: good.clone(),
            parameters: 26,
            source: None,
        }
    );
    for name in &names {
        let loaded = &store.variables()[name];
        assert_eq!(loaded.mean(Kind::Float).double_value(&[]), 0.5, "{name}");
    }

    let missing = dir.path().join("missing.safetensors");
    Tensor::write_safetensors(&tensors[1..], &missing).unwrap();
    let error = load_by_name(&store, &missing, &names).unwrap_err();
    assert!(
        matches!(&error, WeightsError::Missing { name, .. } if name == "features.0.weight"),
        "{error}"
    );

    let mut wrong = tensors;
    wrong[2].1 = Tensor::zeros([1, 2, 3], (Kind::Float, Device::Cpu));
    let wrong_path = dir.path().join("wrong.safetensors");
    Tensor::write_safetensors(&wrong, &wrong_path).unwrap();
    let fresh = nn::VarStore::new(Device::Cpu);
    let _trunk = trunk::Vgg16Trunk::new(&fresh.root(), 0.125);
    let before = fresh.variables()["features.0.weight"].copy();
    let error = load_by_name(&fresh, &wrong_path, &names).unwrap_err();
    assert!(
        matches!(&error, WeightsError::Shape { name, .. } if name == "features.2.weight"),
        "{error}"
    );
    // All or nothing: the parameters before the bad one were not copied either.
    assert!(fresh.variables()["features.0.weight"].equal(&before));
}

/// A real torchvision VGG16 file, when one is at hand: `SHELFWISE_VGG16=PATH`
/// (see models/README.md; `shelfwise weights import` writes one from a torchvision `.pth`).
#[test]
fn a_torchvision_vgg16_file_loads_into_the_full_width_trunk() {
    let Some(file) = std::env::var_os("SHELFWISE_VGG16") else {
        eprintln!("skipped: set SHELFWISE_VGG16 to a torchvision VGG16 safetensors file");
        return;
    };
    let store = nn::VarStore::new(Device::Cpu);
    let trunk = trunk::Vgg16Trunk::new(&store.root(), 1.0);
    let provenance = load_by_name(
        &store,
        std::path::Path::new(&file),
        &torchvision_parameter_names(),
    )
    .unwrap();
    assert!(matches!(
        provenance,
        TrunkProvenance::Pretrained { parameters: 26, .. }
    ));
    let [c1, c2, c3] = tch::no_grad(|| {
        trunk.forward(&Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu)))
    });
    assert_eq!(
        (c1.size(), c2.size(), c3.size()),
        (
            vec![1, 256, 56, 56],
            vec![1, 512, 28, 28],
            vec![1, 512, 14, 14]
        )
    );
}

#[test]
fn length_groups_give_the_same_text_features_as_one_padded_batch() {
    for bidirectional in [false, true] {
        grouped_equals_alone(bidirectional);
    }
}

/// The grouped (padded) batch against each row alone, unpadded: with the
/// right-to-left reading too, padding must not leak into a row's features.
fn grouped_equals_alone(bidirectional: bool) {
    tch::manual_seed(3);
    let store = nn::VarStore::new(Device::Cpu);
    let encoder = TextEncoder::new(&store.root(), 12, 6, 4, bidirectional, None);
    assert_eq!(encoder.feature_width(), if bidirectional { 16 } else { 8 });
    // Lengths 2, 40, 9 and 5 fall into three groups (8, 64 and 16); the
    // 2-word row is padded to 5 in its group.
    let ids = Tensor::randint(10, [4, 40], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[2i64, 40, 9, 5]);
    let grouped = encoder.forward(&ids, &lengths);
    for (row, &length) in [2i64, 40, 9, 5].iter().enumerate() {
        let alone = encoder.forward(
            &ids.narrow(0, row as i64, 1).narrow(1, 0, length),
            &Tensor::from_slice(&[length]),
        );
        for (layer, (grouped, alone)) in grouped.iter().zip(&alone).enumerate() {
            let difference = (grouped.narrow(0, row as i64, 1) - alone)
                .abs()
                .max()
                .double_value(&[]);
            assert!(
                difference < 1e-5,
                "bidirectional {bidirectional} row {row} layer {layer}: {difference}"
            );
        }
    }
    // Gradients still reach the embedding through the regrouping.
    let loss = grouped
        .iter()
        .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |total, u| {
            total + u.sum(Kind::Float)
        });
    loss.backward();
    assert!(
        encoder
            .embedding
            .ws
            .grad()
            .abs()
            .sum(Kind::Float)
            .double_value(&[])
            > 0.0
    );
}

#[test]
fn smoothed_cross_entropy_by_hand() {
    // Two classes, logits (0, ln 3): p = (1/4, 3/4); label 1.
    let logits = Tensor::from_slice(&[0.0f32, 3f32.ln()]).reshape([1, 2]);
    let labels = Tensor::from_slice(&[1i64]);
    let nll = -(0.75f64).ln();
    let uniform = -((0.25f64).ln() + (0.75f64).ln()) / 2.0;
    let found = super::loss::cross_entropy_smoothed(&logits, &labels, 0.2).double_value(&[]);
    assert!(
        (found - (0.8 * nll + 0.2 * uniform)).abs() < 1e-5,
        "{found}"
    );
    let plain = super::loss::cross_entropy_smoothed(&logits, &labels, 0.0).double_value(&[]);
    assert!((plain - nll).abs() < 1e-5);
}

#[test]
fn a_word_reads_its_row_plus_the_mean_of_its_ngrams() {
    use crate::model::text_encoder::{SubwordBags, word_ngrams};
    // "ab" as "<ab>": 3-grams "<ab", "ab>", the 4-gram "<ab>", no 5-gram.
    assert_eq!(word_ngrams("ab").count(), 3);
    // Characters, not bytes: "ñu" gives the same count as "nu".
    assert_eq!(word_ngrams("ñu").count(), word_ngrams("nu").count());
    assert_ne!(
        word_ngrams("ñu").collect::<Vec<_>>(),
        word_ngrams("nu").collect::<Vec<_>>()
    );
    let buckets = 1 << 20;
    let words = vec!["ab".to_string(), "@some_author".to_string()];
    let bags = SubwordBags::new(&words, 4, buckets, '@');
    let store = nn::VarStore::new(Device::Cpu);
    let encoder = TextEncoder::new(&store.root(), 4, 3, 2, false, Some(bags));
    let vectors = &store.variables()["subwords"];
    let hashes: Vec<i64> = word_ngrams("ab")
        .map(|h| (h % buckets as u64) as i64)
        .collect();
    tch::no_grad(|| {
        for (i, &hash) in hashes.iter().enumerate() {
            vectors
                .get(hash)
                .copy_(&Tensor::from_slice(&[i as f32 + 1.0, 0.0, -3.0]));
        }
    });
    let table = encoder.word_table();
    let expected_ab = encoder.embedding.ws.get(0) + Tensor::from_slice(&[2.0f32, 0.0, -3.0]);
    assert_close(&values(&table.get(0)), &values(&expected_ab));
    // The author token, the unknown and the padding rows: their own rows only.
    for row in 1..4 {
        assert_close(
            &values(&table.get(row)),
            &values(&encoder.embedding.ws.get(row)),
        );
    }
}

/// Two books, text placements (1, 0) and (0, 1): with covers placed on their
/// own texts each row's softmax gives its own book e^(1/T) / (e^(1/T) + 1);
/// with the covers swapped the loss is the mirror image, far higher.
#[test]
fn alignment_by_hand() {
    let text = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).reshape([2, 2]);
    let swapped = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.0]).reshape([2, 2]);
    let inverse = 1.0 / ALIGNMENT_TEMPERATURE;
    let own = -(inverse.exp() / (inverse.exp() + 1.0)).ln();
    let other = -(1.0 / (inverse.exp() + 1.0)).ln();
    assert_close(&values(&alignment(&text, &text)), &[own]);
    assert_close(&values(&alignment(&text, &swapped)), &[other]);
}

/// A trainable block 5 started from the trunk reads the cached block-5 input
/// into the very C3 the frozen trunk gives (so a run that trains it starts
/// where a frozen run is), it is trainable, and it alone sits in its group.
#[test]
fn a_trainable_block5_starts_as_the_frozen_trunk_and_trains() {
    tch::manual_seed(3);
    let trunk_store = nn::VarStore::new(Device::Cpu);
    let trunk = trunk::Vgg16Trunk::new(&trunk_store.root(), 0.125);
    trunk.init_random(7);
    let images = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    // As the feature cache keeps them: grid 2, block 5's input at 64 / 16.
    let frozen = crate::embed::TrunkSettings {
        image_size: 64,
        width: 0.125,
        grid: 2,
        ..Default::default()
    };
    let [_, _, frozen_c3] = frozen.cached_maps(&trunk, &images);
    let trainable = crate::embed::TrunkSettings {
        train_block5: true,
        ..frozen
    };
    let cached = trainable.cached_maps(&trunk, &images);
    assert_eq!(cached[0].size(), [2, 32, 2, 2]);
    assert_eq!(cached[2].size(), [2, 64, 4, 4]);
    assert_eq!(trainable.cached_sides(), [2, 2, 4]);

    let heads_store = nn::VarStore::new(Device::Cpu);
    let config = ModelConfig {
        train_block5: true,
        ..tiny_config()
    };
    let heads = FusionHeads::new(
        &heads_store.root(),
        &config,
        trunk.scale_channels,
        &words(4),
    );
    heads.start_block5_from(&trunk.block5_parameters());
    let [_, _, c3] = tch::no_grad(|| heads.trunk_scales(&cached));
    assert_eq!(c3.size(), frozen_c3.size());
    let difference = (&c3 - &frozen_c3).abs().max().double_value(&[]);
    assert!(difference < 1e-5, "{difference}");

    let variables = heads_store.variables();
    for index in [24, 26, 28] {
        let name = format!("block5.features.{index}.weight");
        assert!(variables[&name].requires_grad(), "{name}");
    }
    let c3 = heads.trunk_scales(&cached)[2].sum(Kind::Float);
    c3.backward();
    let gradient = variables["block5.features.24.weight"].grad();
    assert!(gradient.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

/// Without covers the heads compute each scale's flat fused map from its
/// one value per channel: a typed description's placement, weights and
/// heatmaps, and a text-only training pass's gradients, are what the full
/// maps give with every cover absent.
#[test]
fn a_pass_without_covers_matches_the_full_maps_and_their_gradients() {
    let (stores, model) = tiny_model();
    let batch = tiny_batch();
    let maps = tch::no_grad(|| model.trunk.forward(&batch.images));
    let text_present = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0]);
    let absent = Tensor::zeros([4], (Kind::Float, Device::Cpu));
    let heads = stores[1].variables();
    let pass = |covers: Covers<'_>| {
        for variable in heads.values() {
            let mut gradient = variable.grad();
            if gradient.defined() {
                let _ = gradient.zero_();
            }
        }
        let text = TextInput {
            ids: &batch.ids,
            lengths: &batch.lengths,
            bags: Some(&batch.bags),
        };
        let output = model.heads.forward(covers, text, &absent, &text_present);
        // Every output weighed, so that each one's gradient counts. The
        // weights come from a generator of the test's own: tests on other
        // threads draw from libtorch's global one between a seed and a draw,
        // and the two passes were weighed differently.
        let weighed = |t: &Tensor, seed: u64| {
            use rand::{Rng as _, SeedableRng as _};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let weights: Vec<f32> = (0..t.numel())
                .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
                .collect();
            (t * Tensor::from_slice(&weights).view(t.size().as_slice())).sum(Kind::Float)
        };
        let mut objective = weighed(&output.embeddings, 1) + weighed(&output.logits, 2);
        for s in 0..3 {
            objective += weighed(&output.text_weights[s], 3 + s as u64);
            objective += weighed(&output.channel_weights[s], 6 + s as u64);
        }
        objective.backward();
        let gradients: std::collections::BTreeMap<String, Tensor> = heads
            .iter()
            .map(|(name, variable)| {
                let gradient = variable.grad();
                let gradient = if gradient.defined() {
                    gradient.copy()
                } else {
                    variable.zeros_like()
                };
                (name.clone(), gradient)
            })
            .collect();
        (output, gradients)
    };
    let (full, full_gradients) = pass(Covers::Maps(&maps));
    let side = maps[0].size()[2];
    let (flat, flat_gradients) = pass(Covers::NoneShown { side });
    let same = |a: &Tensor, b: &Tensor, what: &str| {
        assert_eq!(a.size(), b.size(), "{what}");
        assert!(
            a.detach().allclose(&b.detach(), 1e-5, 1e-6, false),
            "{what}: {a} against {b}"
        );
    };
    same(&full.embeddings, &flat.embeddings, "embeddings");
    same(&full.logits, &flat.logits, "logits");
    for s in 0..3 {
        same(
            &full.image_weights[s],
            &flat.image_weights[s],
            "image weights",
        );
        same(&full.text_weights[s], &flat.text_weights[s], "text weights");
        same(
            &full.channel_weights[s],
            &flat.channel_weights[s],
            "channel weights",
        );
        // The flat heatmaps take the first scale's side; the same value at
        // every place.
        let [height, width] = [2, 3].map(|d| full.heatmaps[s].size()[d]);
        let heatmap = flat.heatmaps[s].narrow(2, 0, height).narrow(3, 0, width);
        same(&full.heatmaps[s], &heatmap, "heatmaps");
    }
    let mut compared = 0;
    for (name, gradient) in &full_gradients {
        same(gradient, &flat_gradients[name], name);
        compared += i32::from(gradient.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
    assert!(compared > 10, "only {compared} weights took a gradient");
}

/// A typed description's placement in plain arithmetic is the model's own:
/// each row of a batch, alone, against the batch's pass without covers.
#[test]
fn the_flat_heads_place_a_text_only_row_as_the_model_does() {
    let ([_, heads_store], model) = tiny_model();
    // Weights away from their start (the word bag path's and the n-grams'
    // start at zero and would be left out unnoticed).
    tch::no_grad(|| {
        for (_, mut variable) in heads_store.variables() {
            let noise = variable.randn_like() * 0.3;
            let _ = variable.g_add_(&noise);
        }
    });
    let flat = crate::model::flat_heads::FlatTextHeads::new(&model.heads);
    let batch = tiny_batch();
    let present = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let absent = Tensor::zeros([4], (Kind::Float, Device::Cpu));
    let text = TextInput {
        ids: &batch.ids,
        lengths: &batch.lengths,
        bags: Some(&batch.bags),
    };
    let whole = tch::no_grad(|| {
        model
            .heads
            .forward(Covers::NoneShown { side: 4 }, text, &absent, &present)
    });
    let offsets = [0i64, 2, 3, 4, 4];
    for row in 0..4i64 {
        let (start, end) = (offsets[row as usize], offsets[row as usize + 1]);
        let bags = word_bag::BagInput {
            buckets: batch.bags.buckets.narrow(0, start, end - start),
            offsets: Tensor::from_slice(&[0i64]),
            weights: batch.bags.weights.narrow(0, start, end - start),
        };
        let (ids, lengths) = (batch.ids.narrow(0, row, 1), batch.lengths.narrow(0, row, 1));
        let one = TextInput {
            ids: &ids,
            lengths: &lengths,
            bags: Some(&bags),
        };
        let placed = flat.embedding_of_words(&model.heads, one);
        let expected = Vec::<f32>::try_from(whole.embeddings.get(row)).unwrap();
        assert_eq!(placed.len(), expected.len());
        for (a, b) in placed.iter().zip(&expected) {
            assert!(
                (a - b).abs() < 1e-5,
                "row {row}: {placed:?} against {expected:?}"
            );
        }
    }
}
