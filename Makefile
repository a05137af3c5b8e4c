# shelfwise: `make run` opens the app on the demo library, `make test` runs every
# test. Both install what is missing first (scripts/setup.sh).
SHELL := /bin/bash

CACHE_DIR ?= $(HOME)/.cache/shelfwise
VENV ?= $(CACHE_DIR)/torch-venv
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/shelfwise

# tch builds against PyPI's torch unless you point LIBTORCH at your own libtorch.
ifeq ($(strip $(LIBTORCH)),)
TORCH_ENV := LIBTORCH_USE_PYTORCH=1 PATH="$(VENV)/bin:$$PATH" SHELFWISE_VENV="$(VENV)"
else
TORCH_ENV :=
endif
CARGO := $(TORCH_ENV) cargo

.PHONY: all setup build run test lint bench bench-words bench-pipeline bench-query bench-tsne bench-quality bench-fine-tune bench-block5 bench-doubtful bench-scale print-binary

all: build

setup:
	@scripts/setup.sh

## Release binary at $(BIN), for scripts and `make run`.
build: setup
	$(CARGO) build --release --bin shelfwise

## Opens the window; imports the bundled demo library when the library is empty.
run: build
	$(BIN) --demo-if-empty $(ARGS)

lint: setup
	cargo fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## Formatting, lints, then every test (dev profile).
test: lint
	$(CARGO) test

## Benchmarks: import throughput (rayon against a plain loop), training throughput (feature cache against recomputing the trunk).
bench: setup
	$(CARGO) bench --bench import --bench train_throughput

## shelfwise's Word2Vec against gensim's on ../shared/data: words/s, ratio, neighbour overlap.
bench-words: build
	@$(VENV)/bin/python -c "import gensim" 2>/dev/null || $(VENV)/bin/pip install --quiet "gensim>=4,<5"
	$(VENV)/bin/python benches/word2vec_vs_gensim.py --binary $(BIN)

## The whole pipeline on ../shared/data/openlibrary_covers5 (import, Word2Vec, cache, sweep, eval): time and peak memory per stage.
bench-pipeline: build
	benches/pipeline.sh

## Model quality on books it never saw: 3 data sets x 3 seeded 80/20 splits,
## fused / text-only / image-only runs beside a cross-validated TF-IDF + logistic regression.
bench-quality: build
	@$(VENV)/bin/python -c "import sklearn" 2>/dev/null || $(VENV)/bin/pip install --quiet "scikit-learn>=1.5"
	$(VENV)/bin/python benches/quality.py --binary $(BIN) $(QUALITY_ARGS)

## Fine-tuning a grown openlibrary_covers5 library against training it again from scratch: macro-F1 on set-aside books, time.
bench-fine-tune: build
	$(VENV)/bin/python benches/fine_tune.py --binary $(BIN) $(FINE_TUNE_ARGS)

## VGG16's block 5 trained with the heads against the frozen trunk on openlibrary_covers5: image-only and fused macro-F1 on held-out books, time per epoch.
bench-block5: build
	$(VENV)/bin/python benches/block5.py --binary $(BIN) $(BLOCK5_ARGS)

## Doubtful labels on openlibrary_covers5 with 5% of the categories swapped: how many swapped books top the list.
bench-doubtful: build
	$(VENV)/bin/python benches/doubtful.py --binary $(BIN) $(DOUBTFUL_ARGS)

## A generated 100,000-book library through every stage, then the window and queries at 100,000 and 1,000,000 books: time and peak memory.
bench-scale: build
	benches/scale.sh $(SCALE_BOOKS)

print-binary:
	@echo $(BIN)

## "More like this" over 100,000 x 256 embeddings: p50/p99 per query against a naive loop.
bench-query: setup
	$(CARGO) bench --bench recommend_query

## t-SNE of 10,000 points against scikit-learn's (installed into the venv here): time ratio and trustworthiness.
bench-tsne: setup
	@$(VENV)/bin/python -c "import sklearn" 2>/dev/null || $(VENV)/bin/pip install --quiet "scikit-learn>=1.5"
	$(TORCH_ENV) $(VENV)/bin/python benches/tsne_vs_sklearn.py
