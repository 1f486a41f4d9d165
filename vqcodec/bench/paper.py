"""The CentNN article's two experiments on a 128 x 128 grey photo, beside what vqcodec measures.

Both are plain VQ (scalar with 48 codewords, 4 x 4 blocks with 512), so
they run on classic files, where the trainer alone makes the codebook.
"""
from ..options import ALGORITHMS, EncodeOptions

IMAGE = "camera-128.png"
# (K, block) -> the PSNR in dB the article reports per trainer; its CentNN figure stands beside both
# `park` (its rule as published) and vqcodec's `centnn`.
EXPERIMENTS = {
    (48, 1): {"centnn": 47.53, "park": 47.53, "kmeans": 46.35},
    (512, 4): {"centnn": 36.78, "park": 36.78, "kmeans": 32.57},
}
TRAINERS = ALGORITHMS  # every trainer; `optimal` where it applies (the scalar experiment)


def settings() -> list[EncodeOptions]:
    return [EncodeOptions(k=k, block=block, classic=True) for k, block in EXPERIMENTS]


def table(records) -> str:
    """Our measured PSNR beside the article's, per experiment and trainer."""
    lines = [f"{'experiment':<22} {'trainer':<8} {'article dB':>10} {'measured dB':>12} {'difference':>11}"]
    for rec in records:
        claimed = EXPERIMENTS[(rec.k, rec.block)].get(rec.algo)
        what = f"scalar, K={rec.k}" if rec.block == 1 else f"{rec.block}x{rec.block} blocks, K={rec.k}"
        article, diff = ("-", "-") if claimed is None else (f"{claimed:.2f}", f"{rec.psnr - claimed:+.2f}")
        lines.append(f"{what:<22} {rec.algo:<8} {article:>10} {rec.psnr:>12.2f} {diff:>11}")
    return "\n".join(lines)
