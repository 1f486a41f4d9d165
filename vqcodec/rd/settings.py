"""The quality scale: from what a user asks for (a quality, or -k and -b) to how each plane is coded."""
import math
from dataclasses import dataclass

from ..format.container import MAX_TILE, MIN_TILE
from ..options import DEFAULT_QUALITY, EncodeOptions

BLOCK = 2  # 2 x 2 residual blocks: docs/rate-distortion.md, "What each tool brought"
CELL = 8  # side of a block-mean cell: means of 8 x 8 pixels, interpolated between cell centres
CHROMA_LAMBDA = 0.35  # chroma errors move RGB PSNR less than luma's: measured best near 0.25-0.5
TILE = 256  # a tile's side in pixels of the image (docs/performance.md: what tiles cost and buy)
REFINE_FROM, REFINE_FULL = 76, 86  # the refinement layer starts above the default quality (it costs decode
# time) and comes in gradually until REFINE_FULL, so that size and PSNR have no jump for a search to fall into
REFINE_LAMBDA = 0.4  # its lambda, per plane lambda: measured best near 0.25-0.5 (docs/rate-distortion.md)


@dataclass(frozen=True)
class PlaneSettings:
    """How to code one plane: residual block side, codebook size, mean cell and step, lambda, tile side,
    and the refinement layer's lambda (squared error per bit; 0: none)."""

    block: int
    k: int
    cell: int
    step: int
    lam: float
    tile: int
    refine: float = 0.0
    cubic: bool = True  # the base a cubic through the cell centres (the plane tool CUBIC), or linear


@dataclass(frozen=True)
class Effort:
    """How hard the encoder searches at one --effort (docs/rate-distortion.md, "Effort": what each buys).
    The entropy-constrained rounds make the codebook; the trainer only gives them a start, so a smaller
    training sample and no Hartigan refinement cost little."""

    rounds: int  # entropy-constrained rounds
    train_rows: int  # the trainer's sample, in rows per codeword
    refined: bool  # Hartigan's refinement after the trainer
    refinement_steps: int  # steps the refinement layer tries per tile
    extra_codewords: tuple[int, ...] = (8, 16, 32)  # how many codewords of its own a plane may add to a shared
    # codebook's entry (docs/shared-codebooks.md: what they buy and cost)
    contexts: bool = True  # each block's codeword chosen again knowing the index coder's contexts (choice.py)


FASTEST = Effort(rounds=6, train_rows=8, refined=False, refinement_steps=1, extra_codewords=(),
                 contexts=False)  # fewer rounds or rows cost bits and saved no time
EFFORTS = {
    1: FASTEST,
    2: FASTEST,
    3: FASTEST,
    4: Effort(rounds=6, train_rows=16, refined=True, refinement_steps=3),
    5: Effort(rounds=8, train_rows=16, refined=True, refinement_steps=3),
    6: Effort(rounds=10, train_rows=32, refined=True, refinement_steps=3),
    7: Effort(rounds=16, train_rows=32, refined=True, refinement_steps=4),
    8: Effort(rounds=24, train_rows=32, refined=True, refinement_steps=4),
    9: Effort(rounds=32, train_rows=32, refined=True, refinement_steps=4),
}


@dataclass(frozen=True)
class Settings:
    colour: str
    planes: tuple[PlaneSettings, ...]
    effort: Effort
    quality: float = 75.0  # the quality they are for: a shared codebook's entry is chosen by it


def plane_kind(colour: str, n: int) -> int:
    """Plane n's kind in a shared codebook: 1 for the chroma planes of a YCbCr image, else 0 (luma, grey,
    alpha)."""
    return 1 if colour != "planes" and n in (1, 2) else 0


def lam_of(quality: float) -> float:
    """Lambda (squared error per bit) halves every 10.8 quality points: about 4200 at 0, 34 at 75, 7 at 100."""
    return 2.0 ** ((130 - quality) / 10.8)


def k_of(lam: float) -> int:
    """Codewords to start from: 256 down to lambda 50, then growing smoothly (so that size and PSNR
    have no jumps for a search to fall into) to 1024. Entropy-constrained training prunes 256 well
    below that at a large lambda; at a small one, 256 would cap the quality."""
    return int(min(1024, max(256, round(256 * math.sqrt(50 / lam)))))


def settings_for(options: EncodeOptions, channels: int, quality: float | None = None) -> Settings:
    """The settings for a quality (default: the options' own, else DEFAULT_QUALITY); -k and -b, when
    given, are kept as they are."""
    q = quality if quality is not None else options.quality if options.quality is not None else DEFAULT_QUALITY
    lam = lam_of(q)
    block = options.block or BLOCK
    k = options.k or k_of(lam)
    step = max(1, min(16, round(math.sqrt(lam) / 4)))
    colour = "planes" if channels < 3 else "ycbcr444" if lam < 8 else "ycbcr420"
    tile = options.tile or TILE
    refine = refine_lambda(q)
    luma = PlaneSettings(block, k, CELL, step, lam, tile_side(tile, block, CELL), refine)
    chroma = PlaneSettings(block, k, CELL, step, lam * CHROMA_LAMBDA,
                           tile_side(tile // 2 if colour == "ycbcr420" else tile, block, CELL), refine * CHROMA_LAMBDA)
    per_plane = [luma, chroma, chroma] if colour != "planes" else [luma, luma, luma]
    return Settings(colour, tuple(per_plane[:3] + [luma] * (channels - 3))[:channels], EFFORTS[options.effort], q)


def refine_lambda(quality: float) -> float:
    """The refinement layer's lambda: none below REFINE_FROM; REFINE_LAMBDA x lambda from REFINE_FULL,
    doubled for every 2 points below it (a bit so dear at first that few tiles pay for one), and halving
    every 5 points above 90 as well, so that quality 100 reaches 46 dB where the codebooks stop near 40."""
    if quality < REFINE_FROM:
        return 0.0
    return REFINE_LAMBDA * lam_of(quality) * 2.0 ** ((max(0.0, REFINE_FULL - quality) / 2)
                                                     - max(0.0, quality - 90) / 5)


def refinement_steps(lam: float, count: int) -> list[int]:
    """The steps to try for a refinement lambda: the one where a uniform quantizer's rate-distortion slope
    at high rates, 2 ln 2 step^2 / 12 per bit, meets lambda, alone or (`count` in all) with the one below
    it and those above; never 1 (a tile refined to the last sample costs most, and no quality needs it)."""
    best = max(2, round(math.sqrt(6 * lam / math.log(2))))
    around = [best] if count == 1 else range(best - 1, best + count - 1)
    return [s for s in around if 2 <= s <= 255]


def tile_side(samples: int, block: int, cell: int) -> int:
    """`samples`, at least the format's least tile side, rounded up to a whole number of blocks and of
    cells, as the format requires (down where up would pass its limit)."""
    multiple = math.lcm(block, cell)
    side = -(-max(samples, MIN_TILE) // multiple) * multiple
    return side if side <= MAX_TILE else MAX_TILE // multiple * multiple
