//! One run's settings and a sweep's: what `train --config` files hold and what
//! the Train form builds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::embed::TrunkSettings;
use crate::model::ModelConfig;
use crate::store::Modalities;

/// One run's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub beta: f64,
    /// Triplet weight; `1 - beta` when not set.
    pub alpha: Option<f64>,
    pub epochs: usize,
    /// Categories per batch (P) and books per category (K).
    pub categories_per_batch: usize,
    pub books_per_category: usize,
    pub learning_rate: f64,
    /// The linear word path's learning rate as a multiple of `learning_rate`.
    /// 1 by default: 10 and 30 made the path learn the training books by
    /// heart sooner and validated worse (demo library, goodreads).
    #[serde(default = "one")]
    pub word_bag_rate_scale: f64,
    /// Block 5's learning rate as a multiple of `learning_rate`, when it
    /// trains (`trunk.train_block5`): pretrained convolutions are moved
    /// gently, as fine-tuning usually does.
    #[serde(default = "block5_rate_scale")]
    pub block5_rate_scale: f64,
    /// Decoupled weight decay (AdamW); 0 is plain Adam.
    #[serde(default)]
    pub weight_decay: f64,
    /// Lowers the learning rate along a half cosine to zero at the last
    /// epoch, so that the last epochs settle instead of wandering.
    #[serde(default)]
    pub cosine_schedule: bool,
    pub seed: u64,
    /// Share of each category held out for validation.
    pub validation_share: f64,
    /// Share of training books whose cover or text is hidden in a step.
    pub modality_dropout: f64,
    /// Share of a training book's words replaced by the unknown word in a
    /// step, so that no single rare word (an author's name) decides alone.
    #[serde(default)]
    pub word_dropout: f64,
    /// Fused runs: classify by the mean of the three modality passes (both,
    /// text alone, cover alone) of the same heads; see [`super::predict::Predictor`].
    #[serde(default)]
    pub mask_ensemble: bool,
    /// Also tries the mean of the heads' weights over the second half of the
    /// epochs, kept as the best checkpoint when it validates better.
    #[serde(default)]
    pub weight_averaging: bool,
    /// Cross-entropy against labels smoothed by this share (0: none).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Weight of the alignment term between each training book's text-only
    /// and cover-only placements (`model::loss::alignment`), added to the
    /// paper's objective in fused runs; 0 gives the paper's objective alone
    /// (and runs saved before it). 0.5 by default: on the validation books
    /// of an openlibrary_covers5 split outside the benchmark's seeds, mR went
    /// from 1.6x chance (0) to 3.9x (0.5) and 5.2x (2), macro-F1 0.792 /
    /// 0.808 / 0.796; but at 2 the demo library's network fell from 0.62 to
    /// 0.45 (its paintings say little of their text, and the text placements
    /// were pulled toward them), and at 0.5 it rose to 0.69.
    #[serde(default)]
    pub alignment: f64,
    pub modalities: Modalities,
    /// Epochs of a sweep's image-only runs, when not `epochs`: they cost a
    /// third of a fused run's epoch and learn slowest (the demo library's
    /// image-only macro-F1 was 0.14 after 12 epochs, 0.19 after 20 and 0.21
    /// after 30, on its validation books).
    #[serde(default)]
    pub image_only_epochs: Option<usize>,
    /// Words of a book's text read by the LSTM, at most.
    pub max_words: usize,
    pub model: ModelConfig,
    pub trunk: TrunkSettings,
}

fn one() -> f64 {
    1.0
}

fn block5_rate_scale() -> f64 {
    0.1
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            beta: 0.3,
            alpha: None,
            epochs: 8,
            categories_per_batch: 5,
            books_per_category: 16,
            learning_rate: 3e-3,
            word_bag_rate_scale: 1.0,
            block5_rate_scale: block5_rate_scale(),
            weight_decay: 0.01,
            cosine_schedule: true,
            seed: 1,
            validation_share: 0.2,
            modality_dropout: 0.1,
            word_dropout: 0.2,
            mask_ensemble: false,
            weight_averaging: false,
            label_smoothing: 0.0,
            alignment: 0.5,
            modalities: Modalities::Fused,
            image_only_epochs: None,
            max_words: 200,
            model: ModelConfig::default(),
            trunk: TrunkSettings::default(),
        }
    }
}

impl TrainConfig {
    /// The network these settings build for `categories` classes: the one
    /// place training and inference derive it, so a loaded run matches its
    /// checkpoint.
    pub fn model_config(&self, categories: usize) -> ModelConfig {
        ModelConfig {
            categories: categories as i64,
            width: self.trunk.width,
            image_size: self.trunk.image_size,
            train_block5: self.trunk.train_block5,
            ..self.model.clone()
        }
    }

    /// These settings as a run's row keeps them: a trunk's weights file
    /// inside the library folder by its path in that folder, so that a
    /// library moved or copied elsewhere (a GPU server and back) finds it.
    pub fn to_stored(&self, library_root: &Path) -> String {
        let mut stored = self.clone();
        if let Some(weights) = &self.trunk.weights
            && let Ok(inside) = weights.strip_prefix(library_root)
        {
            stored.trunk.weights = Some(inside.to_path_buf());
        }
        serde_json::to_string(&stored).expect("settings serialise")
    }

    /// Settings as a run's row keeps them ([`Self::to_stored`]), the
    /// weights' path made whole for the library at `library_root`. A run
    /// stored with the absolute path of a library's own backbone, before
    /// paths were kept relative, finds the file in this library's backbone
    /// folder when the old place is gone.
    pub fn from_stored(json: &str, library_root: &Path) -> Result<Self, serde_json::Error> {
        let mut config: Self = serde_json::from_str(json)?;
        if let Some(weights) = &config.trunk.weights {
            let here = if weights.is_relative() {
                Some(library_root.join(weights))
            } else if !weights.exists() {
                let mut tail = weights.iter().rev().take(2).collect::<Vec<_>>();
                tail.reverse();
                let moved = tail
                    .iter()
                    .fold(library_root.to_path_buf(), |path, part| path.join(part));
                (tail
                    .first()
                    .is_some_and(|folder| *folder == crate::backbone::FOLDER)
                    && moved.is_file())
                .then_some(moved)
            } else {
                None
            };
            if let Some(here) = here {
                config.trunk.weights = Some(here);
            }
        }
        Ok(config)
    }

    /// What a sweep's image-only run changes: no dropout (see
    /// [`SweepRequest::configs`]) and its own epochs when they are set.
    fn as_image_only_run(&mut self) {
        self.model.dropout = 0.0;
        self.epochs = self.image_only_epochs.unwrap_or(self.epochs);
    }

    /// The triplet loss's weight: `alpha`, else `1 - beta`.
    pub fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(1.0 - self.beta)
    }
}

/// A sweep: one fused run per beta, plus (optionally) an image-only and a
/// text-only run, all on the same split and seed; with several seeds, all of
/// that once per seed, each seed its own split, batches and heads' start.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub betas: Vec<f64>,
    pub single_modal: bool,
    pub base: TrainConfig,
    /// The seeds to repeat the sweep over; empty: the base's seed alone. The
    /// trunk keeps the base's seed, so every seed reads the same cached
    /// cover maps (a random trunk is the same network for all of them).
    pub seeds: Vec<u64>,
}

impl SweepRequest {
    /// The runs' settings in order: one per beta with the base's inputs
    /// (fused unless a configuration file says `"modalities": "text"` or
    /// `"image"`), then, with `single_modal`, image-only and text-only runs at
    /// the first beta.
    ///
    /// The image-only run trains without dropout: dropout is there against
    /// titles learnt by heart, and on a random trunk's weak cover maps it
    /// left the image-only run at the loss of every book sharing one
    /// embedding (openlibrary_covers5: macro-F1 0.123 with it, 0.416 without;
    /// on a second start 0.384 and 0.433).
    ///
    /// With several seeds the runs come seed by seed: the first seed's whole
    /// sweep, then the next's.
    pub fn configs(&self) -> Vec<TrainConfig> {
        if self.seeds.is_empty() {
            return self.one_seed_configs();
        }
        self.seeds
            .iter()
            .flat_map(|&seed| {
                let mut configs = self.one_seed_configs();
                for config in &mut configs {
                    config.seed = seed;
                }
                configs
            })
            .collect()
    }

    fn one_seed_configs(&self) -> Vec<TrainConfig> {
        let mut configs: Vec<TrainConfig> = self
            .betas
            .iter()
            .map(|&beta| {
                let mut config = TrainConfig {
                    beta,
                    ..self.base.clone()
                };
                if config.modalities == Modalities::Image {
                    config.as_image_only_run();
                }
                config
            })
            .collect();
        if self.single_modal {
            let beta = self.betas.first().copied().unwrap_or(self.base.beta);
            for modalities in [Modalities::Image, Modalities::Text] {
                let mut config = TrainConfig {
                    beta,
                    modalities,
                    ..self.base.clone()
                };
                if modalities == Modalities::Image {
                    config.as_image_only_run();
                }
                configs.push(config);
            }
        }
        configs
    }
}

/// A setting outside what training can use, named as the command line names it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} {value} is not allowed: {allowed}")]
pub struct InvalidSetting {
    /// The flag (`--beta`) or, for settings only a configuration file sets,
    /// its key (`categories_per_batch`).
    pub name: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

fn share(value: f64) -> bool {
    value.is_finite() && (0.0..=1.0).contains(&value)
}

fn below_one(value: f64) -> bool {
    value.is_finite() && (0.0..1.0).contains(&value)
}

const SHARE: &str = "a number from 0 to 1";
const BELOW_ONE: &str = "a number from 0 to below 1";

/// One setting checked: whether it is fine, its name, its value, what is allowed.
type Check = (bool, &'static str, String, &'static str);

impl TrainConfig {
    /// The checks of the objective, the schedule and the batches, in the
    /// order they are reported.
    fn training_checks(&self) -> Vec<Check> {
        let (rate, decay) = (self.learning_rate, self.weight_decay);
        let alpha = self.alpha.map_or(String::new(), |a| a.to_string());
        vec![
            (share(self.beta), "--beta", self.beta.to_string(), SHARE),
            (self.alpha.is_none_or(share), "alpha", alpha, SHARE),
            (
                (1..=100_000).contains(&self.epochs),
                "--epochs",
                self.epochs.to_string(),
                "a whole number from 1 to 100000",
            ),
            (
                self.categories_per_batch >= 1,
                "categories_per_batch",
                self.categories_per_batch.to_string(),
                "at least 1 (P)",
            ),
            (
                self.books_per_category >= 1,
                "books_per_category",
                self.books_per_category.to_string(),
                "at least 1 (K)",
            ),
            (
                rate.is_finite() && rate > 0.0 && rate <= 1.0,
                "--learning-rate",
                rate.to_string(),
                "a number above 0, at most 1",
            ),
            (
                decay.is_finite() && decay >= 0.0,
                "weight_decay",
                decay.to_string(),
                "a number from 0 up",
            ),
            (
                below_one(self.validation_share),
                "validation_share",
                self.validation_share.to_string(),
                BELOW_ONE,
            ),
            (
                share(self.modality_dropout),
                "modality_dropout",
                self.modality_dropout.to_string(),
                SHARE,
            ),
            (
                share(self.word_dropout),
                "word_dropout",
                self.word_dropout.to_string(),
                SHARE,
            ),
            (
                self.alignment.is_finite() && self.alignment >= 0.0,
                "alignment",
                self.alignment.to_string(),
                "a number from 0 up",
            ),
            (
                self.block5_rate_scale.is_finite() && self.block5_rate_scale > 0.0,
                "block5_rate_scale",
                self.block5_rate_scale.to_string(),
                "a number above 0",
            ),
        ]
    }

    /// The checks of the text and cover inputs' shapes.
    fn input_checks(&self) -> Vec<Check> {
        let (size, width, grid) = (self.trunk.image_size, self.trunk.width, self.trunk.grid);
        vec![
            (
                below_one(self.label_smoothing),
                "label_smoothing",
                self.label_smoothing.to_string(),
                BELOW_ONE,
            ),
            (
                self.max_words >= 1,
                "max_words",
                self.max_words.to_string(),
                "at least 1",
            ),
            (
                (32..=1024).contains(&size),
                "--image-size",
                size.to_string(),
                "from 32 to 1024 pixels (VGG16 halves it five times)",
            ),
            (
                (1.0 / 64.0..=1.0).contains(&width),
                "--width",
                width.to_string(),
                "a number from 1/64 to 1",
            ),
            (
                (1..=64).contains(&grid),
                "grid",
                grid.to_string(),
                "from 1 to 64",
            ),
        ]
    }

    /// Refuses, before anything is written, a setting no run can train with.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let mut checks = self
            .training_checks()
            .into_iter()
            .chain(self.input_checks());
        match checks.find(|check| !check.0) {
            Some((_, name, value, allowed)) => Err(InvalidSetting {
                name,
                value,
                allowed,
            }),
            None => Ok(()),
        }
    }
}

impl SweepRequest {
    /// Every run's settings checked before the sweep writes anything.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.betas.is_empty() {
            return Err(InvalidSetting {
                name: "--beta",
                value: "(none)".into(),
                allowed: "at least one number from 0 to 1",
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(seed) = self.seeds.iter().find(|&&seed| !seen.insert(seed)) {
            return Err(InvalidSetting {
                name: "--seeds",
                value: seed.to_string(),
                allowed: "each seed once",
            });
        }
        self.configs().iter().try_for_each(TrainConfig::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_one_run_per_beta_then_image_only_without_dropout_and_text_only() {
        let request = SweepRequest {
            betas: vec![0.2, 0.5],
            single_modal: true,
            base: TrainConfig::default(),
            seeds: Vec::new(),
        };
        let runs: Vec<(f64, Modalities, f64)> = request
            .configs()
            .iter()
            .map(|c| (c.beta, c.modalities, c.model.dropout))
            .collect();
        assert_eq!(
            runs,
            [
                (0.2, Modalities::Fused, 0.3),
                (0.5, Modalities::Fused, 0.3),
                (0.2, Modalities::Image, 0.0),
                (0.2, Modalities::Text, 0.3),
            ]
        );
    }

    /// The image-only run trains for its own epochs when they are set; the
    /// others keep the base's.
    #[test]
    fn the_image_only_run_takes_its_own_epochs() {
        let request = SweepRequest {
            betas: vec![0.3],
            single_modal: true,
            base: TrainConfig {
                epochs: 12,
                image_only_epochs: Some(20),
                ..TrainConfig::default()
            },
            seeds: Vec::new(),
        };
        let epochs: Vec<(Modalities, usize)> = request
            .configs()
            .iter()
            .map(|c| (c.modalities, c.epochs))
            .collect();
        assert_eq!(
            epochs,
            [
                (Modalities::Fused, 12),
                (Modalities::Image, 20),
                (Modalities::Text, 12)
            ]
        );
    }

    /// A configuration file's `"modalities"` is what its runs train on (it was
    /// overridden to fused, so `--config text.json` trained a fused run).
    #[test]
    fn the_bases_inputs_are_the_runs_inputs() {
        for modalities in [Modalities::Text, Modalities::Image] {
            let request = SweepRequest {
                betas: vec![0.3],
                single_modal: false,
                base: TrainConfig {
                    modalities,
                    ..TrainConfig::default()
                },
                seeds: Vec::new(),
            };
            let configs = request.configs();
            assert_eq!(configs.len(), 1);
            assert_eq!(configs[0].modalities, modalities);
            let dropout = if modalities == Modalities::Image {
                0.0
            } else {
                0.3
            };
            assert_eq!(configs[0].model.dropout, dropout);
        }
    }

    #[test]
    fn the_shipped_configurations_parse_and_the_cpu_one_is_the_default() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let cpu: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cpu-default.json")).unwrap())
                .unwrap();
        assert_eq!(cpu, TrainConfig::default());
        let gpu: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("gpu-224.json")).unwrap())
                .unwrap();
        assert_eq!(gpu.trunk.image_size, 224);
    }

    #[test]
    fn settings_no_run_can_use_are_refused_by_name() {
        assert_eq!(TrainConfig::default().validate(), Ok(()));
        for (config, name) in [
            (
                TrainConfig {
                    beta: f64::INFINITY,
                    ..TrainConfig::default()
                },
                "--beta",
            ),
            (
                TrainConfig {
                    beta: f64::NAN,
                    ..TrainConfig::default()
                },
                "--beta",
            ),
            (
                TrainConfig {
                    beta: 1.5,
                    ..TrainConfig::default()
                },
                "--beta",
            ),
            (
                TrainConfig {
                    beta: -0.5,
                    ..TrainConfig::default()
                },
                "--beta",
            ),
            (
                TrainConfig {
                    epochs: 0,
                    ..TrainConfig::default()
                },
                "--epochs",
            ),
            (
                TrainConfig {
                    books_per_category: 0,
                    ..TrainConfig::default()
                },
                "books_per_category",
            ),
            (
                TrainConfig {
                    learning_rate: 0.0,
                    ..TrainConfig::default()
                },
                "--learning-rate",
            ),
        ] {
            let refused = config.validate().unwrap_err();
            assert_eq!(refused.name, name, "{refused}");
        }
        let mut tiny = TrainConfig::default();
        tiny.trunk.image_size = 8;
        assert!(
            tiny.validate()
                .unwrap_err()
                .to_string()
                .starts_with("--image-size 8 is not allowed")
        );
        let request = SweepRequest {
            betas: vec![0.3, 2.0],
            single_modal: false,
            base: TrainConfig::default(),
            seeds: Vec::new(),
        };
        assert_eq!(request.validate().unwrap_err().value, "2");
    }

    #[test]
    fn several_seeds_repeat_the_sweep_seed_by_seed_on_one_trunk() {
        let mut request = SweepRequest {
            betas: vec![0.2, 0.5],
            single_modal: true,
            base: TrainConfig::default(),
            seeds: vec![3, 4],
        };
        let runs: Vec<(u64, f64, Modalities)> = request
            .configs()
            .iter()
            .map(|c| (c.seed, c.beta, c.modalities))
            .collect();
        assert_eq!(runs.len(), 8);
        assert_eq!(runs[0], (3, 0.2, Modalities::Fused));
        assert_eq!(runs[3], (3, 0.2, Modalities::Text));
        assert_eq!(runs[4], (4, 0.2, Modalities::Fused));
        let trunk_seed = request.base.trunk.seed;
        assert!(request.configs().iter().all(|c| c.trunk.seed == trunk_seed));
        request.seeds = vec![3, 3];
        assert_eq!(request.validate().unwrap_err().name, "--seeds");
    }

    #[test]
    fn the_model_is_built_from_the_run_settings_and_its_categories() {
        let config = TrainConfig::default();
        let model = config.model_config(7);
        assert_eq!(model.categories, 7);
        assert_eq!(model.width, config.trunk.width);
        assert_eq!(model.image_size, config.trunk.image_size);
        assert_eq!(config.alpha(), 1.0 - config.beta);
    }

    /// A library moved elsewhere finds its backbone: stored relative, made
    /// whole on reading; an old absolute path into a library's backbone
    /// folder that is gone is found in the new folder; weights outside the
    /// library stay as they are.
    #[test]
    fn weights_inside_the_library_travel_with_it() {
        let old = tempfile::tempdir().unwrap();
        let new = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(new.path().join("backbone")).unwrap();
        std::fs::write(new.path().join("backbone/vgg16.safetensors"), b"w").unwrap();
        let mut config = TrainConfig::default();
        config.trunk.weights = Some(old.path().join("backbone/vgg16.safetensors"));
        let stored = config.to_stored(old.path());
        assert!(
            stored.contains("\"backbone/vgg16.safetensors\""),
            "{stored}"
        );
        let read = TrainConfig::from_stored(&stored, new.path()).unwrap();
        assert_eq!(
            read.trunk.weights.as_deref(),
            Some(new.path().join("backbone/vgg16.safetensors").as_path())
        );
        let gone = old.path().join("gone");
        config.trunk.weights = Some(gone.join("backbone/vgg16.safetensors"));
        let absolute = serde_json::to_string(&config).unwrap();
        let read = TrainConfig::from_stored(&absolute, new.path()).unwrap();
        assert_eq!(
            read.trunk.weights.as_deref(),
            Some(new.path().join("backbone/vgg16.safetensors").as_path())
        );
        config.trunk.weights = Some(gone.join("elsewhere.safetensors"));
        let outside = config.to_stored(new.path());
        let read = TrainConfig::from_stored(&outside, new.path()).unwrap();
        assert_eq!(read.trunk.weights, config.trunk.weights);
    }
}
