"""Where the time of a large K-Means encode goes, stage by stage, and within training.

    python benchmarks/encode_stages.py    # camera enlarged to 4096 x 4096, --classic, K=256, 4x4 blocks

Runs vqcodec's own encoding pipeline and times each of its stages; each line
is the median of three runs, after one run that loads the compiled kernels.
A background stage runs beside the stages after it, so the stages add up to
more than the whole run. Then the training stage's two parts on the same
training sample: k-means++ and Lloyd, and Hartigan's refinement.
"""
import statistics
import time
from pathlib import Path

from PIL import Image

from vqcodec import EncodeOptions, images
from vqcodec.classic.encode import ENCODE
from vqcodec.format import blocks
from vqcodec.train.centnn import refine
from vqcodec.train.data import training_sample
from vqcodec.train.kmeans import kmeans

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
OPTIONS = EncodeOptions(k=256, block=4, classic=True)
SIZE = 4096


def stages(pixels) -> dict[str, float]:
    times = {}
    start = time.perf_counter()
    ENCODE.run(source=pixels, max_pixels=None, options=OPTIONS, on_stage=times.__setitem__)
    times["whole run"] = time.perf_counter() - start
    return times


def main() -> None:
    pixels = images.load(Image.open(SAMPLES / "camera.png").resize((SIZE, SIZE), Image.LANCZOS), None)
    stages(pixels)  # loads the kernels
    runs = [stages(pixels) for _ in range(3)]
    for name in runs[0]:
        beside = " (in the background)" if name in ENCODE.names and ENCODE.stage(name).background else ""
        print(f"{name:<12} {statistics.median(run[name] for run in runs):.3f} s{beside}")
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
