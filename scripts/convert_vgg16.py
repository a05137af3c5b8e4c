#!/usr/bin/env python3
"""Writes torchvision's VGG16 trunk (features.0 ... features.28) as a
safetensors file that shelfwise loads by name.

usage: python scripts/convert_vgg16.py OUT.safetensors [--random]

Needs torchvision 0.28.0 (the release for torch 2.13.0) and safetensors:
    pip install torchvision==0.28.0 safetensors
The ImageNet weights are downloaded by torchvision once (to ~/.cache/torch);
--random writes an untrained VGG16 in the same layout instead, to check a setup
without the download.
"""

import argparse

import torch
from safetensors.torch import save_file
from torchvision.models import VGG16_Weights, vgg16


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--random", action="store_true", help="untrained weights, no download")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = vgg16(weights=None if args.random else VGG16_Weights.IMAGENET1K_V1)
    tensors = {name: t.contiguous() for name, t in model.state_dict().items() if name.startswith("features.")}
    save_file(tensors, args.out, metadata={"source": "torchvision vgg16", "pretrained": str(not args.random)})
    print(f"{args.out}: {len(tensors)} tensors ({', '.join(sorted(tensors)[:2])}, ...)")


if __name__ == "__main__":
    main()
