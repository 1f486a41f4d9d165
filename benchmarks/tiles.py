"""What version 4's tiles cost in size: the default encode of the 4096 x 4096 images of targets.py with
tiles of each side, against the same encode in a single tile of 4096.

    python benchmarks/tiles.py            # a few minutes on 2 cores

Every encode has the same codebooks and indices (the tiles only change how they are coded), so the
PSNR is the same and the size alone compares.
"""
import vqcodec
from targets import four_k

SIDES = (512, 256, 128, 64)


def main() -> None:
    print("| image | " + " | ".join(f"tiles of {side}" for side in SIDES) + " |")
    print("|---|" + "---|" * len(SIDES))
    for name, pixels in four_k().items():
        whole = vqcodec.encode(pixels, tile=4096, max_pixels=None)
        cells = []
        for side in SIDES:
            tiled = vqcodec.encode(pixels, tile=side, max_pixels=None)
            assert tiled.psnr == whole.psnr
            cells.append(f"{100 * (len(tiled.data) / len(whole.data) - 1):+.2f} %")
        print(f"| {name} ({len(whole.data):,} bytes in one tile, {whole.psnr:.2f} dB) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
