"""Images per second that Dask workers encode: what sizes a cluster.

    pip install '.[dask]'
    python benchmarks/cluster_throughput.py              # one worker with every core, 16 images
    python benchmarks/cluster_throughput.py --workers 2 --images 32

Encodes copies of the two 512x512 samples (camera, grey; astronaut, RGB)
with vqcodec.integrations.dask.encode_files on a LocalCluster, once as `--classic -k
256 -b 4` and once at the default quality with `-k 256`. Every worker has
encoded one image before the clock starts, so loading Numba's kernels is not
counted.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

from dask.distributed import Client

from vqcodec.cli.batch import available_cores
from vqcodec.integrations.dask import encode_files, local_cluster

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("camera.png", "astronaut.png")
SETTINGS = {"--classic -k 256 -b 4": {"classic": True, "k": 256, "block": 4}, "-k 256 (quality 75)": {"k": 256}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    try:
        inputs = folder / "in"
        inputs.mkdir()
        for i in range(args.images):
            shutil.copy(SAMPLES / PHOTOS[i % len(PHOTOS)], inputs / f"{i:04}.png")
        print(f"{args.workers} worker(s) on {available_cores()} cores, {args.images} images of 512x512")
        print("| settings | seconds | images/s | MB of input pixels/s |")
        print("|---|---|---|---|")
        raw_bytes = sum((512 * 512 * (1 if i % 2 == 0 else 3)) for i in range(args.images))
        with local_cluster(n_workers=args.workers, dashboard_address=None) as cluster, Client(cluster) as client:
            for name, options in SETTINGS.items():
                warm = [inputs / f"{i:04}.png" for i in range(args.workers)]
                encode_files(client, warm, folder / f"warm-{len(name)}/", **options)
                start = time.perf_counter()
                outcomes = encode_files(client, [inputs], folder / f"out-{len(name)}", recursive=True, **options)
                seconds = time.perf_counter() - start
                assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes if o.status != "ok"]
                print(f"| {name} | {seconds:.2f} | {args.images / seconds:.2f} | {raw_bytes / seconds / 1e6:.2f} |")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
