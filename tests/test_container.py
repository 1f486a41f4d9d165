import zlib

import numpy as np
import pytest
from conftest import huge_single_codeword_vqc, make_vqc, rewrite, with_crc
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import bitpack, container
from vqcodec.container import HEADER, Header

BAD = (vqcodec.FormatError, vqcodec.TooManyPixelsError)


def parse_error(data, max_pixels=container.DEFAULT_MAX_PIXELS, error=vqcodec.FormatError) -> str:
    with pytest.raises(error) as info:
        container.parse(data, max_pixels)
    return str(info.value).lower()


# --- building and parsing valid files -------------------------------------------------------


@st.composite
def files(draw):
    channels = draw(st.integers(1, 4))
    block = draw(st.integers(1, 5))
    width = draw(st.integers(1, 20))
    height = draw(st.integers(1, 20))
    header0 = Header(width, height, channels, block, 1, 1, "kmeans")
    k = draw(st.integers(1, min(header0.block_count, 300)))
    requested_k = draw(st.integers(k, container.MAX_K))
    trainer = draw(st.sampled_from(sorted(container.TRAINERS.values())))
    header = Header(width, height, channels, block, k, requested_k, trainer)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    codebook = rng.integers(0, 256, (k, header.codeword_size), dtype=np.uint8)
    indices = rng.integers(0, k, header.block_count)
    return header, codebook, indices


@settings(max_examples=60)
@given(files())
def test_build_parse_round_trip(case):
    header, codebook, indices = case
    data = container.build(header, codebook, indices)
    blocks_n = -(-header.width // header.block) * -(-header.height // header.block)
    width = (header.k - 1).bit_length()
    formula = 24 + header.k * header.block**2 * header.channels + -(-blocks_n * width // 8) + 4
    assert len(data) == formula == header.file_size
    parsed, parsed_codebook, parsed_indices = container.parse(data)
    assert parsed == header
    np.testing.assert_array_equal(parsed_codebook, codebook)
    np.testing.assert_array_equal(parsed_indices, indices)
    assert container.read_header(data) == header
    assert container.parse_header(data[: HEADER.size]) == header


def test_format_md_example_bytes():
    # docs/FORMAT.md: a 2 x 1 grey image with pixels 10 and 250, b = 1, K = 2.
    header = Header(2, 1, 1, 1, 2, 2, "kmeans")
    data = container.build(header, np.array([[250], [10]]), np.array([1, 0]))
    expected = bytes.fromhex(
        "89565143" "01" "01" "01" "01" "02000000" "01000000" "02000000" "02000000" "fa0a" "01" "da3c8600"
    )
    assert data == expected
    assert len(data) == 31


def test_header_fields_are_little_endian(small_vqc):
    data, header, _, _ = small_vqc
    assert data[:4] == b"\x89VQC"
    assert data[4] == 1
    assert (data[5], data[6], data[7]) == (header.channels, header.block, 1)
    assert int.from_bytes(data[8:12], "little") == header.width
    assert int.from_bytes(data[12:16], "little") == header.height
    assert int.from_bytes(data[16:20], "little") == header.k
    assert int.from_bytes(data[20:24], "little") == header.requested_k
    assert int.from_bytes(data[-4:], "little") == zlib.crc32(data[:-4])


def test_trainer_id_of_centnn():
    data, *_ = make_vqc(trainer="centnn")
    assert data[7] == 2
    assert container.read_header(data).trainer == "centnn"


def test_single_codeword_has_no_index_bytes():
    data, header, codebook, _ = make_vqc(width=5, height=5, block=2, k=1, requested_k=7)
    assert header.index_bits == 0 and header.index_bytes == 0
    assert len(data) == 24 + 4 + 4
    parsed, parsed_codebook, indices = container.parse(data)
    assert parsed.requested_k == 7
    assert indices.tolist() == [0] * 9
    np.testing.assert_array_equal(parsed_codebook, codebook)


# --- hostile input: every failure is a FormatError (or TooManyPixelsError) -------------------


def test_empty_data():
    assert "empty" in parse_error(b"")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + bytes(40), b"VQC\x89" + bytes(40), b"x", b"\x89VQ\x00"])
def test_bad_magic(data):
    assert "magic" in parse_error(data)


def test_every_truncation(small_vqc):
    data = small_vqc[0]
    for length in range(len(data)):
        message = parse_error(data[:length])
        assert ("empty" if length == 0 else "truncated") in message, (length, message)
        with pytest.raises(vqcodec.FormatError):
            vqcodec.decode(data[:length])


def test_one_trailing_byte(small_vqc):
    assert "trailing" in parse_error(small_vqc[0] + b"\x00")


def test_checksum_mismatch(small_vqc):
    data = bytearray(small_vqc[0])
    data[HEADER.size] ^= 0x01  # a codebook byte
    assert "checksum" in parse_error(bytes(data))


@pytest.mark.parametrize("max_pixels", [container.DEFAULT_MAX_PIXELS, None, 12])
def test_every_single_byte_flip(small_vqc, max_pixels):
    data = small_vqc[0]
    for position in range(len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        with pytest.raises(BAD):
            container.parse(bytes(corrupt), max_pixels)
        with pytest.raises(BAD):
            vqcodec.decode(bytes(corrupt), max_pixels=max_pixels)


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_after_the_magic(tail):
    with pytest.raises(BAD):
        container.parse(container.MAGIC + tail)


@settings(max_examples=300)
@given(
    st.tuples(
        st.integers(0, 3), st.integers(0, 6), st.integers(0, 18), st.integers(0, 3),
        st.integers(0, 40), st.integers(0, 40), st.integers(0, 70), st.integers(0, 70),
    ),
    st.binary(max_size=120),
)
def test_arbitrary_headers_with_valid_crc(fields, payload):
    # Whatever the header says, a file either parses consistently or raises a FormatError.
    version, channels, block, trainer, width, height, k, requested_k = fields
    body = HEADER.pack(container.MAGIC, version, channels, block, trainer, width, height, k, requested_k) + payload
    try:
        header, codebook, indices = container.parse(with_crc(body))
    except BAD:
        return
    assert len(body) + 4 == header.file_size
    assert codebook.shape == (header.k, header.codeword_size)
    assert indices.size == header.block_count and (indices.size == 0 or indices.max() < header.k)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"version": 0}, "version"),
        ({"version": 2}, "version"),
        ({"channels": 0}, "channel"),
        ({"channels": 5}, "channel"),
        ({"block": 0}, "block"),
        ({"block": 17}, "block"),
        ({"trainer": 0}, "trainer"),
        ({"trainer": 4}, "trainer"),
        ({"width": 0}, "image size"),
        ({"height": 0}, "image size"),
        ({"width": 1 << 31}, "image size"),
        ({"k": 0}, "codebook size"),
        ({"k": 5}, "codebook size"),  # 4 blocks only
        ({"width": 1000, "height": 1000, "block": 1, "k": 65537, "requested_k": 65537}, "codebook size"),
        ({"requested_k": 2}, "requested"),  # below K = 3
        ({"requested_k": 65537}, "requested"),
    ],
)
def test_invalid_header_field(small_vqc, fields, word):
    assert word in parse_error(rewrite(small_vqc[0], **fields))


def test_validation_order_follows_format_md(small_vqc):
    # FORMAT.md, Validation: "checks, in this order: magic, version, channels, block side, ..., trainer"
    # so a file with a bad channel count and a bad trainer id is refused for its channel count.
    assert "channel" in parse_error(rewrite(small_vqc[0], channels=0, trainer=9))


def test_valid_rewrite_is_accepted(small_vqc):
    # the helper itself: rewriting with unchanged values keeps a valid file
    assert rewrite(small_vqc[0]) == small_vqc[0]
    assert container.parse(rewrite(small_vqc[0], requested_k=300))[0].requested_k == 300


def test_nonzero_padding_bits():
    data, header, _, _ = make_vqc(width=2, height=2, block=1, k=2)  # 4 indices of 1 bit, 4 padding bits
    assert header.index_bytes == 1
    body = bytearray(data[:-4])
    body[-1] |= 0x80
    assert "padding" in parse_error(with_crc(bytes(body)))


def test_index_beyond_codebook(small_vqc):
    data, header, _, indices = small_vqc
    assert header.k == 3 and header.index_bits == 2 and indices[0] == 0
    body = bytearray(data[:-4])
    body[HEADER.size + header.codebook_bytes] |= 0b11  # first index := 3, not below K = 3
    message = parse_error(with_crc(bytes(body)))
    assert "index" in message and "3" in message


def test_pixel_cap_fires_before_length_and_allocation():
    # 2^31-1 x 2^31-1 RGBA, b = 1, K = 2: the header alone, far too short for what it declares.
    header = HEADER.pack(container.MAGIC, 1, 4, 1, 1, (1 << 31) - 1, (1 << 31) - 1, 2, 2)
    data = with_crc(header + bytes(8))
    assert "cap" in parse_error(data, error=vqcodec.TooManyPixelsError)
    with pytest.raises(vqcodec.TooManyPixelsError):
        container.parse_header(header)
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(data)
    # without a cap the length check refuses it, still without allocating the image
    assert "truncated" in parse_error(data, max_pixels=None)


def test_huge_single_codeword_file_is_refused_by_the_cap():
    data = huge_single_codeword_vqc()
    assert container.read_header(data, None).block_count == ((1 << 31) - 1) ** 2
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(data)


def test_huge_single_codeword_file_without_cap_fails_cleanly():
    # With the cap lifted (max_pixels=None, CLI --max-pixels 0) the file is consistent, so decoding
    # must fail with a vqcodec error (or at worst MemoryError, which the CLI reports), never with
    # a stray NumPy exception that the CLI turns into a traceback.
    with pytest.raises((vqcodec.VQCodecError, MemoryError)):
        container.parse(huge_single_codeword_vqc(), None)


def test_pixel_cap_boundary(small_vqc):
    data, header, _, _ = small_vqc
    pixels = header.width * header.height
    assert container.parse(data, pixels)[0] == header
    assert container.parse(data, None)[0] == header
    with pytest.raises(vqcodec.TooManyPixelsError, match="max-pixels|max_pixels"):
        container.parse(data, pixels - 1)


def test_build_refuses_inconsistent_arguments():
    header = Header(4, 4, 1, 2, 2, 2, "kmeans")
    with pytest.raises(ValueError):
        container.build(header, np.zeros((3, 4), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError):
        container.build(header, np.zeros((2, 4), np.uint8), np.zeros(5, np.int64))
    with pytest.raises(vqcodec.FormatError):
        container.build(Header(4, 4, 1, 2, 5, 5, "kmeans"), np.zeros((5, 4), np.uint8), np.zeros(4, np.int64))


def test_index_width_of_header_matches_bitpack():
    for k in (1, 2, 3, 256, 257, 1000):
        header = Header(100, 100, 1, 1, k, k, "kmeans")
        assert header.index_bits == bitpack.index_width(k)
