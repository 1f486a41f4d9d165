"""The decoder against hostile files: mutated golden files, every truncation, forged sizes.

Whatever the bytes, `decode` and `info` either return what docs/format.md says
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
import spec_vqc
from click.testing import CliRunner
from helpers import GOLDEN, assert_refused, listing, peak_allocation, random_image, v1_file
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.api import DECODERS
from vqcodec.cli.commands import main
from vqcodec.errors import FormatError
from vqcodec.format import container

GOLDEN_FILES = sorted(GOLDEN.glob("*.vqc"))
# spec_vqc, the fuzz's oracle, reads versions 1 and 2; the version 3 files are fuzzed at the end of this file
SPEC_GOLDEN_FILES = [p for p in GOLDEN_FILES if not p.stem.startswith("v3-")]
REFUSED = (vqcodec.FormatError, vqcodec.TooManyPixelsError)
# A valid K = 1 file of 32 bytes may declare any image up to the default cap (512 MiB of RGBA): that is
# what the cap allows, not a bug. The fuzz decodes under a 1-megapixel cap instead, so that any file it
# accepts needs some 16 MiB at most, and anything larger has to be refused before it is allocated.
FUZZ_CAP = 1 << 20
ALLOCATION_LIMIT = 64 << 20  # far below what the forged headers below declare, far above what a valid one needs


# --- format.md, read independently: tests/format/spec_vqc.py was written from the page alone ----------


def spec_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, channels, block, k) of a file whose header, length and CRC are valid, else None."""
    h = spec_vqc.read_header(data)
    return None if h is None else (h["width"], h["height"], h["channels"], h["block"], h["k"])


def spec_decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """The image format.md says `data` holds, or None when a decoder must refuse it."""
    return spec_vqc.decode(data, max_pixels)


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


ENCODED = ("encoded-rgba-5x5-b2-k3", "encoded-grey-5x6-b3-k1", "encoded-v1-rgba-5x5-b2-k3")
SEED_NAMES = sorted([p.stem for p in SPEC_GOLDEN_FILES] + list(ENCODED))


@pytest.fixture(scope="module")
def seeds() -> dict[str, tuple[bytes, np.ndarray]]:
    """Valid files to mutate, with their decoded images: the golden files and three encoded here.

    K = 3 leaves one 2-bit value beyond the codebook, and 9 blocks leave 6 padding bits: both
    payload checks can fire, which the golden files' K (mostly powers of 2) rarely allow.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vqcodec.VQCodecWarning)  # the flat image's codebook shrinks to K = 1
        noise = vqcodec.encode(random_image(5, 5, 4, seed=21), k=3, block=2, fixed_rate=True)
        encoded = {
            ENCODED[0]: noise.data,
            ENCODED[1]: vqcodec.encode(np.full((6, 5), 77, np.uint8), k=2, block=3, classic=True).data,
        }
    parts = DECODERS[2].run(data=noise.data, max_pixels=None)  # the same file in version 1
    encoded[ENCODED[2]] = v1_file(5, 5, 4, 2, 3, 3, 1, parts["codebook"], parts["indices"])
    assert vqcodec.info(encoded[ENCODED[0]]).k == 3 and vqcodec.info(encoded[ENCODED[1]]).k == 1
    files = {p.stem: p.read_bytes() for p in SPEC_GOLDEN_FILES} | encoded
    assert sorted(files) == SEED_NAMES
    return {name: (data, vqcodec.decode(data).pixels) for name, data in files.items()}


FIELDS = {  # header field: (offset, struct format); from "count" on, version 2's section table
    "version": (4, "<B"), "channels": (5, "<B"), "block": (6, "<B"), "trainer": (7, "<B"),
    "width": (8, "<I"), "height": (12, "<I"), "k": (16, "<I"), "requested_k": (20, "<I"),
    "count": (24, "<B"), "kind_1": (25, "<B"), "coding_1": (26, "<B"), "length_1": (27, "<Q"),
    "kind_2": (35, "<B"), "coding_2": (36, "<B"), "length_2": (37, "<Q"),
}
FIELDS_OF = {size: [name for name, (_, fmt) in FIELDS.items() if fmt == size] for size in ("<B", "<I", "<Q")}
EXTREMES = {
    "<B": [0, 1, 2, 3, 4, 5, 15, 16, 17, 127, 128, 255],
    "<I": [0, 1, 2, 3, 255, 256, 257, 65535, 65536, 65537, 2**31 - 1, 2**31, 2**32 - 1],
    "<Q": [0, 1, 2, 3, 4, 5, 16, 100, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1],
}
# Taken modulo the current length, so negative positions count from the end. The header fields after
# the magic, the section table and the last bytes (stream ends, index padding, CRC) are drawn more
# often than their share.
position = st.integers(4, 44) | st.integers(-8, -1) | st.integers(-(1 << 12), 1 << 12)

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
