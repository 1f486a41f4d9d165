"""Shared codebooks on small tiles: BD-rate against per-file codebooks, JPEG and WebP, on the bundled photos.

    python benchmarks/shared.py                  # tiles of 64, 128 and 256, each photo's codebook from the others
    python benchmarks/shared.py --own            # each photo's codebook from its own other tiles
    python benchmarks/shared.py --whole          # whole photos, with and without a codebook from the others
    python benchmarks/shared.py --sizes 64 --qualities 20,50,80

The same measurement as `vqcodec bench --shared` (vqcodec/bench/shared.py),
which documents the method; this script fixes the image set so figures from
different commits compare. Prints a Markdown table.
"""
import argparse
import sys
import time

from vqcodec.bench import anchors, shared
from vqcodec.errors import VQCodecError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, shared.SIZES)), help="tile sides (default: %(default)s)")
    parser.add_argument("--qualities", default=",".join(map(str, shared.QUALITIES)),
                        help="vqcodec's qualities (default: %(default)s)")
    parser.add_argument("--own", action="store_true", help="learn each photo's codebook from its own other tiles")
    parser.add_argument("--whole", action="store_true",
                        help="code whole photos with and without a codebook from the other photos' tiles of the first size")
    args = parser.parse_args()
    start = time.perf_counter()

    def progress(i, total, text):
        print(f"[{i}/{total}] {text}", file=sys.stderr)

    try:
        sizes, qualities = [int(s) for s in args.sizes.split(",")], [float(q) for q in args.qualities.split(",")]
        if args.whole:
            print(shared.whole_table(shared.whole(anchors.photos(), sizes[0], qualities, progress)))
        else:
            print(shared.table(shared.run(anchors.photos(), sizes, qualities, args.own, progress)))
    except (VQCodecError, ValueError) as exc:
        sys.exit(f"Error: {exc}")
    learned = "codebooks from " + ("each photo" if args.own else "the other photos")
    print(f"\nqualities {args.qualities}; {'whole photos' if args.whole else learned}; "
          f"{time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
