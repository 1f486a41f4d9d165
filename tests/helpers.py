"""Helpers the tests share: images, hand-made .vqc files, and the checks every refusal passes."""
import dataclasses
import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec.format import codings, container
from vqcodec.options import SCALAR_ONLY

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DOCS = Path(__file__).resolve().parent.parent / "docs"
GOLDEN = Path(__file__).resolve().parent / "format" / "golden"  # .vqc files of every version and their images
GOLDEN_CODEBOOK = GOLDEN / "v4-shared.vqcb"  # the shared codebook of the v4-shared-* and v5-shared-* files
CLUSTERING = tuple(a for a in vqcodec.ALGORITHMS if a not in SCALAR_ONLY)  # trainers for any vectors
HEADER_FIELDS = ("magic", "version", "channels", "block", "trainer", "width", "height", "k", "requested_k")
# A test of something both encoders must do runs with each: classic=True is plain VQ (version 2),
# classic=False the default rate-distortion encoder (version 4). In the CLI: --classic or nothing.
BOTH_ENCODERS = pytest.mark.parametrize("classic", [True, False], ids=["classic", "rd"])


def classic_flag(classic: bool) -> list[str]:
    """The CLI arguments that choose the encoder `classic` names."""
    return ["--classic"] if classic else []


def random_image(height: int, width: int, channels: int | None = None, seed: int = 0) -> np.ndarray:
    """Uniform random uint8 pixels: H x W when channels is None, else H x W x C."""
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def gradient_image(height: int, width: int, channels: int | None = None) -> np.ndarray:
    """A smooth ramp without wrap-around (each channel scaled and shifted a little), easy to code well."""
    y, x = np.mgrid[0:height, 0:width]
    base = x * 160 // max(width - 1, 1) + y * 95 // max(height - 1, 1)  # 0..255
    if channels is None:
        return base.astype(np.uint8)
    return np.stack([base * (4 - c) // 4 + 50 * c for c in range(channels)], axis=-1).astype(np.uint8)


def checkerboard(height: int, width: int, low: int = 0, high: int = 255) -> np.ndarray:
    """Two-colour checkerboard of single pixels (H x W uint8)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.where((x + y) % 2 == 0, low, high).astype(np.uint8)


def save_png(array_or_image, path: Path) -> Path:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, format="PNG")
    return path


def with_crc(body: bytes) -> bytes:
    """Append the CRC-32 trailer to `body`."""
    return body + struct.pack("<I", zlib.crc32(body))


def rewrite(data: bytes, **fields) -> bytes:
    """Change header fields of a .vqc (names from HEADER_FIELDS) and recompute the CRC.

    The rest is left as it is, so only header checks are meant to fire.
    """
    values = dict(zip(HEADER_FIELDS, container.HEADER.unpack_from(data)))
    unknown = set(fields) - set(values)
    assert not unknown, unknown
    values.update(fields)
    header = container.HEADER.pack(*(values[name] for name in HEADER_FIELDS))
    return with_crc(header + data[container.HEADER.size : -4])


def rewrite_section(data: bytes, entry: int, **fields) -> bytes:
    """Change a version-2 section table entry (kind, coding, length) and recompute the CRC."""
    at = container.HEADER.size + container.COUNT.size + container.SECTION.size * entry
    values = dict(zip(("kind", "coding", "length"), container.SECTION.unpack_from(data, at)))
    values.update(fields)
    return with_crc(data[:at] + container.SECTION.pack(*values.values()) + data[at + container.SECTION.size : -4])


def rewritten(data: bytes, version: int) -> bytes:
    """A version-4 or -5 file with its header written as `version` (4 or 5), its sections as they are."""
    header, payloads = container.parse(data, None)
    return container.build(dataclasses.replace(header, version=version), tuple(bytes(p) for p in payloads))


def v1_file(width, height, channels, block, k, requested_k, trainer_id, codebook, indices) -> bytes:
    """A version-1 file, written from docs/format.md: vqcodec itself no longer writes them."""
    bits = (k - 1).bit_length()
    stream = [(int(index) >> b) & 1 for index in np.ravel(indices) for b in range(bits)]
    packed = np.packbits(np.array(stream, dtype=np.uint8), bitorder="little").tobytes() if stream else b""
    head = container.HEADER.pack(container.MAGIC, 1, channels, block, trainer_id, width, height, k, requested_k)
    return with_crc(head + np.asarray(codebook, np.uint8).tobytes() + packed)


def make_vqc(width=4, height=3, channels=1, block=2, k=3, requested_k=None, trainer="kmeans", seed=0, version=2,
             fixed_rate=True):
    """A valid .vqc built directly (no training): random codebook, indices using every codeword.

    Returns (bytes, the header it parses to, codebook, indices)."""
    header = container.Header(width, height, channels, block, k, requested_k or k, trainer)
    rng = np.random.default_rng(seed)
    codebook = rng.integers(0, 256, (k, header.codeword_size), dtype=np.uint8)
    indices = np.arange(header.block_count) % k
    if version == 1:
        trainer_id = {name: i for i, name in container.TRAINERS.items()}[trainer]
        data = v1_file(width, height, channels, block, k, requested_k or k, trainer_id, codebook, indices)
    else:
        header, payloads = codings.encode_sections(header, {"codebook": codebook, "indices": indices}, fixed_rate)
        data = container.build(header, payloads)
    return data, container.read_header(data), codebook, indices


def corrupt_tiff_bytes() -> bytes:
    """A valid 8 x 8 RGB TIFF whose first IFD links to a second IFD that lacks ImageWidth."""
    buf = io.BytesIO()
    Image.fromarray(random_image(8, 8, 3)).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, ifd)
    struct.pack_into("<I", data, ifd + 2 + 12 * entries, len(data))  # next IFD: appended below
    data += struct.pack("<HHHIII", 1, 257, 3, 1, 8, 0)  # one entry, ImageLength = 8; no further IFD
    return bytes(data)


def huge_width_bmp_bytes() -> bytes:
    """An 8 x 8 BMP whose width field (int32 LE at offset 18) says 0x80000008."""
    buf = io.BytesIO()
    Image.fromarray(random_image(8, 8, 3)).save(buf, format="BMP")
    data = bytearray(buf.getvalue())
    data[21] ^= 0x80
    return bytes(data)


def huge_single_codeword_vqc(version: int = 1) -> bytes:
    """A consistent .vqc of a few dozen bytes: 2^31-1 x 2^31-1 RGBA, b = 1, K = 1, hence no index bytes."""
    side = (1 << 31) - 1
    if version == 1:
        return v1_file(side, side, 4, 1, 1, 1, 1, [[1, 2, 3, 4]], [])
    header = container.Header(side, side, 4, 1, 1, 1, "kmeans", 2,
                              (container.Section("codebook", "raw", 4), container.Section("indices", "packed", 0)))
    return container.build(header, (bytes([1, 2, 3, 4]), b""))


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


COMPILING = "Compiling vqcodec's kernels"  # a first run says so, on stderr, before anything else


def assert_refused(result, *words, exit_code=1):
    """A CLI refusal: the exit code, nothing on stdout, exactly one `Error:` line on stderr (after the
    line a first run with an empty Numba cache starts with) holding every word (any case), no
    traceback, and not a bug the batch runner caught."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith(COMPILING)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "please report" not in lines[0], lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])


def peak_allocation(call):
    """(call(), peak bytes traced by tracemalloc while it ran), NumPy's buffers included."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = call()
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()
    return result, peak
