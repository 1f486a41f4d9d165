"""Where the time of a large K-Means encode goes, stage by stage.

    python benchmarks/encode_stages.py    # camera enlarged to 4096 x 4096, K=256, 4x4 blocks

Runs vqcodec's own encoding pipeline and times each of its stages; each line
is the median of three runs, after one run that loads the compiled kernels.
A background stage runs beside the stages after it, so the stages add up to
more than the whole run.
"""
import statistics
import time
from pathlib import Path

from PIL import Image

from vqcodec import EncodeOptions, images
from vqcodec.codec import ENCODE

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
OPTIONS = EncodeOptions(k=256, block=4)
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


if __name__ == "__main__":
    main()
