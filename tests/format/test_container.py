"""The container of both versions: build (version 2), parse, and refuse hostile files."""
import zlib

import numpy as np
import pytest
from helpers import huge_single_codeword_vqc, make_vqc, rewrite, rewrite_section, with_crc
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.format import bitpack
from vqcodec.format import codings
from vqcodec.format import container
from vqcodec.format.container import COUNT, HEADER, SECTION, Header, Section

BAD = (vqcodec.FormatError, vqcodec.TooManyPixelsError)


def parse_error(data, max_pixels=container.DEFAULT_MAX_PIXELS, error=vqcodec.FormatError) -> str:
    """The message of the error that parsing and decoding `data` must raise (both the same)."""
    with pytest.raises(error) as info:
        decode(data, max_pixels)
    return str(info.value).lower()


def decode(data, max_pixels=container.DEFAULT_MAX_PIXELS):
    """Header, codebook and indices of a version 1 or 2 file: the container and both section decoders."""
    header, payloads = container.parse(data, max_pixels)
    assert header.version in (1, 2), header  # version 3 (planes) is tested in test_fuzz.py and test_golden.py
    codebook, indices = payloads  # in the order of header.sections, which version 2 fixes as KINDS
    return header, codings.decode_section(header, "codebook", codebook), codings.decode_section(header, "indices", indices)


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
    smooth = draw(st.booleans())  # codebooks and indices the adaptive codings can shrink, or noise
    if smooth:
        codebook = (np.arange(k)[:, None] * 255 // max(k - 1, 1) + np.zeros(header.codeword_size, int)).astype(np.uint8)
        indices = np.minimum(np.arange(header.block_count) // max(1, header.block_count // k), k - 1)
    else:
        codebook = rng.integers(0, 256, (k, header.codeword_size), dtype=np.uint8)
        indices = rng.integers(0, k, header.block_count)
    return header, codebook, indices, draw(st.booleans())


@settings(max_examples=80)
@given(files())
def test_build_parse_round_trip(case):
    header, codebook, indices, fixed_rate = case
    header, payloads = codings.encode_sections(header, {"codebook": codebook, "indices": indices}, fixed_rate)
    data = container.build(header, payloads)
    assert len(data) == 25 + 2 * 10 + sum(map(len, payloads)) + 4 == header.file_size
    for section in header.sections:  # the smaller coding, the fixed one on a tie
        fixed = header.fixed_length(section.kind)
        assert section.length <= fixed
        assert (section.coding == container.CODINGS[section.kind][0]) == (fixed_rate or section.length == fixed)
    parsed, parsed_codebook, parsed_indices = decode(data)
    assert parsed == header
    np.testing.assert_array_equal(parsed_codebook, codebook)
    np.testing.assert_array_equal(parsed_indices, indices)
    assert container.read_header(data) == header
    assert container.parse_header(data[: header.header_size]) == header
    assert container.header_length(data[:24]) == 25 and container.header_length(data[:25]) == header.header_size


def test_fixed_rate_sizes_follow_from_the_header():
    data, header, codebook, indices = make_vqc(width=30, height=20, channels=3, block=3, k=17)
    assert [s.coding for s in header.sections] == ["raw", "packed"]
    assert len(data) == 25 + 20 + 17 * 27 + -(-70 * 5 // 8) + 4


def test_version_2_header_fields_are_little_endian(small_vqc):
    data, header, _, _ = small_vqc
    assert data[:4] == b"\x89VQC"
    assert data[4] == header.version
    assert (data[5], data[6], data[7]) == (header.channels, header.block, 1)
    assert int.from_bytes(data[8:12], "little") == header.width
    assert int.from_bytes(data[12:16], "little") == header.height
    assert int.from_bytes(data[16:20], "little") == header.k
    assert int.from_bytes(data[20:24], "little") == header.requested_k
    assert int.from_bytes(data[-4:], "little") == zlib.crc32(data[:-4])
    if header.version == 2:
        assert data[24] == 2
        assert SECTION.unpack_from(data, 25) == (1, 0, header.k * header.codeword_size)
        assert SECTION.unpack_from(data, 35) == (2, 0, header.packed_index_bytes)


def test_version_1_is_read_as_a_raw_codebook_and_packed_indices():
    data, header, codebook, indices = make_vqc(version=1)
    assert header.version == 1 and header.header_size == 24
    assert header.sections == (Section("codebook", "raw", 12), Section("indices", "packed", 1))
    assert header.file_size == len(data) == 24 + 12 + 1 + 4
    _, parsed_codebook, parsed_indices = decode(data)
    np.testing.assert_array_equal(parsed_codebook, codebook)
    np.testing.assert_array_equal(parsed_indices, indices)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("trainer_id", [0, 5, 9, 255])
def test_unknown_trainer_ids_are_read(version, trainer_id):
    """The trainer is informative: a file from a trainer this version does not know still decodes."""
    data, header, codebook, _ = make_vqc(version=version, trainer="centnn")
    assert data[7] == 2 and header.trainer == "centnn"
    parsed, parsed_codebook, _ = decode(rewrite(data, trainer=trainer_id))
    assert parsed.trainer == f"unknown ({trainer_id})"
    np.testing.assert_array_equal(parsed_codebook, codebook)


@pytest.mark.parametrize("version", [1, 2])
def test_single_codeword_has_no_index_bytes(version):
    data, header, codebook, _ = make_vqc(width=5, height=5, block=2, k=1, requested_k=7, version=version)
    assert header.index_bits == 0 and header.section("indices").length == 0
    assert len(data) == header.header_size + 4 + 4
    parsed, parsed_codebook, indices = decode(data)
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
    data[small_vqc[1].header_size] ^= 0x01  # a codebook byte
    assert "checksum" in parse_error(bytes(data))


@pytest.mark.parametrize("max_pixels", [container.DEFAULT_MAX_PIXELS, None, 12])
def test_every_single_byte_flip(small_vqc, max_pixels):
    data = small_vqc[0]
    for position in range(len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        with pytest.raises(BAD):
            decode(bytes(corrupt), max_pixels)
        with pytest.raises(BAD):
            vqcodec.decode(bytes(corrupt), max_pixels=max_pixels)


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_after_the_magic(tail):
    with pytest.raises(BAD):
        container.parse(container.MAGIC + tail)


@settings(max_examples=400)
@given(
    st.tuples(
        st.integers(0, 3), st.integers(0, 6), st.integers(0, 18), st.integers(0, 3),
        st.integers(0, 40), st.integers(0, 40), st.integers(0, 70), st.integers(0, 70),
    ),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 130)), max_size=3),
    st.binary(max_size=120),
)
def test_arbitrary_headers_with_valid_crc(fields, table, payload):
    """Whatever the header and section table say, a file either decodes consistently or raises a vqcodec error."""
    version, channels, block, trainer, width, height, k, requested_k = fields
    body = HEADER.pack(container.MAGIC, version, channels, block, trainer, width, height, k, requested_k)
    if version == 2:
        body += COUNT.pack(len(table)) + b"".join(SECTION.pack(*entry) for entry in table)
    data = with_crc(body + payload)
    try:
        header = container.parse(data)[0]
        if header.version == container.PLANES_VERSION:  # these bytes can spell a version 3 file too (constant planes)
            assert vqcodec.decode(data).pixels.shape[:2] == (header.height, header.width)
            return
        header, codebook, indices = decode(data)
    except BAD:
        return
    assert len(data) == header.file_size
    assert codebook.shape == (header.k, header.codeword_size)
    assert indices.size == header.block_count and (indices.size == 0 or indices.max() < header.k)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"version": 0}, "version"),
        ({"version": 6}, "version"),  # the first after those this vqcodec reads (1 to 5)
        ({"channels": 0}, "channel"),
        ({"channels": 5}, "channel"),
        ({"block": 0}, "block"),
        ({"block": 17}, "block"),
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


@pytest.mark.parametrize(
    ("entry", "fields", "word"),
    [
        (0, {"kind": 0}, "kind"),
        (0, {"kind": 3}, "kind"),
        (0, {"kind": 2}, "sections are indices, indices"),
        (1, {"kind": 1}, "sections are codebook, codebook"),
        (0, {"coding": 2}, "codebook section: unknown coding 2"),
        (1, {"coding": 255}, "indices section: unknown coding 255"),
        (0, {"length": 11}, "codebook section: 11 bytes, but raw it takes 12"),
        (1, {"length": 2}, "indices section: 2 bytes, but packed it takes 1"),
        (0, {"coding": 1, "length": 2**64 - 1}, "codebook section: 18446744073709551615 bytes predicted, not fewer than 12 raw"),
        (1, {"coding": 1, "length": 1}, "indices section: 1 bytes context, not fewer than 1 packed"),
        (0, {"coding": 1, "length": 11}, "trailing"),
        (1, {"coding": 1, "length": 0}, "trailing"),
    ],
)
def test_invalid_section_table_entry(entry, fields, word):
    data = make_vqc()[0]
    assert word in parse_error(rewrite_section(data, entry, **fields))


@pytest.mark.parametrize("count", [0, 1, 3, 255])
def test_a_version_2_file_holds_two_sections(count):
    data = make_vqc()[0]
    table = data[25:45]
    tables = {0: b"", 1: table[:10], 3: table + table[:10], 255: table * 127 + table[:10]}
    forged = with_crc(data[:24] + bytes([count]) + tables[count] + data[45:-4])
    assert "sections are" in parse_error(forged)
    assert "truncated" in parse_error(forged[: 25 + 10 * count - 1])


def test_validation_order_follows_format_md(small_vqc):
    # format.md, Validation: "checks, in this order: magic, version, channels, block side, ..."
    assert "channel" in parse_error(rewrite(small_vqc[0], channels=0, block=0))
    data = small_vqc[0]
    if small_vqc[1].version == 2:  # the header fields before the section table, the table before the pixel cap
        assert "channel" in parse_error(rewrite(rewrite_section(data, 0, kind=7), channels=0))
        assert "kind" in parse_error(rewrite(rewrite_section(data, 0, kind=7), width=2**31 - 1, height=2**31 - 1))


def test_valid_rewrite_is_accepted(small_vqc):
    # the helper itself: rewriting with unchanged values keeps a valid file
    assert rewrite(small_vqc[0]) == small_vqc[0]
    assert container.parse(rewrite(small_vqc[0], requested_k=300))[0].requested_k == 300


def test_nonzero_padding_bits(small_vqc):
    data, header, _, _ = make_vqc(width=2, height=2, block=1, k=2, version=small_vqc[1].version)
    assert header.section("indices").length == 1  # 4 indices of 1 bit, 4 padding bits
    body = bytearray(data[:-4])
    body[-1] |= 0x80
    assert "padding" in parse_error(with_crc(bytes(body)))


def test_index_beyond_codebook(small_vqc):
    data, header, _, indices = small_vqc
    assert header.k == 3 and header.index_bits == 2 and indices[0] == 0
    body = bytearray(data[:-4])
    body[header.header_size + header.section("codebook").length] |= 0b11  # first index := 3, not below K = 3
    message = parse_error(with_crc(bytes(body)))
    assert "index" in message and "3" in message


@pytest.mark.parametrize("version", [1, 2])
def test_pixel_cap_fires_before_length_and_allocation(version):
    # 2^31-1 x 2^31-1 RGBA, b = 1, K = 2: the header alone, far too short for what it declares.
    side = (1 << 31) - 1
    header = HEADER.pack(container.MAGIC, version, 4, 1, 1, side, side, 2, 2)
    if version == 2:
        header += COUNT.pack(2) + SECTION.pack(1, 0, 8) + SECTION.pack(2, 0, side * side // 8 + 1)
    data = with_crc(header + bytes(8))
    assert "cap" in parse_error(data, error=vqcodec.TooManyPixelsError)
    with pytest.raises(vqcodec.TooManyPixelsError):
        container.parse_header(header)
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(data)
    # without a cap the length check refuses it, still without allocating the image
    assert "truncated" in parse_error(data, max_pixels=None)


@pytest.mark.parametrize("version", [1, 2])
def test_huge_single_codeword_file_is_refused_by_the_cap(version):
    data = huge_single_codeword_vqc(version)
    assert container.read_header(data, None).block_count == ((1 << 31) - 1) ** 2
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.decode(data)


@pytest.mark.parametrize("version", [1, 2])
def test_huge_single_codeword_file_without_cap_fails_cleanly(version):
    # With the cap lifted (max_pixels=None, CLI --max-pixels 0) the file is consistent, so decoding
    # must fail with a vqcodec error (or at worst MemoryError, which the CLI reports), never with
    # a stray NumPy exception that the CLI turns into a traceback.
    with pytest.raises((vqcodec.VQCodecError, MemoryError)):
        vqcodec.decode(huge_single_codeword_vqc(version), max_pixels=None)


def test_pixel_cap_boundary(small_vqc):
    data, header, _, _ = small_vqc
    pixels = header.width * header.height
    assert container.parse(data, pixels)[0] == header
    assert container.parse(data, None)[0] == header
    with pytest.raises(vqcodec.TooManyPixelsError, match="max-pixels|max_pixels"):
        container.parse(data, pixels - 1)


def test_build_refuses_inconsistent_arguments():
    header = Header(4, 4, 1, 2, 2, 2, "kmeans", 2, (Section("codebook", "raw", 8), Section("indices", "packed", 1)))
    container.build(header, (bytes(8), bytes(1)))
    with pytest.raises(ValueError):
        container.build(header, (bytes(8), bytes(2)))
    with pytest.raises(vqcodec.FormatError):
        container.build(Header(4, 4, 1, 2, 5, 5, "kmeans", 2, header.sections), (bytes(8), bytes(1)))
    with pytest.raises(vqcodec.FormatError):
        container.build(Header(4, 4, 1, 2, 2, 2, "kmeans", 2, header.sections[::-1]), (bytes(1), bytes(8)))


def test_index_width_of_header_matches_bitpack():
    for k in (1, 2, 3, 256, 257, 1000):
        header = Header(100, 100, 1, 1, k, k, "kmeans")
        assert header.index_bits == bitpack.index_width(k)
