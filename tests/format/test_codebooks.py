"""Shared codebooks (.vqcb) and the files that need them: the .vqcb as hostile input, read alike by
vqcodec and by spec_vqc (written from docs/format.md alone), and a .vqc's shared codebook checked before
any pixel is decoded: missing, another, or an entry that is not there or not the plane's."""
import struct
import zlib
from datetime import timedelta

import numpy as np
import pytest
import spec_vqc
from click.testing import CliRunner
from helpers import GOLDEN, GOLDEN_CODEBOOK, assert_refused, listing, peak_allocation
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.cli.commands import main
from vqcodec.format import codebooks, container

SHARED = GOLDEN_CODEBOOK.read_bytes()
COLOUR, GREY = GOLDEN / "v4-shared-rgb420-45x37-t32.vqc", GOLDEN / "v4-shared-grey-40x36.vqc"
EXTENDED = GOLDEN / "v4-shared-extended-rgb420-61x53-t32.vqc"  # planes 0 and 2: an entry and codewords of their own
HEAD, ENTRY = 7, 10  # bytes of a .vqcb's head and of an entry record


def resigned(data: bytes | bytearray) -> bytes:
    """The bytes with their CRC-32 recomputed: the checks before the checksum must catch what is wrong."""
    data = bytearray(data)
    data[-4:] = struct.pack("<I", zlib.crc32(data[:-4]))
    return bytes(data)


def with_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return resigned(out)


def entries_of(data: bytes):
    return [(kind, quality, book) for kind, quality, book in vqcodec.read_codebook(data).entries]


# --- the .vqcb --------------------------------------------------------------------------------------


def test_a_shared_codebook_round_trips_and_is_named_by_its_hash():
    rng = np.random.default_rng(1)
    books = [(1, 50, rng.integers(0, 256, (7, 4), dtype=np.uint8)), (0, 90, rng.integers(0, 256, (300, 4), np.uint8)),
             (0, 10, np.full((1, 4), 128, np.uint8))]
    shared = codebooks.build(2, books)
    assert [(k, q) for k, q, _ in shared.entries] == [(0, 10), (0, 90), (1, 50)]  # sorted by kind, then quality
    for (_, _, ours), (_, _, given_book) in zip(shared.entries, sorted(books, key=lambda e: e[:2])):
        np.testing.assert_array_equal(ours, given_book)
    assert shared.identity == __import__("hashlib").sha256(shared.data).digest()[:8]
    assert shared.name == shared.identity.hex() and len(shared.name) == 16
    again = vqcodec.read_codebook(shared.data)
    assert again.name == shared.name and spec_vqc.read_vqcb(shared.data) is not None


@pytest.mark.parametrize(("kind", "quality", "entry"), [
    (0, 75, 1), (0, 80, 1), (0, 60, 0), (0, 0, 0), (0, 100, 1), (1, 75, 2), (1, 0, 2), (2, 50, None)])
def test_an_encode_takes_the_entry_of_its_kind_nearest_its_quality(kind, quality, entry):
    shared = codebooks.build(2, [(0, 40, np.zeros((2, 4), np.uint8)), (0, 80, np.ones((2, 4), np.uint8)),
                                 (1, 60, np.ones((3, 4), np.uint8))])
    assert shared.entry_for(kind, quality) == entry  # 60 is as near 40 as 80: the lower


def test_the_golden_shared_codebook_reads_alike_in_both_decoders():
    ours, theirs = entries_of(SHARED), spec_vqc.read_vqcb(SHARED)
    assert [(k, q) for k, q, _ in ours] == [(k, q) for k, q, _ in theirs]
    for (_, _, a), (_, _, b) in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


ENTRY0 = HEAD  # the first entry record: kind, quality, K, length
HOSTILE = [  # (what is changed, the words of the refusal)
    (lambda d: b"", "bad magic"),
    (lambda d: b"\x89VQC" + d[4:], "bad magic"),
    (lambda d: d[:6], "truncated"),
    (lambda d: with_field(d, 4, "<B", 2), "version 2"),
    (lambda d: with_field(d, 5, "<B", 0), "block side 0"),
    (lambda d: with_field(d, 5, "<B", 17), "block side 17"),
    (lambda d: with_field(d, 6, "<B", 0), "at least one"),
    (lambda d: with_field(d, 6, "<B", 255), "truncated"),
    (lambda d: with_field(d, ENTRY0, "<B", 2), "kind 2"),
    (lambda d: with_field(d, ENTRY0 + 1, "<B", 101), "quality 101"),
    (lambda d: with_field(d, ENTRY0 + 2, "<I", 0), "K = 0"),
    (lambda d: with_field(d, ENTRY0 + 2, "<I", 65537), "K = 65537"),
    (lambda d: with_field(d, ENTRY0 + 6, "<I", 32 * 23 * 4 + 9), "more than the 2952"),
    (lambda d: with_field(d, ENTRY0 + ENTRY + 1, "<B", 40), "not after codebook 0"),  # two entries alike
    (lambda d: with_field(d, ENTRY0 + ENTRY + 1, "<B", 30), "not after codebook 0"),
    (lambda d: with_field(with_field(d, ENTRY0 + 2, "<I", 65536), 5, "<B", 16), "samples"),  # 2^24 + more
    (lambda d: resigned(d[:-5] + d[-4:]), "header says"),
    (lambda d: resigned(d[:-4] + b"\0" + d[-4:]), "header says"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "checksum"),
    (lambda d: resigned(d[:HEAD + 4 * ENTRY] + bytes([d[HEAD + 4 * ENTRY] ^ 0x80]) + d[HEAD + 4 * ENTRY + 1:]),
     "codebook 0"),
]


@pytest.mark.parametrize(("change", "words"), HOSTILE)
def test_a_hostile_shared_codebook_is_refused_in_one_line(change, words, tmp_path):
    data = change(SHARED)
    assert spec_vqc.read_vqcb(data) is None
    with pytest.raises(vqcodec.FormatError) as caught:
        vqcodec.read_codebook(data)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    path = tmp_path / "hostile.vqcb"
    path.write_bytes(data)
    for args in (["decode", str(COLOUR), "-o", str(tmp_path / "out.png"), "--codebook", str(path)],
                 ["encode", str(GOLDEN / "v4-shared-grey-40x36.png"), "-o", str(tmp_path / "out.vqc"),
                  "--codebook", str(path)]):
        assert_refused(CliRunner().invoke(main, args), "hostile.vqcb", words)
    assert listing(tmp_path) == {"hostile.vqcb"}


def test_every_truncation_of_a_shared_codebook_is_refused():
    for n in range(len(SHARED)):
        assert spec_vqc.read_vqcb(SHARED[:n]) is None
        with pytest.raises(vqcodec.FormatError):
            vqcodec.read_codebook(SHARED[:n])


@settings(max_examples=600, deadline=timedelta(seconds=2), derandomize=True, database=None)
@given(steps=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255), st.sampled_from(["set", "xor", "insert",
                                                                                          "delete"])),
                      min_size=1, max_size=4), recompute_crc=st.booleans())
def test_mutated_shared_codebooks_read_as_specified_or_are_refused(steps, recompute_crc):
    """Whatever the bytes: both readers refuse them, or both read the same codebooks; and nothing a forged
    record asks for is allocated before it is checked."""
    data = bytearray(SHARED)
    for at, value, kind in steps:
        at %= len(data) + (kind == "insert")
        if kind == "set" and at < len(data):
            data[at] = value
        elif kind == "xor" and at < len(data):
            data[at] ^= value or 1
        elif kind == "insert":
            data[at:at] = bytes([value])
        elif kind == "delete":
            del data[at : at + 1 + value % 8]
    data = resigned(data) if recompute_crc and len(data) >= 4 else bytes(data)
    expected = spec_vqc.read_vqcb(data)
    try:
        result, peak = peak_allocation(lambda: vqcodec.read_codebook(data))
    except vqcodec.FormatError as exc:
        assert expected is None and "\n" not in str(exc)
        return
    assert peak < 64 << 20
    assert expected is not None
    assert [(k, q) for k, q, _ in result.entries] == [(k, q) for k, q, _ in expected]
    for (_, _, a), (_, _, b) in zip(result.entries, expected):
        np.testing.assert_array_equal(a, b)


# --- a .vqc that needs one ---------------------------------------------------------------------------


def test_a_file_that_needs_a_shared_codebook_it_is_not_given_names_it(tmp_path, monkeypatch):
    monkeypatch.delenv("VQCODEC_CODEBOOKS", raising=False)
    name = vqcodec.read_codebook(SHARED).name
    assert vqcodec.info(COLOUR).codebook.hex() == name  # the header is readable without it
    with pytest.raises(vqcodec.CodebookError, match=f"needs shared codebook {name}: give it .*--codebook"):
        vqcodec.decode(COLOUR)
    assert spec_vqc.decode(COLOUR.read_bytes(), 1 << 20) is None
    result = CliRunner().invoke(main, ["decode", str(COLOUR), "-o", str(tmp_path / "out.png")])
    assert_refused(result, name, "VQCODEC_CODEBOOKS")
    assert listing(tmp_path) == set()
    result = CliRunner().invoke(main, ["info", str(COLOUR)])
    assert result.exit_code == 0 and f"shared codebook {name}" in result.output


def test_a_file_given_another_shared_codebook_is_refused_before_any_pixel(tmp_path):
    other = codebooks.build(2, [(kind, quality, book) for kind, quality, book in vqcodec.read_codebook(SHARED).entries
                                if quality == 80] + [(0, 40, np.full((23, 4), 128, np.uint8)),
                                                     (1, 40, np.full((3, 4), 128, np.uint8))])
    assert [len(b) for _, _, b in other.entries] == [len(b) for _, _, b in vqcodec.read_codebook(SHARED).entries]
    with pytest.raises(vqcodec.CodebookError, match=f"the one given is {other.name}"):
        vqcodec.decode(COLOUR, codebook=other.data)  # the same entries' sizes: without the identity, it would decode
    assert spec_vqc.decode(COLOUR.read_bytes(), 1 << 20, other.data) is None
    path = tmp_path / "other.vqcb"
    path.write_bytes(other.data)
    assert_refused(CliRunner().invoke(main, ["decode", str(COLOUR), "-o", str(tmp_path / "o.png"), "--codebook",
                                             str(path)]), other.name)
    assert listing(tmp_path) == {"other.vqcb"}


def test_a_shared_codebook_is_found_in_the_folders_the_environment_names(tmp_path, monkeypatch):
    expected = vqcodec.decode(COLOUR, codebook=SHARED).pixels
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "broken.vqcb").write_bytes(SHARED[:-1])  # passed over
    (tmp_path / "a" / "other.vqcb").write_bytes(codebooks.build(2, [(0, 1, np.zeros((1, 4), np.uint8))]).data)
    (tmp_path / "b" / "any name.vqcb").write_bytes(SHARED)
    monkeypatch.setenv("VQCODEC_CODEBOOKS", f"{tmp_path / 'a'}:{tmp_path / 'missing'}:{tmp_path / 'b'}")
    np.testing.assert_array_equal(vqcodec.decode(COLOUR).pixels, expected)
    result = CliRunner().invoke(main, ["decode", str(COLOUR), "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("VQCODEC_CODEBOOKS", str(tmp_path / "a"))
    with pytest.raises(vqcodec.CodebookError):
        vqcodec.decode(COLOUR)
    (tmp_path / "a" / "broken.vqcb").write_bytes(SHARED)  # mended: a file read before is read again once changed
    np.testing.assert_array_equal(vqcodec.decode(COLOUR).pixels, expected)
    (tmp_path / "a" / "broken.vqcb").write_bytes(SHARED[:-2])  # and broken again
    with pytest.raises(vqcodec.CodebookError):
        vqcodec.decode(COLOUR)


def test_a_thumbnail_needs_no_shared_codebook():
    assert vqcodec.decode(COLOUR, thumbnail=True).pixels.shape == (5, 6, 3)


def codebook_section_of(path) -> int:
    """Where plane 0's codebook section (its entry number, with SHARED_BOOK) starts."""
    data = path.read_bytes()
    return spec_vqc._parse(data)["body_start"]


@pytest.mark.parametrize(("path", "entry", "words"), [
    (COLOUR, 4, "entry 4 of shared codebook"),  # there are 4: 0 to 3
    (COLOUR, 255, "entry 255"),
    (COLOUR, 1, "of 301 codewords"),  # an entry there, of another K
    (GREY, 2, "of 3 codewords"),
    (EXTENDED, 1, "of 301 codewords of 2 x 2, where it has 31 of 2 x 2 with its own after them"),  # none fewer
])
def test_an_entry_that_is_not_there_or_not_the_planes_is_refused(path, entry, words, tmp_path):
    data = bytearray(path.read_bytes())
    data[codebook_section_of(path)] = entry
    data = resigned(data)
    assert spec_vqc.decode(data, 1 << 20, SHARED) is None
    with pytest.raises(vqcodec.FormatError, match=words):
        vqcodec.decode(data, codebook=SHARED)
    vqcodec.info(data)  # the header alone is valid


PLANE_TOOLS, BOOK_LENGTH = 24 + 8, 24 + 16  # plane 0's record: its tools and its codebook length


@pytest.mark.parametrize(("changes", "words"), [
    ([(20, "<I", 0)], "names none"),  # a plane takes one, the file names none (and the identity is read as table)
    ([(PLANE_TOOLS, "<I", 0)], "no plane takes one"),  # the file names one, no plane takes it
    ([(BOOK_LENGTH, "<Q", 2)], "is 2 bytes, not 1"),
    ([(BOOK_LENGTH, "<Q", 0)], "is 0 bytes, not 1"),
    ([(PLANE_TOOLS, "<I", container.EXTENDED)], "extends a shared codebook's entry, but takes none"),
    ([(PLANE_TOOLS, "<I", container.SHARED_BOOK | container.EXTENDED), (BOOK_LENGTH, "<Q", 0)],
     "is 0 bytes, not 1 or more"),
])
def test_shared_tools_that_disagree_are_refused(changes, words):
    data = GREY.read_bytes()
    for offset, fmt, value in changes:
        data = with_field(data, offset, fmt, value)
    assert spec_vqc.read_header(data) is None and spec_vqc.decode(data, 1 << 20, SHARED) is None
    with pytest.raises(vqcodec.FormatError, match=words):
        vqcodec.info(data)


def test_a_plane_with_a_shared_codebook_may_have_more_codewords_than_blocks():
    """A shared codebook is not made for one plane: k may pass the plane's 360 blocks with SHARED_BOOK (and
    must then be its entry's), not without."""
    more = with_field(GREY.read_bytes(), 24 + 4, "<I", 400)
    assert vqcodec.info(more).planes[0].k == 400 and spec_vqc.read_header(more) is not None
    with pytest.raises(vqcodec.FormatError, match="of 301 codewords"):
        vqcodec.decode(more, codebook=SHARED)
    without = with_field(with_field(more, 20, "<I", 0), PLANE_TOOLS, "<I", 0)
    with pytest.raises(vqcodec.FormatError, match="codebook size 400"):
        vqcodec.info(without)
    assert spec_vqc.read_header(without) is None


def test_an_entry_with_no_fewer_codewords_than_an_extended_plane_is_refused():
    """With EXTENDED the plane's own codewords follow the entry's: k must be more than the entry's. Plane 0
    of the golden file has 31 codewords, entry 0's 23 and 8 of its own; as 23 it would have none."""
    data = with_field(EXTENDED.read_bytes(), 24 + 4, "<I", 23)
    assert vqcodec.info(data).planes[0].k == 23
    assert spec_vqc.decode(data, 1 << 20, SHARED) is None
    with pytest.raises(vqcodec.FormatError, match="of 23 codewords of 2 x 2, where it has 23 of 2 x 2 with its own"):
        vqcodec.decode(data, codebook=SHARED)
