"""The decoder against hostile files: mutated golden files, every truncation, forged sizes.

Whatever the bytes, `decode` and `info` either return what docs/format.md says
the file holds or raise FormatError / TooManyPixelsError; the CLI turns each
refusal into one `Error:` line and leaves no file behind. Nothing is allocated
from a header before it is validated.
"""
import dataclasses
import itertools
import re
import signal
import struct
import warnings
import zlib
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import spec_vqc
from click.testing import CliRunner
from helpers import (GOLDEN, GOLDEN_CODEBOOK, assert_refused, listing, peak_allocation, random_image, rewritten, v1_file,
                     with_crc)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, UnidentifiedImageError

import vqcodec
from vqcodec.api import decoder
from vqcodec.cli.commands import main
from vqcodec.errors import FormatError
from vqcodec.format import container, varint

GOLDEN_FILES = sorted(GOLDEN.glob("*.vqc"))
SPEC_GOLDEN_FILES = GOLDEN_FILES  # spec_vqc, the fuzz's oracle, reads every version (1 to 5)
V4_GOLDEN_FILES = sorted(GOLDEN.glob("v4-*.vqc"))
REFUSED = (vqcodec.FormatError, vqcodec.TooManyPixelsError, vqcodec.CodebookError)
SHARED = GOLDEN_CODEBOOK.read_bytes()  # the shared codebook every decode here is given: the v4-shared-* files need it
# A valid K = 1 file of 32 bytes may declare any image up to the default cap (512 MiB of RGBA): that is
# what the cap allows, not a bug. The fuzz decodes under a 1-megapixel cap instead, so that any file it
# accepts needs some 16 MiB at most, and anything larger has to be refused before it is allocated.
FUZZ_CAP = 1 << 20
ALLOCATION_LIMIT = 64 << 20  # far below what the forged headers below declare, far above what a valid one needs


# --- format.md, read independently: tests/format/spec_vqc.py was written from the page alone ----------


def spec_header(data: bytes) -> tuple | None:
    """(width, height, channels, block, k, planes, tools) of a file whose header, length and CRC are valid,
    else None. Versions 3 and 4: block and k as vqcodec reports them (plane 0's block, the planes' k summed),
    and for each plane (width, height, block, cell, step, fill, k, section lengths, tile side, tools), the
    lengths of version 4 being its codebook's then each tile's means and index lengths (then the filter
    section's, with that tool); planes is () before."""
    h = spec_vqc.read_header(data)
    if h is None:
        return None
    planes = tuple((p["width"], p["height"], p["block"], p["cell"], p["step"], p["fill"], p["k"],
                    tuple(p["lengths"]) if p["k"] else (), p["tile"] or 0, p["tools"]) for p in h["planes"])
    return h["width"], h["height"], h["channels"], h["block"], h["k"], planes, h["tools"]


def vqcodec_header(header) -> tuple:
    """The same fields from vqcodec's Header (which keeps version 4's tile table as it is stored)."""
    def lengths(p):
        if header.version == 3 or not p.k:
            return tuple(s.length for s in p.sections)
        return (p.sections[0].length, *(int(n) for n in p.tile_lengths().ravel()), *(s.length for s in p.sections[3:]))

    planes = () if header.version < 3 else tuple(
        (p.width, p.height, p.block, p.cell, p.step, p.fill, p.k, lengths(p), p.tile, p.tools) for p in header.planes)
    return header.width, header.height, header.channels, header.block, header.k, planes, header.tools


def spec_decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """The image format.md says `data` holds, or None when a decoder must refuse it."""
    return spec_vqc.decode(data, max_pixels, SHARED)


# --- helpers ------------------------------------------------------------------------------


def decode_pixels(data, **kwargs) -> np.ndarray:
    return vqcodec.decode(data, codebook=SHARED, **kwargs).pixels


def outcome(call, *args, **kwargs):
    """(result, None) or (None, the refusal's class); any other exception fails the test."""
    try:
        return call(*args, **kwargs), None
    except REFUSED as exc:
        assert "\n" not in str(exc), str(exc)  # the CLI prints it as a single line
        return None, type(exc)


@pytest.fixture(scope="module", autouse=True)
def compiled_decoders():
    """Every decoding kernel compiled (or loaded from Numba's cache) before any test here runs: hang_guard's
    alarm must never interrupt Numba while it compiles, which leaves its state broken (a first run with an
    empty cache can take longer than a guard's seconds, and crashed the process later)."""
    for path in GOLDEN_FILES:
        decode_pixels(path)
        decode_pixels(path, crop=(0, 0, 1, 1))
        decode_pixels(path, thumbnail=True)


@contextmanager
def hang_guard(seconds: float):
    """Fail instead of waiting forever: a Hypothesis deadline only judges examples that do end. Only
    around code whose kernels are compiled (compiled_decoders): an exception raised inside Numba's
    compiler breaks it."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- mutation fuzzing -----------------------------------------------------------------------


ENCODED = ("encoded-rgba-5x5-b2-k3", "encoded-grey-5x6-b3-k1", "encoded-v1-rgba-5x5-b2-k3",
           "encoded-v5-rgb-6x5", "encoded-v5-grey-7x4", "encoded-v4-rgb-6x5", "encoded-v4-grey-7x4")
SEED_NAMES = sorted([p.stem for p in SPEC_GOLDEN_FILES] + list(ENCODED))


@pytest.fixture(scope="module")
def seeds() -> dict[str, tuple[bytes, np.ndarray]]:
    """Valid files to mutate, with their decoded images: the golden files and five encoded here.

    K = 3 leaves one 2-bit value beyond the codebook, and 9 blocks leave 6 padding bits: both
    payload checks can fire, which the golden files' K (mostly powers of 2) rarely allow. The two
    version-5 files are what the default encoder writes for tiny images (4:2:0 colour and grey,
    one tile per plane), kept tiny because spec_vqc is slow, and the same rewritten as version 4;
    the golden files hold the other versions (version 3 included) and versions 4 and 5 with
    several tiles.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vqcodec.VQCodecWarning)  # the flat image's codebook shrinks to K = 1
        noise = vqcodec.encode(random_image(5, 5, 4, seed=21), k=3, block=2, fixed_rate=True)
        encoded = {
            ENCODED[0]: noise.data,
            ENCODED[1]: vqcodec.encode(np.full((6, 5), 77, np.uint8), k=2, block=3, classic=True).data,
            ENCODED[3]: vqcodec.encode(random_image(5, 6, 3, seed=22)).data,
            ENCODED[4]: vqcodec.encode(random_image(4, 7, seed=23)).data,
        }
        encoded |= {ENCODED[5]: rewritten(encoded[ENCODED[3]], 4), ENCODED[6]: rewritten(encoded[ENCODED[4]], 4)}
    parts = decoder(2).run(data=noise.data, max_pixels=None, crop=None, codebook=None)  # the same file in version 1
    encoded[ENCODED[2]] = v1_file(5, 5, 4, 2, 3, 3, 1, parts["codebook"], parts["indices"])
    assert vqcodec.info(encoded[ENCODED[0]]).k == 3 and vqcodec.info(encoded[ENCODED[1]]).k == 1
    versions = [vqcodec.info(encoded[name]).version for name in ENCODED[3:]]
    assert versions == [5, 5, 4, 4], f"the default encoder wrote version {versions[:2]}, not version 5"
    assert [vqcodec.info(encoded[name]).colour for name in ENCODED[3:]] == ["ycbcr420", "planes"] * 2
    files = {p.stem: p.read_bytes() for p in SPEC_GOLDEN_FILES} | encoded
    assert sorted(files) == SEED_NAMES
    return {name: (data, decode_pixels(data)) for name, data in files.items()}


FIELDS = {  # header field: (offset, struct format); from "count" on, version 2's section table
    "version": (4, "<B"), "channels": (5, "<B"), "block": (6, "<B"), "trainer": (7, "<B"),
    "width": (8, "<I"), "height": (12, "<I"), "k": (16, "<I"), "requested_k": (20, "<I"),
    "count": (24, "<B"), "kind_1": (25, "<B"), "coding_1": (26, "<B"), "length_1": (27, "<Q"),
    "kind_2": (35, "<B"), "coding_2": (36, "<B"), "length_2": (37, "<Q"),
}
FIELDS_V3 = {  # version 3: the header's colour (its requested K is "k" above), then plane records 0 and 1
    "colour": (6, "<B"),
    **{f"plane{p}_{name}": (20 + 32 * p + offset, fmt) for p in (0, 1) for name, offset, fmt in (
        ("block", 0, "<B"), ("cell", 1, "<B"), ("step", 2, "<B"), ("fill", 3, "<B"), ("k", 4, "<I"),
        ("means", 8, "<Q"), ("codebook", 16, "<Q"), ("indices", 24, "<Q"))},
}
FIELDS.update(FIELDS_V3)
FIELDS_V4 = {  # version 4: the file tools, then plane records 0 and 1 (24 bytes each, from byte 24)
    "tools": (20, "<I"),
    **{f"v4plane{p}_{name}": (24 + 24 * p + offset, fmt) for p in (0, 1) for name, offset, fmt in (
        ("block", 0, "<B"), ("cell", 1, "<B"), ("step", 2, "<B"), ("fill", 3, "<B"), ("k", 4, "<I"),
        ("tools", 8, "<I"), ("tile", 12, "<I"), ("codebook", 16, "<Q"))},
}
FIELDS.update(FIELDS_V4)
FIELDS_OF = {size: [name for name, (_, fmt) in FIELDS.items() if fmt == size] for size in ("<B", "<I", "<Q")}
EXTREMES = {
    "<B": [0, 1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 127, 128, 255],
    "<I": [0, 1, 2, 3, 8, 16, 24, 31, 32, 48, 255, 256, 257, 4096, 4097, 4104, 65535, 65536, 65537, 2**31 - 1,
           2**31, 2**32 - 1],
    "<Q": [0, 1, 2, 3, 4, 5, 16, 100, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1],
}
# Taken modulo the current length, so negative positions count from the end. The header fields after
# the magic, the section table (version 2) or the plane records (version 3: 32 bytes each, from byte 20;
# version 4: 24 bytes each, from byte 24, then the tile table) and the last bytes (stream ends, index
# padding, CRC) are drawn more often than their share.
position = st.integers(4, 44) | st.integers(20, 147) | st.integers(-8, -1) | st.integers(-(1 << 12), 1 << 12)

mutations = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("set"), position, st.integers(0, 255)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("payload"), st.integers(0, 1 << 12), st.integers(1, 255)),  # flip past the header
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
    *(st.tuples(st.just("field"), st.sampled_from(FIELDS_OF[size]),
                st.sampled_from(EXTREMES[size]) | st.integers(0, 256 ** struct.calcsize(size) - 1)) for size in EXTREMES),
    st.tuples(st.just("nudge"), st.sampled_from(list(FIELDS)), st.integers(-2, 2)),  # near-valid neighbours
    # version 4's tile table, whose place depends on C: a length set, nudged, or bytes moved to the next one
    st.tuples(st.just("table"), st.integers(0, 40), st.sampled_from(EXTREMES["<I"]) | st.integers(0, 2**32 - 1)),
    st.tuples(st.just("table-nudge"), st.integers(0, 40), st.integers(-3, 3)),
    st.tuples(st.just("shift"), st.integers(0, 40), st.integers(-3, 3)),
    # version 5's varints (its header's integers, then its tile table's): one set to a value, nudged, or
    # written longer than its shortest form
    st.tuples(st.just("v5-set"), st.integers(0, 60), st.sampled_from(EXTREMES["<Q"]) | st.integers(0, 2**32)),
    st.tuples(st.just("v5-nudge"), st.integers(0, 60), st.integers(-3, 3)),
    st.tuples(st.just("v5-long"), st.integers(0, 60)),
    st.tuples(st.just("fix-crc")),
)


def v5_varints(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, value) of each varint of a version-5 header, as far as it reads: the header's, the plane
    records', and, if spec_vqc finds the file valid, the tile table's."""
    out, at = [], 5

    def read(count: int) -> bool:
        nonlocal at
        for _ in range(count):
            start, value = at, 0
            while at < len(data) and at - start < 10:
                value |= (data[at] & 0x7F) << 7 * (at - start)
                at += 1
                if data[at - 1] < 0x80:
                    break
            else:
                return False
            out.append((start, at, value))
        return True

    if not read(7) or not 1 <= out[0][2] <= 4 or not read(8 * out[0][2]):
        return out
    header = spec_vqc.read_header(data)
    if header is not None:
        at += spec_vqc.IDENTITY if header["tools"] & spec_vqc.SHARED else 0
        read(sum((3 if plane["tools"] & spec_vqc.REFINE else 2) * len(spec_vqc.tiles_of(plane))
                 for plane in header["planes"] if plane["k"]))
    return out


def fix_crc(data: bytearray) -> None:
    if len(data) >= 4:
        data[-4:] = struct.pack("<I", zlib.crc32(data[:-4]))


def mutate(data: bytes, steps) -> bytes:
    out = bytearray(data)
    for kind, *args in steps:
        if kind in ("flip", "set") and out:
            at = args[0] % len(out)
            out[at] = out[at] ^ args[1] if kind == "flip" else args[1]
        elif kind == "payload" and len(out) > 28:
            out[24 + args[0] % (len(out) - 28)] ^= args[1]
        elif kind == "insert":
            at = args[0] % (len(out) + 1)
            out[at:at] = args[1]
        elif kind == "delete" and out:
            at = args[0] % len(out)
            del out[at : at + args[1]]
        elif kind == "truncate":
            del out[args[0] % (len(out) + 1) :]
        elif kind == "extend":
            out += args[0]
        elif kind in ("field", "nudge"):
            offset, fmt = FIELDS[args[0]]
            if len(out) >= offset + struct.calcsize(fmt):
                value = args[1]
                if kind == "nudge":
                    (old,) = struct.unpack_from(fmt, out, offset)
                    value = (old + args[1]) % (1 << 8 * struct.calcsize(fmt))
                struct.pack_into(fmt, out, offset, value)
        elif kind in ("table", "table-nudge", "shift") and len(out) >= 6 and out[4] == 4:
            at = 24 + 24 * out[5] + 4 * args[0]  # length number args[0] of the tile table (means, index, ...)
            if len(out) >= at + (8 if kind == "shift" else 4):
                (old,) = struct.unpack_from("<I", out, at)
                if kind == "shift":  # the sum stays, the boundary between two sections moves
                    (following,) = struct.unpack_from("<I", out, at + 4)
                    struct.pack_into("<I", out, at + 4, (following + args[1]) % 2**32)
                value = args[1] if kind == "table" else (old + args[1] * (1 if kind == "table-nudge" else -1)) % 2**32
                struct.pack_into("<I", out, at, value)
        elif kind in ("v5-set", "v5-nudge", "v5-long") and len(out) > 5 and out[4] == 5:
            found = v5_varints(bytes(out))
            if args[0] < len(found):
                start, end, old = found[args[0]]
                if kind == "v5-long":
                    new = bytes(out[start : end - 1]) + bytes([out[end - 1] | 0x80, 0])
                else:
                    new = varint.encode([args[1] if kind == "v5-set" else max(old + args[1], 0)])
                out[start:end] = new
        elif kind == "fix-crc":
            fix_crc(out)
    return bytes(out)


# 3200 examples over 48 seeds, about 67 each: some 930 for the 14 version-1 and -2 seeds, 400 for the 6
# version-3 ones, 1270 for the 19 version-4 ones and 600 for the 9 version-5 ones
@settings(max_examples=3200, deadline=timedelta(seconds=2), derandomize=True, database=None)
@given(name=st.sampled_from(SEED_NAMES),
       steps=st.lists(mutations, max_size=5), recompute_crc=st.booleans())
def test_mutated_files_decode_as_specified_or_are_refused(seeds, name, steps, recompute_crc):
    """Mutations, header fields set to extremes and a recomputed CRC (so the header checks, not
    just the checksum, have to catch them): the decoder agrees with format.md read independently,
    refuses with a vqcodec error, and allocates nothing a forged header asks for."""
    with hang_guard(10):
        original, original_image = seeds[name]
        data = bytearray(mutate(original, steps))
        if recompute_crc:
            fix_crc(data)
        data = bytes(data)
        fields = spec_header(data)

        header, _ = outcome(vqcodec.info, data)  # no pixel cap: header, length and CRC only
        assert (header is None) == (fields is None)
        if header is not None:
            assert vqcodec_header(header) == fields

        pixels = None if fields is None else fields[0] * fields[1]
        expected = spec_decode(data, FUZZ_CAP)
        (decoded, error), peak = peak_allocation(lambda: outcome(decode_pixels, data, max_pixels=FUZZ_CAP))
        assert peak < ALLOCATION_LIMIT, (peak, fields)
        if pixels is not None and pixels > FUZZ_CAP:
            assert error is vqcodec.TooManyPixelsError
        elif expected is None:
            assert decoded is None
        else:
            assert decoded.dtype == np.uint8
            np.testing.assert_array_equal(decoded, expected)
        if data == original:
            np.testing.assert_array_equal(decoded, original_image)

        # The default cap, unless the file validly declares more than FUZZ_CAP pixels (and so may take that much).
        if pixels is None or pixels <= FUZZ_CAP or pixels > vqcodec.DEFAULT_MAX_PIXELS:
            (decoded_default, error_default), peak = peak_allocation(lambda: outcome(decode_pixels, data))
            assert peak < ALLOCATION_LIMIT, (peak, fields)
            if pixels is not None and pixels > vqcodec.DEFAULT_MAX_PIXELS:
                assert error_default is vqcodec.TooManyPixelsError
            elif expected is None:
                assert decoded_default is None
            else:
                np.testing.assert_array_equal(decoded_default, expected)


@pytest.mark.parametrize("name", ["rgb-37x29-b3-k16", "v2-rgb-61x43-b3-k40"])
def test_mutations_reach_the_header_checks(seeds, name):
    """The fuzz above is only as good as its mutations: header fields set with a fixed CRC must be
    refused for the field (not the checksum), and some near-valid rewrites must still decode."""
    data, image = seeds[name]
    refusals = [("channels", 0, "channel"), ("block", 17, "block"), ("width", 2**32 - 1, "image size"),
                ("k", 2**32 - 1, "codebook size"), ("version", 255, "version")]
    if name.startswith("v2-"):
        refusals += [("count", 1, "sections are"), ("kind_1", 9, "kind"), ("coding_2", 7, "unknown coding"),
                     ("length_1", 2**64 - 1, "not fewer than"), ("length_2", 0, "trailing")]
    for field, value, word in refusals:
        with pytest.raises(vqcodec.FormatError, match=word):
            vqcodec.decode(mutate(data, [("field", field, value), ("fix-crc",)]))
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(mutate(data, [("field", "width", 2**31 - 1), ("field", "height", 2**31 - 1), ("fix-crc",)]))
    # an unknown trainer is no reason to refuse a file
    np.testing.assert_array_equal(vqcodec.decode(mutate(data, [("field", "trainer", 200), ("fix-crc",)])).pixels, image)
    # wider up to the edge of the last column of blocks: still valid, more of those blocks shows
    height, width = image.shape[:2]
    wider = mutate(data, [("nudge", "width", 3 - width % 3 if width % 3 else 0), ("fix-crc",)])
    decoded = vqcodec.decode(wider).pixels
    np.testing.assert_array_equal(decoded[:, :width], image)
    np.testing.assert_array_equal(decoded, spec_decode(wider, FUZZ_CAP))


def test_reference_decoder_agrees_with_the_golden_images(seeds):
    """spec_decode is the fuzz's oracle, so it must itself reproduce every seed exactly."""
    for name, (data, image) in seeds.items():
        np.testing.assert_array_equal(spec_decode(data, FUZZ_CAP), image, err_msg=name)


# --- every truncation and a few extensions, through the library and the CLI -----------------


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_every_truncation_is_refused_by_library_and_cli(golden, tmp_path, monkeypatch):
    """A cut file is 'empty' or 'truncated', whatever the cut, from bytes or from a path (which the message
    names); the CLI says so in one line and writes nothing. The CLI reads the file as the library does: it
    gets every cut of the header (version 4: up to the end of the tile table), the last few, and one in
    eight of the others, all of which meet the same check of the file's length."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    data = golden.read_bytes()
    name = f"cut-{golden.name}"
    header_end = container.header_length(data, None)
    for length in range(len(data)):
        Path(name).write_bytes(data[:length])
        word = "empty" if length == 0 else "truncated"
        for call in (vqcodec.decode, vqcodec.info):
            for source in (data[:length], Path(name)):
                with pytest.raises(vqcodec.FormatError, match=word):
                    call(source)
        with pytest.raises(vqcodec.FormatError, match=f"^{re.escape(name)}: .*{word}"):
            vqcodec.decode(name)
        if length <= header_end or length % 8 == 0 or length >= len(data) - 4:
            assert_refused(runner.invoke(main, ["decode", name, "-o", "out.png"]), name, word)
            assert_refused(runner.invoke(main, ["info", name]), name, word)
            assert listing(tmp_path) == {name}, length  # no output, no hidden temporary file


@pytest.mark.parametrize("extra", [1, 1000])
@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_trailing_bytes_are_refused_by_library_and_cli(golden, extra, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = f"long-{golden.name}"
    data = golden.read_bytes() + bytes(range(256)) * (extra // 256) + bytes(extra % 256)
    Path(name).write_bytes(data)
    with pytest.raises(vqcodec.FormatError, match="trailing"):
        vqcodec.decode(data)
    for args in (["decode", name, "-o", "out.png"], ["info", name]):
        assert_refused(CliRunner().invoke(main, args), name, "trailing")
        assert listing(tmp_path) == {name}


# --- a path's header is checked before the rest is read --------------------------------------

HOLE = 1 << 30  # sparse: costs no disk, but reading it would allocate 1 GiB


def sparse_vqc(path: Path, width: int, height: int, version: int, channels: int = 1, block: int = 1,
               k: int = 256) -> Path:
    """A header declaring the given image, then a hole up to HOLE bytes (no payload actually written)."""
    with open(path, "wb") as f:
        f.write(b"\x89VQC" + struct.pack("<BBBBIIII", version, channels, block, 1, width, height, k, k))
        if version == 2:  # a raw codebook and packed indices, as long as the image needs
            f.write(struct.pack("<BBBQBBQ", 2, 1, 0, k * block * block * channels, 2, 0, width * height))
        f.truncate(HOLE)
    return path


@pytest.mark.parametrize(
    ("width", "height", "error", "word"),
    [
        pytest.param(2**31 - 1, 2**31 - 1, vqcodec.TooManyPixelsError, "cap", id="above-the-cap"),
        # 8192 x 8192 grey is under the cap and declares 67 MB; the file is 1 GiB: refused for its length
        pytest.param(8192, 8192, vqcodec.FormatError, "trailing", id="under-the-cap-wrong-length"),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_a_path_is_refused_from_its_header_without_reading_the_payload(tmp_path, monkeypatch, width, height, error, word,
                                                                      version):
    path = sparse_vqc(tmp_path / "huge.vqc", width, height, version)
    for call in (vqcodec.decode, vqcodec.info):
        _, peak = peak_allocation(lambda: pytest.raises(REFUSED, call, path))
        assert peak < 1 << 20, peak  # the 1 GiB file was never read
    with pytest.raises(error, match=word):
        vqcodec.decode(path)
    monkeypatch.chdir(tmp_path)
    for args in (["decode", "huge.vqc", "-o", "out.png"], ["info", "huge.vqc"]):
        result, peak = peak_allocation(lambda: CliRunner().invoke(main, args))
        assert_refused(result, "huge.vqc")
        assert peak < 16 << 20, peak
    assert listing(tmp_path) == {"huge.vqc"}


# --- version 3: the container as hostile input -------------------------------------------------------


def _golden(name="v3-rgba-21x13-b3-k8"):
    return (GOLDEN / f"{name}.vqc").read_bytes()


def _resign(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))


def test_every_truncation_is_refused():
    data = _golden()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            vqcodec.decode(data[:n])


@pytest.mark.parametrize("name", ["v3-rgb-61x43-q60", "v3-grey-47x33-q40"])
def test_mutations_decode_or_fail_with_one_line(name):
    """Any byte changed (CRC recomputed so that the decoders see it): a clean FormatError or an image."""
    data = bytearray(_golden(name))
    rng = np.random.default_rng(7)
    for _ in range(150):
        mutated = bytearray(data)
        for at in rng.integers(0, len(data) - 4, 1 + rng.integers(0, 3)):
            mutated[at] = rng.integers(0, 256)
        try:
            pixels = vqcodec.decode(_resign(bytes(mutated)), max_pixels=1 << 16).pixels
        except FormatError as exc:
            assert "\n" not in str(exc)
        except vqcodec.TooManyPixelsError:
            pass
        else:
            assert pixels.dtype == np.uint8


@pytest.mark.parametrize("name", ["v3-rgba-21x13-b3-k8", "v3-rgb444-23x17-q100", "v3-rgba-opaque-39x27"])
def test_changed_bytes_decode_as_specified_or_are_refused(name):
    """The same changes with the reference decoder as the oracle, on the smaller files (spec_vqc is slow):
    with the CRC recomputed, each change reaches the plane records or a section's stream, and vqcodec
    decodes what spec_vqc decodes, or both refuse the file."""
    data = _golden(name)
    rng = np.random.default_rng(11)
    for _ in range(150):
        mutated = bytearray(data)
        for at in rng.integers(0, len(data) - 4, 1 + rng.integers(0, 3)):
            mutated[at] = rng.integers(0, 256)
        mutated = _resign(bytes(mutated))
        expected = spec_decode(mutated, 1 << 16)
        decoded, _ = outcome(decode_pixels, mutated, max_pixels=1 << 16)
        if expected is None:
            assert decoded is None
        else:
            np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("offset,value,message", [
    (6, 3, "colour"), (6, 1, "needs 3 or 4 channels"), (5, 0, "channel count"), (16, 1 << 17, "requested"),
    (20, 17, "block size"), (21, 0, "cell"), (21, 65, "cell"), (22, 0, "step"), (23, 5, "fill"),
    (24, 0, "constant"), (24, 1 << 20, "codebook size"), (28, 1 << 40, "means section"),
])
def test_hostile_plane_records_are_refused(offset, value, message):
    data = bytearray(_golden("v3-grey-47x33-q40"))
    size = {5: 1, 6: 1, 16: 4, 20: 1, 21: 1, 22: 1, 23: 1, 24: 4, 28: 8}[offset]
    data[offset : offset + size] = value.to_bytes(size, "little")
    with pytest.raises(FormatError, match=message):
        container.parse_header(bytes(data), None)


def test_header_bounds_every_section_before_reading():
    """A length the header allows is still limited by the image: a huge claim is refused at once."""
    data = bytearray(_golden("v3-grey-47x33-q40"))
    data[44:52] = (1 << 30).to_bytes(8, "little")  # the index section of plane 0
    with pytest.raises(FormatError, match="indices section"):
        vqcodec.info(bytes(data))


# --- version 4: tiles and their table as hostile input ---------------------------------------------


def _v4(name: str = "v4-grey-70x75-t32") -> bytes:
    return (GOLDEN / f"{name}.vqc").read_bytes()


def _put(data: bytes, *changes: tuple[int, str, int], crc: bool = True) -> bytes:
    """`data` with each (offset, struct format, value) written in it, and the CRC recomputed unless crc=False."""
    out = bytearray(data)
    for offset, fmt, value in changes:
        struct.pack_into(fmt, out, offset, value)
    if crc:
        fix_crc(out)
    return bytes(out)


def v4_lengths(data: bytes) -> list[tuple[int, str, int]]:
    """(offset, struct format, bound) of every section length of a valid version-4 file, in section order:
    each coded plane's codebook length (in its plane record; not with a shared codebook's entry alone), then its tiles'
    means and index lengths, and
    with REFINE refinement lengths (in the tile table), with the bounds of docs/format.md. Found by spec_vqc,
    not by vqcodec."""
    header = spec_vqc.read_header(data)
    at = 24 + 24 * header["channels"] + (spec_vqc.IDENTITY if header["tools"] & spec_vqc.SHARED else 0)
    out = []
    for p, plane in enumerate(header["planes"]):
        if plane["k"]:
            if not plane["tools"] & spec_vqc.SHARED_BOOK or plane["tools"] & spec_vqc.EXTENDED:  # (else it is 1)
                out.append((24 + 24 * p + 16, "<Q", 32 * plane["k"] * plane["block"] ** 2 + 8))
            for *_, th, tw in spec_vqc.tiles_of(plane):
                means_bound, index_bound = spec_vqc.tile_bounds(plane, th, tw)
                out += [(at, "<I", means_bound), (at + 4, "<I", index_bound)]
                at += 8
                if plane["tools"] & spec_vqc.REFINE:
                    out.append((at, "<I", 32 * th * tw + 9))
                    at += 4
    return out


def table_size(plane: dict) -> int:
    """Bytes of a coded plane's part of the tile table (spec_vqc's header fields): 8 a tile, 12 with REFINE."""
    return (12 if plane["tools"] & spec_vqc.REFINE else 8) * len(spec_vqc.tiles_of(plane))


def assert_refused_everywhere(data: bytes, folder: Path, *words: str, header_check: bool = True,
                              error: type = FormatError) -> None:
    """spec_vqc refuses `data`; vqcodec.decode (and vqcodec.info, for a header check) refuses it with one
    line holding every word; so do `vqcodec decode` (and `vqcodec info`), writing nothing."""
    assert spec_decode(data, FUZZ_CAP) is None
    for call in (vqcodec.decode, vqcodec.info) if header_check else (vqcodec.decode,):
        with pytest.raises(error) as caught:
            call(data)
        message = str(caught.value)
        assert "\n" not in message, message
        for word in words:
            assert word.lower() in message.lower(), (word, message)
    folder.mkdir(exist_ok=True)
    path = folder / "hostile.vqc"
    path.write_bytes(data)
    commands = [["decode", str(path), "-o", str(folder / "out.png")]] + ([["info", str(path)]] if header_check else [])
    for args in commands:
        assert_refused(CliRunner().invoke(main, args), *words)
        assert listing(folder) == {"hostile.vqc"}


TOOLS_BROKEN_TOO = [  # (golden file, offset of a tools field, its value, (offset, format, value) of a field after
    # it that a tool might change, broken too, the plane whose tools these are, None for the file's)
    ("v4-grey-70x75-t32", 20, 2, (6, "<B", 9), None),  # file tools, then a colour id that does not exist
    ("v4-grey-70x75-t32", 20, 1 << 31, (24, "<B", 99), None),  # file tools, then plane 0's block side
    ("v4-rgba-45x37-t32", 20, 1 << 12, (24 + 24 * 3 + 12, "<I", 0), None),  # then plane 3's tile side
    *(("v4-rgba-45x37-t32", 24 + 24 * p + 8, 1 << (8 * p + 5), (24 + 24 * p + 12, "<I", 16 + p), p) for p in range(4)),
    ("v4-la-constant-39x35-t32", 24 + 24 + 8, 1 << 31, (24 + 24, "<B", 3), 1),  # a constant plane's tools count too
]


@pytest.mark.parametrize(("name", "offset", "value", "later", "plane"), TOOLS_BROKEN_TOO)
def test_v4_unknown_tools_need_a_newer_vqcodec(name, offset, value, later, plane, tmp_path):
    """A tool bit this vqcodec does not know: refused as needing a newer vqcodec, also when a field after the
    tools is broken too (the tools are checked before the fields they might change)."""
    data = _put(_v4(name), (offset, "<I", value))
    assert_refused_everywhere(data, tmp_path / "alone", "needs a newer vqcodec", "plane" if plane is not None else "file")
    if plane is not None:
        assert f"plane {plane}" in str(pytest.raises(FormatError, vqcodec.info, data).value)
    broken = _put(data, later)
    assert_refused_everywhere(broken, tmp_path / "broken", "needs a newer vqcodec")


@pytest.mark.parametrize(("name", "plane", "tile"), [
    # b = 2, g = 8: below 32 (multiples of both among them), not a multiple of g, above 4096
    ("v4-grey-70x75-t32", 0, 0), ("v4-grey-70x75-t32", 0, 1), ("v4-grey-70x75-t32", 0, 8),
    ("v4-grey-70x75-t32", 0, 16), ("v4-grey-70x75-t32", 0, 24), ("v4-grey-70x75-t32", 0, 31),
    ("v4-grey-70x75-t32", 0, 33), ("v4-grey-70x75-t32", 0, 36), ("v4-grey-70x75-t32", 0, 60),
    ("v4-grey-70x75-t32", 0, 4097), ("v4-grey-70x75-t32", 0, 4104), ("v4-grey-70x75-t32", 0, 8192),
    ("v4-grey-70x75-t32", 0, 2**32 - 1),
    # b = 3, g = 8: 24 is a multiple of both but below 32; 40 and 64 not of b, 33 and 45 not of g
    ("v4-grey-61x53-b3-t48", 0, 16), ("v4-grey-61x53-b3-t48", 0, 21), ("v4-grey-61x53-b3-t48", 0, 24),
    ("v4-grey-61x53-b3-t48", 0, 33), ("v4-grey-61x53-b3-t48", 0, 40), ("v4-grey-61x53-b3-t48", 0, 45),
    ("v4-grey-61x53-b3-t48", 0, 64),
    ("v4-grey-61x53-b3-t48", 0, 4104),  # 171 x 24: a multiple of b and g, but above 4096
    ("v4-rgb420-75x67-t32", 1, 0), ("v4-rgb420-75x67-t32", 2, 16), ("v4-rgb420-75x67-t32", 2, 31),
    ("v4-rgba-45x37-t32", 3, 4100), ("v4-rgba-45x37-t32", 1, 16),
])
def test_v4_tile_sides_out_of_range_are_refused(name, plane, tile, tmp_path):
    """Below 32, above 4096, or not a multiple of both the block side and the cell side."""
    assert_refused_everywhere(_put(_v4(name), (24 + 24 * plane + 12, "<I", tile)), tmp_path, "tile side")


@pytest.mark.parametrize(("name", "plane", "tile"), [
    ("v4-grey-70x75-t32", 0, 40), ("v4-grey-70x75-t32", 0, 64), ("v4-grey-70x75-t32", 0, 4096),  # 2 x 2, 1 tile
    ("v4-grey-47x33-one-tile", 0, 32),  # 2 x 2 tiles instead of 1
    ("v4-grey-61x53-b3-t48", 0, 72), ("v4-grey-61x53-b3-t48", 0, 4080),  # one tile instead of 2 x 2
    ("v4-rgb420-75x67-t32", 0, 48), ("v4-rgb420-75x67-t32", 1, 64),  # 2 x 2, and one chroma tile
    ("v4-rgb420-75x67-t32", 2, 4096), ("v4-k1-rgb-38x35-t32", 0, 64), ("v4-rgba-45x37-t32", 3, 48),
])
def test_v4_another_valid_tile_side_is_refused_for_its_table(name, plane, tile, tmp_path):
    """A tile side that is valid but not the file's, and cuts the plane into another number of tiles: the
    tile table has another number of entries, so its lengths, the file size or the streams no longer fit."""
    data = _v4(name)
    header = spec_vqc.read_header(data)
    old = header["planes"][plane]
    assert old["tile"] != tile
    assert spec_vqc.tile_grid(old["width"], old["height"], tile) != spec_vqc.tile_grid(old["width"], old["height"],
                                                                                       old["tile"])
    assert_refused_everywhere(_put(data, (24 + 24 * plane + 12, "<I", tile)), tmp_path)


@pytest.mark.parametrize(("name", "plane", "tile"), [
    ("v4-grey-47x33-one-tile", 0, 48), ("v4-grey-47x33-one-tile", 0, 4096),
    ("v4-rgba-45x37-t32", 1, 4096), ("v4-k1-rgb-38x35-t32", 2, 4000),  # 23 x 19 and 19 x 18 chroma planes
])
def test_v4_another_tile_side_that_cuts_the_plane_alike_decodes_the_same(name, plane, tile):
    """A plane that is one tile is that tile whatever the side, as long as the side is valid and covers it:
    the tile table, the sections and the image are the same."""
    data = _v4(name)
    hostile = _put(data, (24 + 24 * plane + 12, "<I", tile))
    assert vqcodec.info(hostile).planes[plane].tile == tile
    np.testing.assert_array_equal(decode_pixels(hostile), decode_pixels(data))
    np.testing.assert_array_equal(decode_pixels(hostile), spec_decode(hostile, FUZZ_CAP))


@pytest.mark.parametrize("path", V4_GOLDEN_FILES, ids=lambda p: p.stem)
def test_v4_section_lengths_beyond_their_bound_are_refused(path, tmp_path):
    """The codebook's, the first tiles', a middle one's and the last one's lengths: one more than the bound
    (32 per codeword sample, cell or block of the tile, plus 8) or the largest the field holds is refused for
    the length, whatever the rest; exactly the bound is refused for the file size."""
    data = path.read_bytes()
    lengths = v4_lengths(data)
    middle = len(lengths) // 2
    for n, (offset, fmt, bound) in enumerate(sorted(set(lengths[:3] + lengths[middle:middle + 2] + lengths[-2:]))):
        for value in (bound + 1, 256 ** struct.calcsize(fmt) - 1):
            hostile = _put(data, (offset, fmt, value))
            if n == 0:  # the CLI too, once per file
                assert_refused_everywhere(hostile, tmp_path, "more than the", str(bound))
            with pytest.raises(FormatError, match=f"more than the {bound} "):
                vqcodec.info(hostile)
            assert spec_vqc.read_header(hostile) is None
        (old,) = struct.unpack_from(fmt, data, offset)
        if old < bound:
            with pytest.raises(FormatError, match="truncated"):
                vqcodec.decode(_put(data, (offset, fmt, bound)))
            assert spec_vqc.read_header(_put(data, (offset, fmt, bound))) is None


@pytest.mark.parametrize("name", ["v4-grey-70x75-t32", "v4-la-constant-39x35-t32", "v4-rgb420-75x67-t32"])
def test_v4_lengths_past_the_end_of_the_file_are_refused(name, tmp_path):
    """Each section length one more than it is (the lengths then sum past the end of the file), or as much
    as its bound allows: truncated; one less: trailing bytes. The CLI says it in one line too."""
    data = _v4(name)
    for n, (offset, fmt, bound) in enumerate(v4_lengths(data)):
        (old,) = struct.unpack_from(fmt, data, offset)
        for value, word in ((old + 1, "truncated"), (bound, "truncated"), (old - 1, "trailing")):
            if value < 0 or value == old or value > bound:
                continue
            hostile = _put(data, (offset, fmt, value))
            if n < 3:
                assert_refused_everywhere(hostile, tmp_path, word)
            for call in (vqcodec.decode, vqcodec.info):
                with pytest.raises(FormatError, match=word):
                    call(hostile)
            assert spec_vqc.read_header(hostile) is None


@pytest.mark.parametrize("name", ["v4-grey-70x75-t32", "v4-k1-rgb-38x35-t32", "v4-la-constant-39x35-t32",
                                  "v4-grey-61x53-b3-t48", "v4-shared-extended-rgb420-61x53-t32"])
def test_v4_lengths_that_move_bytes_between_sections_decode_as_specified(name, tmp_path, monkeypatch):
    """Between every two sections in a row (a codebook and its plane's first means, a tile's means and
    index sections, one tile's index and the next one's means, the last tile of a plane and the next plane's
    codebook), 1 or 2 bytes or a whole section moved from one to the other, the total and the CRC kept right:
    the header is valid, and vqcodec decodes what spec_vqc decodes, or both refuse the file in one line."""
    monkeypatch.setenv("VQCODEC_CODEBOOKS", str(GOLDEN))  # where the command line finds the shared codebook
    data = _v4(name)
    lengths = v4_lengths(data)
    refused = 0
    for (first, first_fmt, _), (second, second_fmt, _) in itertools.pairwise(lengths):
        (a,) = struct.unpack_from(first_fmt, data, first)
        (b,) = struct.unpack_from(second_fmt, data, second)
        for moved in sorted({1, 2, a, -1, -2, -b} - {0}):  # > 0: the end of the first goes to the second
            if a - moved < 0 or b + moved < 0:
                continue
            hostile = _put(data, (first, first_fmt, a - moved), (second, second_fmt, b + moved))
            expected = spec_decode(hostile, FUZZ_CAP)
            decoded, _ = outcome(decode_pixels, hostile, max_pixels=FUZZ_CAP)
            if expected is None:
                assert decoded is None, (first, moved)
                refused += 1
                if refused == 1:
                    assert_refused_everywhere(hostile, tmp_path, header_check=spec_vqc.read_header(hostile) is None)
            else:
                np.testing.assert_array_equal(decoded, expected, err_msg=f"{first} {moved}")
    assert refused > 0


CONSTANT_PLANE = 24 + 24  # plane 1 of v4-la-constant-39x35-t32, its alpha, is constant


@pytest.mark.parametrize(("offset", "fmt", "value", "word"), [
    (CONSTANT_PLANE + 12, "<I", 32, "tile side"), (CONSTANT_PLANE + 12, "<I", 16, "tile side"),
    (CONSTANT_PLANE + 12, "<I", 1, "tile side"), (CONSTANT_PLANE + 12, "<I", 2**32 - 1, "tile side"),
    (CONSTANT_PLANE + 16, "<Q", 1, "constant"), (CONSTANT_PLANE + 0, "<B", 2, "constant"),
    (CONSTANT_PLANE + 1, "<B", 8, "constant"), (CONSTANT_PLANE + 2, "<B", 1, "constant"),
    (CONSTANT_PLANE + 8, "<I", 1, "tool"),  # FILTER, which a constant plane cannot have
])
def test_v4_a_constant_plane_has_no_tile_side_no_tool_and_no_sections(offset, fmt, value, word, tmp_path):
    assert_refused_everywhere(_put(_v4("v4-la-constant-39x35-t32"), (offset, fmt, value)), tmp_path, "plane 1", word)


def test_v4_a_constant_planes_fill_is_any_byte():
    data = _put(_v4("v4-la-constant-39x35-t32"), (CONSTANT_PLANE + 3, "<B", 7))
    decoded = vqcodec.decode(data).pixels
    assert (decoded[..., 1] == 7).all()
    np.testing.assert_array_equal(decoded, spec_decode(data, FUZZ_CAP))


def huge(width: int, height: int, tile: int, channels: int = 1, version: int = 4) -> bytes:
    """A version-4 (or 5) header of `channels` planes with b = g = 1, k = 1 and tile side `tile`, no tile
    table and no sections, and its CRC: what a file declaring that image and that many tiles starts with."""
    if version == 5:
        return with_crc(b"\x89VQC\x05" + varint.encode([channels, 0, 1, width, height, 0, 0]
                                                         + [1, 1, 1, 0, 1, 0, tile, 0] * channels))
    records = b"".join(struct.pack("<BBBBIIIQ", 1, 1, 1, 0, 1, 0, tile, 0) for _ in range(channels))
    return with_crc(b"\x89VQC" + struct.pack("<BBBBIIII", 4, channels, 0, 1, width, height, 0, 0) + records)


ENTRY = {4: 8, 5: 2}  # bytes of a tile table entry of zero lengths
BEYOND_SIZE = {4: 64 << 20, 5: 16 << 20}
TILED = pytest.mark.parametrize("version", [4, 5])


@TILED
@pytest.mark.parametrize(("width", "height", "tile", "channels"), [
    (2**31 - 1, 2**31 - 1, 32, 1),  # some 2^52 tiles
    (2**31 - 1, 2**31 - 1, 4096, 4),
    (1 << 16, 1 << 16, 32, 1),  # 2^22 tiles: a table of 32 MiB
    (1 << 14, 1 << 13, 32, 1),  # exactly the default cap: 2^17 tiles, 1 MiB of table
    (1 << 27, 1, 32, 4),  # the default cap in one row of tiles of 32 x 1: 2^24 tiles, 128 MiB of table
    (5000, 3, 32, 1),
])
def test_huge_images_with_many_tiles_are_refused_before_their_tile_table(width, height, tile, channels, version):
    """Above the cap: refused for the pixels. Without a cap, or under it: refused as truncated (the tile table
    is not there), at once and without allocating anything the header declares."""
    data = huge(width, height, tile, channels, version)
    assert spec_vqc.read_header(data) is None
    with hang_guard(10):
        for cap in (FUZZ_CAP, vqcodec.DEFAULT_MAX_PIXELS, None):
            (_, error), peak = peak_allocation(lambda cap=cap: outcome(decode_pixels, data, max_pixels=cap))
            assert peak < 1 << 20, (cap, peak)
            assert error is (vqcodec.TooManyPixelsError if cap is not None and width * height > cap else FormatError)
        _, peak = peak_allocation(lambda: pytest.raises(FormatError, vqcodec.info, data))
        assert peak < 1 << 20, peak
    with pytest.raises(FormatError, match="truncated"):
        vqcodec.info(data)


def sparse(path: Path, width: int, height: int, tile: int, channels: int = 1, size: int = HOLE,
           version: int = 4) -> Path:
    """A version-4 (or 5) header (b = g = 1, k = 1) declaring width x height in tiles of `tile`, then a hole
    up to `size` bytes: its tile table, if the file is long enough to hold one, is all zeros."""
    with open(path, "wb") as f:
        f.write(huge(width, height, tile, channels, version)[:-4])
        f.truncate(size)
    return path


@TILED
@pytest.mark.parametrize(("width", "height", "tile"), [(2**31 - 1, 2**31 - 1, 32), (1 << 16, 1 << 16, 32)])
def test_a_path_above_the_cap_is_refused_without_reading_its_tile_table(tmp_path, width, height, tile, version):
    path = sparse(tmp_path / "huge.vqc", width, height, tile, version=version)
    with hang_guard(10):
        (_, error), peak = peak_allocation(lambda: outcome(decode_pixels, path))
    assert error is vqcodec.TooManyPixelsError and peak < 1 << 20, (error, peak)


# A file of 64 MiB (version 4) or 16 MiB (version 5, whose entries of zero lengths take a byte each) whose
# header declares a tile table that does not fit in it (a 1 GiB file takes minutes).
# Tiles of at least 32 samples keep a table under the cap small, except in images of one row of tiles: 2^27 x 1
# in 4 planes takes 2^24 tiles of 32 x 1.
BEYOND = {"above the cap": (1 << 17, 1 << 17, 32, 1),  # 2^24 tiles: 128 MiB of table
          "under the cap": (1 << 27, 1, 32, 4)}  # 2^24 tiles: 128 MiB of table


@TILED
@pytest.mark.parametrize("case", BEYOND)
def test_a_tile_table_past_the_end_of_a_path_is_refused_from_its_size(tmp_path, monkeypatch, case, version):
    """The header and the file's size show the table is not there: refused as truncated without reading the
    file (which would take twice its size in memory), as versions 1 and 2 refuse such a path from its first
    bytes (test_a_path_is_refused_from_its_header_without_reading_the_payload), and version 4 from bytes in
    memory (test_huge_images_with_many_tiles_are_refused_before_their_tile_table). Pillow's Image.open
    reads the header the same way."""
    path = sparse(tmp_path / "beyond.vqc", *BEYOND[case], size=BEYOND_SIZE[version], version=version)
    calls = (vqcodec.info, lambda p: vqcodec.decode(p, max_pixels=None), vqcodec.decode)
    with hang_guard(30):
        for call in calls[:2] if case == "above the cap" else calls:
            _, peak = peak_allocation(lambda call=call: pytest.raises(FormatError, call, path))
            assert peak < 1 << 20, peak
        with pytest.raises(FormatError, match="truncated"):
            vqcodec.info(path)
        if case == "above the cap":
            with pytest.raises(vqcodec.TooManyPixelsError):
                vqcodec.decode(path)
        Image.init()  # the plugin registered in copies of Pillow's registries, which the test leaves as they were
        for name in ("ID", "OPEN", "SAVE", "EXTENSION", "MIME", "DECODERS"):
            monkeypatch.setattr(Image, name, type(getattr(Image, name))(getattr(Image, name)))
        vqcodec.register_pillow()
        with Image.open(GOLDEN / "v4-grey-70x75-t32.vqc") as valid:  # the plugin reads version 4
            assert valid.size == (70, 75)
        _, peak = peak_allocation(lambda: pytest.raises(UnidentifiedImageError, Image.open, path))
        assert peak < 1 << 20, peak


@pytest.mark.parametrize(("command", "case", "word"), [
    ("decode", "above the cap", "cap"), ("info", "above the cap", "truncated"),
    ("decode", "under the cap", "truncated"), ("info", "under the cap", "truncated"),
])
@TILED
def test_cli_refuses_a_file_whose_tile_table_cannot_fit_from_its_size(tmp_path, monkeypatch, command, case, word,
                                                                       version):
    """`vqcodec decode` refuses the file for the cap (or as truncated, under the cap) and `vqcodec info` as
    truncated, as for versions 1 and 2 from the first bytes
    (test_a_path_is_refused_from_its_header_without_reading_the_payload): the header that `decode` reads
    first, to see whether the decode needs the compiled kernels, is read only as far as the file's size
    allows, not the whole file."""
    sparse(tmp_path / "huge.vqc", *BEYOND[case], size=BEYOND_SIZE[version], version=version)
    monkeypatch.chdir(tmp_path)
    args = ["decode", "huge.vqc", "-o", "out.png"] if command == "decode" else ["info", "huge.vqc"]
    with hang_guard(30):
        result, peak = peak_allocation(lambda: CliRunner().invoke(main, args))
    assert_refused(result, "huge.vqc", word)
    assert listing(tmp_path) == {"huge.vqc"}
    assert peak < 16 << 20, peak


@TILED
def test_cli_decode_refuses_an_image_above_the_cap_without_reading_its_tile_table(tmp_path, monkeypatch, version):
    """A 4096 x 4096 grey image in tiles of 32 with its whole tile table (128 KiB, 16384 entries, all zero),
    decoded under a cap of a megapixel: `vqcodec decode` refuses it for the cap without reading the table,
    as vqcodec.decode does (test_a_path_above_the_cap_is_refused_without_reading_its_tile_table) and as
    it does when the table is not there. (At the default cap, a 16384 x 16384 image's table of 2 MiB takes
    some 46 MB and a second or two before the refusal.)"""
    width = height = 1 << 12
    header = huge(width, height, 32, version=version)
    (tmp_path / "huge.vqc").write_bytes(with_crc(header[:-4] + bytes(ENTRY[version] * (width // 32) * (height // 32))))
    _, peak = peak_allocation(lambda: pytest.raises(vqcodec.TooManyPixelsError, vqcodec.decode, tmp_path / "huge.vqc",
                                                    max_pixels=1 << 20))
    assert peak < 1 << 20, peak
    monkeypatch.chdir(tmp_path)
    warm = CliRunner().invoke(main, ["decode", str(GOLDEN / "v4-grey-70x75-t32.vqc"), "-o", "warm.png"])
    assert warm.exit_code == 0, warm.output  # what a version-4 decode imports is imported
    (tmp_path / "warm.png").unlink()
    with hang_guard(30):
        result, peak = peak_allocation(
            lambda: CliRunner().invoke(main, ["decode", "--max-pixels", "1000000", "huge.vqc", "-o", "out.png"]))
    assert_refused(result, "huge.vqc", "cap")
    assert listing(tmp_path) == {"huge.vqc"}
    assert peak < 1 << 20, peak  # measured: 2.85 MB, some 170 bytes a tile


@TILED
def test_a_hostile_tile_table_costs_a_small_part_of_the_image_it_describes(version):
    """An 8192 x 8192 grey image in tiles of 32, the smallest side: 65536 entries (512 KiB, all zero), then 41
    bytes more than the lengths add up to (refused as trailing, once the whole table is read). What vqcodec
    holds for the table is well under the 64 MiB image the header describes, and so under what the pixel cap
    lets such a file take; a smaller tile side, which would make the table larger (up to 8 bytes per byte of
    the image, in tiles of one sample), is refused for the tile side before a byte of the table is read."""
    width = height = 8192
    tiles = (width // 32) * (height // 32)
    data = with_crc(huge(width, height, 32, version=version)[:-4] + bytes(ENTRY[version] * tiles + 41))
    assert spec_vqc.read_header(data) is None

    def refuse(data=data, word="trailing"):
        with pytest.raises(FormatError, match=word):
            vqcodec.info(data)

    with hang_guard(30):
        _, peak = peak_allocation(refuse)
    # measured: 3,678,145 bytes, 7 times the table (a copy of the file, the table as it is stored, its
    # lengths and their bounds as 64-bit integers) and 5.5 % of the image's 64 MiB
    assert peak < min(12 * 8 * tiles, width * height // 8), peak
    for tile in (1, 8, 16, 31):
        small = with_crc(huge(width, height, tile, version=version)[:-4] + bytes(ENTRY[version] * tiles + 41))
        _, peak = peak_allocation(lambda small=small: refuse(small, "tile side"))
        assert peak < 1 << 20, (tile, peak)
        assert spec_vqc.read_header(small) is None


# --- version 5: version 4's fields as varints -------------------------------------------------------


V5_FILE = "v5-grey-70x75-t32"  # 3 x 3 tiles, 1 plane: varints 0-6 the header's, 7-14 plane 0's record, then the table


@pytest.mark.parametrize(("index", "value", "words"), [
    (0, 5, ["channel count 5"]),
    (0, 256, ["header", "256 is above 255"]),
    (1, 3, ["unknown colour transform 3"]),
    (3, 0, ["image size"]),
    (3, 2**32, ["header", "above 4294967295"]),
    (6, 2, ["needs a newer vqcodec"]),  # the file tools
    (7, 17, ["block size 17"]),  # plane 0's block side
    (9, 0, ["mean step 0"]),
    (12, 32, ["needs a newer vqcodec"]),  # plane 0's tools
    (13, 36, ["tile side 36"]),  # not a multiple of the cell side 8
    (14, 2**40, ["codebook section"]),
    (15, 10**6, ["tile (0, 0)", "means section of 1000000 bytes"]),  # the table's first entry
    (32, 2**32, ["tile table", "above 4294967295"]),  # its last
])
def test_v5_a_varint_out_of_range_is_refused_for_its_field(index, value, words, tmp_path):
    data = mutate(_v4(V5_FILE), [("v5-set", index, value), ("fix-crc",)])
    assert len(v5_varints(_v4(V5_FILE))) == 33
    assert_refused_everywhere(data, tmp_path, *words)


@pytest.mark.parametrize("index", [0, 3, 6, 7, 11, 14, 15, 32])
def test_v5_a_varint_longer_than_its_shortest_form_is_refused(index, tmp_path):
    """One spelling for each header: a value written with a byte more (its last byte continued by a zero
    byte) is refused, though it reads the same value."""
    data = mutate(_v4(V5_FILE), [("v5-long", index), ("fix-crc",)])
    assert_refused_everywhere(data, tmp_path, "not in its shortest form")


def test_v5_a_varint_that_does_not_end_is_refused():
    """Ten bytes with the top bit set: no value needs more, so the header is refused at once, whatever follows."""
    data = _v4(V5_FILE)
    start = v5_varints(data)[3][0]  # the width
    with pytest.raises(FormatError, match="has more than 10 bytes"):
        vqcodec.info(with_crc(data[:start] + b"\xff" * 40 + data[start + 1 : -4]))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("v4-*.vqc")), ids=lambda p: p.stem)
def test_v5_says_what_v4_says_in_fewer_bytes(path):
    """Every version-4 golden file rewritten as version 5 and back: the same header, the same sections, the
    same bytes back; both decoders read the same image from both."""
    data = path.read_bytes()
    compact = rewritten(data, 5)
    assert rewritten(compact, 4) == data and len(compact) < len(data)
    assert dataclasses.replace(vqcodec.info(compact), version=4) == vqcodec.info(data)
    image = decode_pixels(data)
    np.testing.assert_array_equal(decode_pixels(compact), image)
    np.testing.assert_array_equal(spec_decode(compact, FUZZ_CAP), image)


V4_CHANGES = 40  # per file: half of them with the CRC recomputed, so that they reach the checks after it


@pytest.mark.parametrize("path", V4_GOLDEN_FILES, ids=lambda p: p.stem)
def test_v4_changed_bytes_decode_as_specified_or_are_refused(path):
    """Bytes changed anywhere, or in the header, the plane records and the tile table (half the time): with
    the CRC recomputed or not, vqcodec decodes what spec_vqc decodes, or both refuse the file in one line."""
    data = path.read_bytes()
    header = spec_vqc.read_header(data)
    table_end = (24 + 24 * data[5] + (spec_vqc.IDENTITY if header["tools"] & spec_vqc.SHARED else 0)
                 + sum(table_size(p) for p in header["planes"] if p["k"]))
    rng = np.random.default_rng(17)
    for n in range(V4_CHANGES):
        mutated = bytearray(data)
        end = table_end if n % 4 < 2 else len(data) - 4
        for at in rng.integers(4, end, 1 + rng.integers(0, 3)):
            mutated[at] = rng.integers(0, 256)
        if n % 2 == 0:
            fix_crc(mutated)
        mutated = bytes(mutated)
        with hang_guard(10):
            expected = spec_decode(mutated, FUZZ_CAP)
            decoded, _ = outcome(decode_pixels, mutated, max_pixels=FUZZ_CAP)
        if expected is None:
            assert decoded is None, n
        else:
            np.testing.assert_array_equal(decoded, expected, err_msg=str(n))


FILTERED = [GOLDEN / f"{name}.vqc" for name in ("v4-filter-grey-70x75-t32", "v4-filter-rgb420-75x67-t32")]


@pytest.mark.parametrize("path", FILTERED, ids=lambda p: p.stem)
def test_v4_any_filter_weights_decode_as_specified_in_whole_and_in_regions(path):
    """Every byte of a filter section is valid: weights drawn at random, extremes included (the CRC
    recomputed), decode as spec_vqc decodes them, and a region as the whole image has it."""
    data = path.read_bytes()
    header = vqcodec.info(data)
    rng = np.random.default_rng(23)
    for n in range(6):
        mutated, at = bytearray(data), header.header_size
        for p in header.planes:
            at += sum(s.length for s in p.sections[:3])
            if p.tools & container.FILTER:
                weights = rng.integers(-128, 128, p.sections[3].length) if n else np.full(p.sections[3].length, -128)
                mutated[at : at + p.sections[3].length] = weights.astype(np.int8).tobytes()
                at += p.sections[3].length
        assert_decodes_as_specified_in_whole_and_in_regions(mutated, header, n)


def assert_decodes_as_specified_in_whole_and_in_regions(mutated: bytearray, header, n: int) -> None:
    """With its CRC recomputed, the file decodes as spec_vqc decodes it, and regions as the whole image has them."""
    fix_crc(mutated)
    mutated = bytes(mutated)
    whole = vqcodec.decode(mutated).pixels
    np.testing.assert_array_equal(whole, spec_decode(mutated, FUZZ_CAP), err_msg=str(n))
    for x, y, w, h in ((0, 0, 5, 7), (17, 31, 20, 9), (header.width - 3, header.height - 4, 3, 4)):
        np.testing.assert_array_equal(vqcodec.decode(mutated, crop=(x, y, w, h)).pixels, whole[y : y + h, x : x + w])


REFINED = [GOLDEN / f"{name}.vqc" for name in ("v4-refine-grey-70x75-t32", "v4-refine-rgb444-75x67-t32")]


def refinement_steps_at(header) -> list[int]:
    """Where the step of each non-empty refinement stream of a file is: its first byte."""
    at, places = header.header_size, []
    for p in header.planes:
        at += sum(s.length for s in p.sections[: 4 if p.tools & container.FILTER else 3])
        if p.tools & container.REFINE:
            starts = at + np.concatenate([[0], np.cumsum(p.tile_lengths()[:, 2])[:-1]])
            places += [int(start) for start, length in zip(starts, p.tile_lengths()[:, 2]) if length]
            at += p.sections[-1].length
    return places


@pytest.mark.parametrize("path", REFINED, ids=lambda p: p.stem)
def test_v4_any_refinement_step_decodes_as_specified_in_whole_and_in_regions(path):
    """Every step from 1 to 255 is valid: steps drawn at random, extremes included (the CRC recomputed),
    decode as spec_vqc decodes them, and a region as the whole image has it; a step of 0 is refused."""
    data = path.read_bytes()
    header = vqcodec.info(data)
    places = refinement_steps_at(header)
    assert places and all(data[at] for at in places)
    rng = np.random.default_rng(29)
    for n in range(5):
        mutated = bytearray(data)
        for at in places:
            mutated[at] = (1, 255)[n] if n < 2 else rng.integers(1, 256)
        assert_decodes_as_specified_in_whole_and_in_regions(mutated, header, n)
    mutated = bytearray(data)
    mutated[places[-1]] = 0
    fix_crc(mutated)
    assert spec_decode(bytes(mutated), FUZZ_CAP) is None
    with pytest.raises(FormatError, match="step of 0"):
        vqcodec.decode(bytes(mutated))
