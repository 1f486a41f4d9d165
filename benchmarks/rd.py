"""BD-rate of vqcodec's rate-distortion encoder against JPEG, WebP and AVIF on the bundled photos.

    python benchmarks/rd.py                      # camera, astronaut, chelsea, coffee, coins
    python benchmarks/rd.py more.png --plot rd/  # those and more.png; one PSNR and SSIM plot per image

The same comparison as `vqcodec bench --rd` (vqcodec/bench/anchors.py), which
documents the method; this script fixes the image set so figures from
different commits compare. Prints a Markdown table, ready for the README.
"""
import argparse
import sys
import time
from pathlib import Path

from vqcodec.bench import anchors
from vqcodec.errors import VQCodecError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path, help="images compared besides the bundled photos")
    parser.add_argument("--qualities", default=",".join(map(str, anchors.DEFAULT_QUALITIES)),
                        help="vqcodec's qualities, comma-separated (default: %(default)s)")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write one plot per image here, PSNR and SSIM against bpp")
    args = parser.parse_args()
    start = time.perf_counter()
    try:
        qualities = [float(q) for q in args.qualities.split(",")]
        report = anchors.run([*anchors.photos(), *args.images], qualities, plot_dir=args.plot,
                             progress=lambda i, total, text: print(f"[{i}/{total}] {text}", file=sys.stderr))
    except (VQCodecError, ValueError) as exc:
        sys.exit(f"Error: {exc}")
    print(anchors.table(report))
    print(f"\nvqcodec qualities {args.qualities}; anchors at qualities {anchors.ANCHOR_QUALITIES[0]} to "
          f"{anchors.ANCHOR_QUALITIES[-1]}; {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
