"""Where a random trunk's cached cover maps stand out: the share of covers
whose map peaks in a border cell, raw and standardised per channel (as the
heads read them), against the border's share of cells.

Explains why an image-only run's CBAM spatial map peaks on the border for
most covers: the trunk's zero padding makes its border cells weaker (0.67 to
0.83 of the inner cells' mean activation) and so, once each channel is
standardised, the most atypical cells of the map.

usage: border_maps.py FEATURES_DIR [--covers 1500] [--channels 128,256,256] [--grid 8]
FEATURES_DIR: a cache folder, <library>/features/<key>/ (holding 00/ .. ff/).
"""

import argparse
import glob

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features")
    parser.add_argument("--covers", type=int, default=1500)
    parser.add_argument("--channels", default="128,256,256")
    parser.add_argument("--grid", type=int, default=8)
    args = parser.parse_args()
    channels = [int(c) for c in args.channels.split(",")]
    side = args.grid
    files = sorted(glob.glob(f"{args.features}/*/*.f16"))[: args.covers]
    if not files:
        raise SystemExit(f"no cached maps under {args.features}")
    border = np.zeros((side, side), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    maps = [[] for _ in channels]
    for path in files:
        values = np.fromfile(path, dtype=np.float16).astype(np.float32)
        offset = 0
        for scale, count in enumerate(channels):
            size = count * side * side
            maps[scale].append(values[offset : offset + size].reshape(count, side, side))
            offset += size
    print(f"{len(files)} covers, border cells {border.mean():.3f} of the map")
    for scale, found in enumerate(maps, start=1):
        stack = np.stack(found)
        mean = stack.mean(axis=(0, 2, 3), keepdims=True)
        sd = stack.std(axis=(0, 2, 3), keepdims=True) + 1e-6
        standardised = (stack - mean) / sd
        for name, grid in (("raw", stack.mean(1)), ("standardised", standardised.mean(1))):
            peaks = grid.reshape(len(grid), -1).argmax(1)
            print(f"scale {scale} {name:>12}: peak in a border cell for {border.reshape(-1)[peaks].mean():.3f} of covers")
        profile = stack.mean(axis=(0, 1))
        print(f"scale {scale}: mean activation of border cells / inner cells {profile[border].mean() / profile[~border].mean():.3f}")


if __name__ == "__main__":
    main()
