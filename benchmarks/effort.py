"""What --effort buys: encode time against effort 5, and BD-rate against effort 5, on the bundled photos.

    python benchmarks/effort.py                   # efforts 1, 3, 5, 7, 9; three timed runs
    python benchmarks/effort.py --efforts 1,2,3,4,5,6,7,8,9 --repeat 5

Every photo is encoded at every quality at each effort, the efforts in turn
within one process (the kernels compiled first), so that the machine's
drift falls on all of them alike; an effort's time is the median over the
runs of its total over the photos and qualities. The BD-rate is at equal
PSNR, measured on the files decoded back (`vqcodec.bench.anchors`).
"""
import argparse
import statistics
import time

import vqcodec
from vqcodec import images
from vqcodec.bench import anchors

QUALITIES = (10, 30, 50, 60, 75, 85, 95)
REFERENCE = 5


def encoded(pixels, quality: float, effort: int) -> tuple[bytes, float]:
    """The file and the seconds its encode took."""
    start = time.perf_counter()
    data = vqcodec.encode(pixels, quality=quality, effort=effort, max_pixels=None).data
    return data, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--efforts", default="1,3,5,7,9", help="comma-separated (default: %(default)s)")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="comma-separated (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default: %(default)s)")
    args = parser.parse_args()
    efforts = sorted({int(e) for e in args.efforts.split(",")} | {REFERENCE})
    qualities = [float(q) for q in args.qualities.split(",")]
    photos = {p.stem: images.load(p, None) for p in anchors.photos()}
    first = next(iter(photos.values()))[:64, :64]
    for effort in efforts:  # compiles every kernel an effort uses
        encoded(first, qualities[0], effort)
    curves = {(name, e): [] for name in photos for e in efforts}
    runs = []
    for run in range(args.repeat):
        seconds = dict.fromkeys(efforts, 0.0)
        for name, pixels in photos.items():
            for q in qualities:
                for effort in efforts:
                    data, took = encoded(pixels, q, effort)
                    seconds[effort] += took
                    if run == 0:  # the files do not change from run to run
                        decoded = vqcodec.decode(data, max_pixels=None).pixels.reshape(pixels.shape)
                        curves[name, effort].append(anchors.point(len(data), pixels, decoded))
        runs.append(seconds)
    median = {e: statistics.median(r[e] for r in runs) for e in efforts}
    print(f"| effort | encode time vs {REFERENCE} | " + " | ".join(photos) + " | mean BD-rate |")
    print("|---:|---:|" + "---:|" * (len(photos) + 1))
    for effort in efforts:
        rates = [anchors.bd_rate(curves[name, REFERENCE], curves[name, effort]) for name in photos]
        cells = " | ".join(f"{r:+.2f} %" for r in rates)
        print(f"| {effort} | {median[effort] / median[REFERENCE]:.2f} x | {cells} | {statistics.mean(rates):+.2f} % |")
    print(f"\n{len(photos)} photos, qualities {args.qualities}; effort {REFERENCE}: {median[REFERENCE]:.1f} s in all, "
          f"median of {args.repeat} runs.")


if __name__ == "__main__":
    main()
