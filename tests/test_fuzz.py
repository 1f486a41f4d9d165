"""The decoder against hostile files: mutated golden files, every truncation, forged sizes.

Whatever the bytes, `decode` and `info` either return what docs/FORMAT.md says
the file holds or raise FormatError / TooManyPixelsError; the CLI turns each
refusal into one `Error:` line and leaves no file behind. Nothing is allocated
from a header before it is validated.
"""
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
from click.testing import CliRunner
from conftest import assert_refused, listing, peak_allocation, random_image
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.cli import main

GOLDEN_FILES = sorted((Path(__file__).parent / "golden").glob("*.vqc"))
REFUSED = (vqcodec.FormatError, vqcodec.TooManyPixelsError)
# A valid K = 1 file of 32 bytes may declare any image up to the default cap (512 MiB of RGBA): that is
# what the cap allows, not a bug. The fuzz decodes under a 1-megapixel cap instead, so that any file it
# accepts needs some 16 MiB at most, and anything larger has to be refused before it is allocated.
FUZZ_CAP = 1 << 20
ALLOCATION_LIMIT = 64 << 20  # far below what the forged headers below declare, far above what a valid one needs


# --- FORMAT.md, read independently of container.py and bitpack.py -------------------------


def spec_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, channels, block, k) of a file whose header, length and CRC are valid, else None."""
    if len(data) < 28 or data[:4] != b"\x89VQC":
        return None
    version, channels, block, trainer, width, height, k, requested_k = struct.unpack_from("<BBBBIIII", data, 4)
    if not (version == 1 and 1 <= channels <= 4 and 1 <= block <= 16 and 1 <= trainer <= 3
            and 1 <= width < 2**31 and 1 <= height < 2**31):
        return None
    blocks = -(-width // block) * -(-height // block)
    if not (1 <= k <= min(65536, blocks) and k <= requested_k <= 65536):
        return None
    size = 24 + k * block * block * channels + -(-blocks * (k - 1).bit_length() // 8) + 4
    if len(data) != size or zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "little"):
        return None
    return width, height, channels, block, k


def spec_decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """The image FORMAT.md says `data` holds, or None when a decoder must refuse it."""
    fields = spec_header(data)
    if fields is None or fields[0] * fields[1] > max_pixels:
        return None
    width, height, channels, block, k = fields
    across, down = -(-width // block), -(-height // block)
    size = block * block * channels
    codebook = np.frombuffer(data, np.uint8, k * size, 24).reshape(k, size)
    bits = (k - 1).bit_length()
    stream = np.unpackbits(np.frombuffer(data[24 + k * size : -4], np.uint8), bitorder="little")
    if stream[across * down * bits :].any():  # padding bits must be zero
        return None
    if bits:  # index n is stream bits n*w .. n*w + w - 1, least significant first
        indices = stream[: across * down * bits].reshape(-1, bits) @ (1 << np.arange(bits))
    else:
        indices = np.zeros(across * down, int)
    if (indices >= k).any():
        return None
    tiles = codebook[indices].reshape(down, across, block, block, channels).transpose(0, 2, 1, 3, 4)
    image = tiles.reshape(down * block, across * block, channels)[:height, :width]
    return image[:, :, 0] if channels == 1 else image


# --- helpers ------------------------------------------------------------------------------


def decode_pixels(data, **kwargs) -> np.ndarray:
    return vqcodec.decode(data, **kwargs).pixels


def outcome(call, *args, **kwargs):
    """(result, None) or (None, the refusal's class); any other exception fails the test."""
    try:
        return call(*args, **kwargs), None
    except REFUSED as exc:
        assert "\n" not in str(exc), str(exc)  # the CLI prints it as a single line
        return None, type(exc)


@contextmanager
def hang_guard(seconds: float):
    """Fail instead of waiting forever: a Hypothesis deadline only judges examples that do end."""

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


ENCODED = ("encoded-rgba-5x5-b2-k3", "encoded-grey-5x6-b3-k1")
SEED_NAMES = sorted([p.stem for p in GOLDEN_FILES] + list(ENCODED))


@pytest.fixture(scope="module")
def seeds() -> dict[str, tuple[bytes, np.ndarray]]:
    """Valid files to mutate, with their decoded images: the golden files and two encoded here.

    K = 3 leaves one 2-bit value beyond the codebook, and 9 blocks leave 6 padding bits: both
    payload checks can fire, which the golden files' K (mostly powers of 2) rarely allow.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vqcodec.VQCodecWarning)  # the flat image's codebook shrinks to K = 1
        encoded = {
            ENCODED[0]: vqcodec.encode(random_image(5, 5, 4, seed=21), k=3, block=2).data,
            ENCODED[1]: vqcodec.encode(np.full((6, 5), 77, np.uint8), k=2, block=3).data,
        }
    assert vqcodec.info(encoded[ENCODED[0]]).k == 3 and vqcodec.info(encoded[ENCODED[1]]).k == 1
    files = {p.stem: p.read_bytes() for p in GOLDEN_FILES} | encoded
    assert sorted(files) == SEED_NAMES
    return {name: (data, vqcodec.decode(data).pixels) for name, data in files.items()}


FIELDS = {  # header field: (offset, struct format)
    "version": (4, "<B"), "channels": (5, "<B"), "block": (6, "<B"), "trainer": (7, "<B"),
    "width": (8, "<I"), "height": (12, "<I"), "k": (16, "<I"), "requested_k": (20, "<I"),
}
BYTE_FIELDS = [name for name, (_, fmt) in FIELDS.items() if fmt == "<B"]
WORD_FIELDS = [name for name, (_, fmt) in FIELDS.items() if fmt == "<I"]
BYTE_EXTREMES = [0, 1, 2, 3, 4, 5, 15, 16, 17, 127, 128, 255]
WORD_EXTREMES = [0, 1, 2, 3, 255, 256, 257, 65535, 65536, 65537, 2**31 - 1, 2**31, 2**32 - 1]
# Taken modulo the current length, so negative positions count from the end. The header fields after
# the magic and the last bytes (index padding, CRC) are drawn more often than their share.
position = st.integers(4, 27) | st.integers(-8, -1) | st.integers(-(1 << 12), 1 << 12)

mutations = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("set"), position, st.integers(0, 255)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("payload"), st.integers(0, 1 << 12), st.integers(1, 255)),  # flip past the header
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("field"), st.sampled_from(BYTE_FIELDS), st.sampled_from(BYTE_EXTREMES) | st.integers(0, 255)),
    st.tuples(st.just("field"), st.sampled_from(WORD_FIELDS), st.sampled_from(WORD_EXTREMES) | st.integers(0, 2**32 - 1)),
    st.tuples(st.just("nudge"), st.sampled_from(list(FIELDS)), st.integers(-2, 2)),  # near-valid neighbours
    st.tuples(st.just("fix-crc")),
)


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
        elif kind == "fix-crc":
            fix_crc(out)
    return bytes(out)


@settings(max_examples=1200, deadline=timedelta(seconds=2), derandomize=True, database=None)
@given(name=st.sampled_from(SEED_NAMES),
       steps=st.lists(mutations, max_size=5), recompute_crc=st.booleans())
def test_mutated_files_decode_as_specified_or_are_refused(seeds, name, steps, recompute_crc):
    """Mutations, header fields set to extremes and a recomputed CRC (so the header checks, not
    just the checksum, have to catch them): the decoder agrees with FORMAT.md read independently,
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
            assert (header.width, header.height, header.channels, header.block, header.k) == fields

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


def test_mutations_reach_the_header_checks(seeds):
    """The fuzz above is only as good as its mutations: header fields set with a fixed CRC must be
    refused for the field (not the checksum), and some near-valid rewrites must still decode."""
    data = seeds["rgb-37x29-b3-k16"][0]
    for field, value, word in [("channels", 0, "channel"), ("block", 17, "block"), ("width", 2**32 - 1, "image size"),
                               ("k", 2**32 - 1, "codebook size"), ("version", 255, "version"), ("trainer", 4, "trainer")]:
        with pytest.raises(vqcodec.FormatError, match=word):
            vqcodec.decode(mutate(data, [("field", field, value), ("fix-crc",)]))
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(mutate(data, [("field", "width", 2**31 - 1), ("field", "height", 2**31 - 1), ("fix-crc",)]))
    # 37 -> 38 pixels wide keeps 13 blocks of 3 across: still valid, one more column of the last blocks shows
    wider = vqcodec.decode(mutate(data, [("nudge", "width", 1), ("fix-crc",)])).pixels
    assert wider.shape == (29, 38, 3)
    np.testing.assert_array_equal(wider[:, :37], seeds["rgb-37x29-b3-k16"][1])
    np.testing.assert_array_equal(wider, spec_decode(mutate(data, [("nudge", "width", 1), ("fix-crc",)]), FUZZ_CAP))


def test_reference_decoder_agrees_with_the_golden_images(seeds):
    """spec_decode is the fuzz's oracle, so it must itself reproduce every seed exactly."""
    for name, (data, image) in seeds.items():
        np.testing.assert_array_equal(spec_decode(data, FUZZ_CAP), image, err_msg=name)


# --- every truncation and a few extensions, through the library and the CLI -----------------


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_every_truncation_is_refused_by_library_and_cli(golden, tmp_path, monkeypatch):
    """A cut file is 'empty' or 'truncated', whatever the cut; the CLI says so in one line and writes nothing."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    data = golden.read_bytes()
    name = f"cut-{golden.name}"
    for length in range(len(data)):
        Path(name).write_bytes(data[:length])
        for call in (vqcodec.decode, vqcodec.info):
            for source in (data[:length], Path(name)):
                with pytest.raises(vqcodec.FormatError, match="empty|truncated"):
                    call(source)
        with pytest.raises(vqcodec.FormatError, match=re.escape(name)):
            vqcodec.decode(name)
        word = "empty" if length == 0 else "truncated"
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


def sparse_vqc(path: Path, width: int, height: int, channels: int = 1, block: int = 1, k: int = 256) -> Path:
    """A header declaring the given image, then a hole up to HOLE bytes (no payload actually written)."""
    with open(path, "wb") as f:
        f.write(b"\x89VQC" + struct.pack("<BBBBIIII", 1, channels, block, 1, width, height, k, k))
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
def test_a_path_is_refused_from_its_header_without_reading_the_payload(tmp_path, monkeypatch, width, height, error, word):
    path = sparse_vqc(tmp_path / "huge.vqc", width, height)
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
