"""Where the time of a large K-Means encode goes, stage by stage, and within training.

    python benchmarks/encode_stages.py    # camera enlarged to 4096 x 4096, --classic, K=256, 4x4 blocks
    python benchmarks/encode_stages.py --rd [--effort 3]  # the default encoder, astronaut enlarged, RGB
    python benchmarks/encode_stages.py --rd --as-command  # with the memory settings of the vqcodec command

Runs vqcodec's own encoding pipeline and times each of its stages; each line
is the median of three runs, after one run that loads the compiled kernels.
A background stage runs beside the stages after it, so the stages add up to
more than the whole run. Then the training stage's two parts on the same
training sample: k-means++ and Lloyd, and Hartigan's refinement. With --rd,
the stages of the rate-distortion encoder (at the default quality and the
effort given) alone.
"""
import argparse
import statistics
import time
from pathlib import Path

from PIL import Image

from vqcodec import EncodeOptions, images
from vqcodec.classic.encode import ENCODE
from vqcodec.cli import program
from vqcodec.rd.encode import ENCODE as RD_ENCODE
from vqcodec.format import blocks
from vqcodec.train.centnn import refine
from vqcodec.train.data import training_sample
from vqcodec.train.kmeans import kmeans

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
OPTIONS = EncodeOptions(k=256, block=4, classic=True)
SIZE = 4096


def stages(pixels, pipeline=ENCODE, **given) -> dict[str, float]:
    times = {}
    start = time.perf_counter()
    pipeline.run(source=pixels, max_pixels=None, on_stage=times.__setitem__, **given)
    times["whole run"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rd", action="store_true", help="the rate-distortion encoder, on astronaut enlarged")
    parser.add_argument("--effort", type=int, default=5, help="its effort (default: %(default)s)")
    parser.add_argument("--as-command", action="store_true", help="with the settings of the vqcodec command")
    args = parser.parse_args()
    if args.as_command:
        program.configure()
    name, pipeline, given = "camera.png", ENCODE, {"options": OPTIONS}
    if args.rd:
        options = EncodeOptions(effort=args.effort)
        name, pipeline, given = "astronaut.png", RD_ENCODE, {"options": options, "codebook": None}
    pixels = images.load(Image.open(SAMPLES / name).resize((SIZE, SIZE), Image.LANCZOS), None)
    stages(pixels, pipeline, **given)  # loads the kernels
    runs = [stages(pixels, pipeline, **given) for _ in range(3)]
    for stage in runs[0]:
        beside = " (in the background)" if stage in pipeline.names and pipeline.stage(stage).background else ""
        print(f"{stage:<12} {statistics.median(run[stage] for run in runs):.3f} s{beside}")
    if args.rd:
        return
    sample, _ = training_sample(blocks.to_vectors(pixels, OPTIONS.block), None, OPTIONS.k, OPTIONS.seed)
    parts = {"k-means++ and Lloyd": [], "refinement": []}
    for _ in range(3):
        start = time.perf_counter()
        codebook = kmeans(sample, OPTIONS.k, OPTIONS.seed)
        middle = time.perf_counter()
        _, _, stats = refine(sample, codebook)
        parts["k-means++ and Lloyd"].append(middle - start)
        parts["refinement"].append(time.perf_counter() - middle)
    print(f"training on {len(sample)} blocks:")
    for name, times in parts.items():
        print(f"  {name:<20} {statistics.median(times):.3f} s")
    print(f"  refinement: {stats['epochs']} epochs, {stats['scans']} of {stats['visits']} visits a full scan")


if __name__ == "__main__":
    main()
