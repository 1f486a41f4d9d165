"""Shared codebooks from the library and the command line: learned from a collection, deterministic for a
seed, chosen per plane only where they cost less, and needed (and checked) to decode."""
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import GOLDEN, SAMPLES, assert_refused, gradient_image, listing, save_png
from PIL import Image

import vqcodec
from vqcodec import metrics
from vqcodec.cli.commands import main
from vqcodec.format import container
from vqcodec.format.order import ordered


def tiles(name: str, side: int = 32, count: int = 12, grey: bool = False) -> list[np.ndarray]:
    photo = Image.open(SAMPLES / name)
    photo = np.asarray(photo.convert("L") if grey else photo)
    rows, columns = photo.shape[0] // side, photo.shape[1] // side
    every = [photo[side * i : side * i + side, side * j : side * j + side] for i in range(rows) for j in range(columns)]
    return every[:: max(1, len(every) // count)][:count]


@pytest.fixture(scope="module")
def shared():
    """Learned from tiles of chelsea, at two qualities: luma and chroma entries."""
    return vqcodec.train_shared(tiles("chelsea.png"), qualities=(30, 60))


def test_training_is_deterministic_for_a_seed(shared):
    again = vqcodec.train_shared(tiles("chelsea.png"), qualities=(30, 60))
    assert again.data == shared.data and again.name == shared.name
    assert [(kind, quality) for kind, quality, _ in shared.entries] == [(0, 30), (0, 60), (1, 30), (1, 60)]
    grey = vqcodec.train_shared(tiles("camera.png"), qualities=(50,))
    assert [(kind, quality) for kind, quality, _ in grey.entries] == [(0, 50)]  # no chroma in grey images


def test_entries_are_in_the_encoders_chain_order(shared):
    """As the encoder orders a plane's own codebook (similar codewords, near numbers): ordering an entry
    again leaves it as it is."""
    for _, _, book in shared.entries:
        np.testing.assert_array_equal(ordered(book, np.ones(len(book), np.int64))[0], book)


def test_a_file_coded_with_a_shared_codebook_decodes_to_what_the_encoder_measured(shared):
    found = 0
    for tile in tiles("coffee.png", 64, 6):
        encoded = vqcodec.encode(tile, quality=60, codebook=shared)
        decoded = vqcodec.decode(encoded.data, codebook=shared).pixels
        assert metrics.psnr(tile, decoded) == pytest.approx(encoded.psnr, abs=1e-9)
        np.testing.assert_array_equal(vqcodec.decode(encoded.data, codebook=shared, crop=(5, 7, 40, 30)).pixels,
                                      decoded[7:37, 5:45])
        taken = [p.tools & container.SHARED_BOOK for p in encoded.header.planes]
        assert bool(encoded.header.tools & container.SHARED) == any(taken)
        found += any(taken)
    assert found >= 3  # coffee's small tiles take chelsea's codebooks in most of their planes


def test_a_plane_may_follow_the_entry_with_codewords_of_its_own(shared):
    """Where the entry serves a plane's blocks less well, the plane takes it with a few codewords of its own
    after it (EXTENDED): the entry's codewords come first, as they are; at the fastest efforts, never."""
    from vqcodec.rd import decode

    extended = 0
    for tile in tiles("coffee.png", 64, 6):
        encoded = vqcodec.encode(tile, quality=60, codebook=shared)
        header, payloads = container.parse(encoded.data, None)
        sections = iter(payloads)
        for p in header.planes:
            parts = [bytes(next(sections)) for _ in p.sections] if p.k else []
            if p.tools & container.EXTENDED:
                extended += 1
                entry = decode.shared_entry(p, parts[0], shared)
                book = decode.plane_codebook(p, parts[0], entry)
                assert p.tools & container.SHARED_BOOK and len(entry) < p.k == len(book)
                np.testing.assert_array_equal(book[: len(entry)], entry)
    assert extended >= 2
    for tile in tiles("coffee.png", 64, 6):
        fastest = vqcodec.encode(tile, quality=60, codebook=shared, effort=3).header.planes
        assert not any(p.tools & container.EXTENDED for p in fastest)


def test_an_entry_of_the_most_codewords_takes_none_of_a_planes_own():
    """A valid .vqcb may hold an entry of 65536 codewords, the most a plane may have: the plane takes it alone
    or keeps its own codebook, never with codewords of its own after it (k would pass 65536)."""
    from vqcodec.format import codebooks

    book = np.random.default_rng(3).integers(0, 256, (1 << 16, 4), dtype=np.uint8)
    shared = codebooks.build(2, [(0, 60, book)])
    tile = np.asarray(Image.open(SAMPLES / "camera.png"))[100:164, 100:164]
    encoded = vqcodec.encode(tile, quality=60, codebook=shared)
    (plane,) = encoded.header.planes
    assert plane.k <= 1 << 16 and not plane.tools & container.EXTENDED
    assert vqcodec.decode(encoded.data, codebook=shared).pixels.shape == tile.shape


def test_a_shared_codebook_saves_bytes_on_small_tiles(shared):
    """At equal quality settings, the tiles of another photo take fewer bytes in all, and lose little PSNR:
    what the benchmark (benchmarks/shared.py) measures as BD-rate."""
    test = tiles("coffee.png", 64, 8)
    own = [vqcodec.encode(t, quality=60) for t in test]
    with_shared = [vqcodec.encode(t, quality=60, codebook=shared) for t in test]
    assert sum(len(e.data) for e in with_shared) < 0.9 * sum(len(e.data) for e in own)


def test_a_shared_codebook_that_cannot_help_changes_nothing():
    """Learned from smooth ramps, it has nothing for a detailed photo's luma: the plane keeps its own
    codebook, and the file is the one coded without a shared codebook, byte for byte."""
    flat = vqcodec.train_shared([gradient_image(16, 16, 3), gradient_image(24, 16, 3)], qualities=(60,))
    photo = np.asarray(Image.open(SAMPLES / "camera.png"))[200:328, 200:328]
    assert vqcodec.encode(photo, quality=60, codebook=flat).data == vqcodec.encode(photo, quality=60).data


def test_what_a_shared_codebook_cannot_serve_is_an_options_error(shared):
    with pytest.raises(vqcodec.OptionsError, match="not the classic one"):
        vqcodec.encode(tiles("coffee.png")[0], classic=True, codebook=shared)
    with pytest.raises(vqcodec.OptionsError, match="blocks of 2, not 4"):
        vqcodec.encode(tiles("coffee.png")[0], block=4, codebook=shared)
    with pytest.raises(vqcodec.OptionsError, match="no images"):
        vqcodec.train_shared([])
    with pytest.raises(vqcodec.ImageError, match="no detail to learn"):
        vqcodec.train_shared([np.full((16, 16, 3), 10, np.uint8)])


def test_a_codebook_is_read_from_a_path_bytes_or_as_it_is(shared, tmp_path):
    path = tmp_path / "s.vqcb"
    path.write_bytes(shared.data)
    data = vqcodec.encode(tiles("coffee.png", 64)[0], quality=60, codebook=path).data
    for given in (path, str(path), shared.data, shared):
        assert vqcodec.decode(data, codebook=given).pixels.shape == (64, 64, 3)
    with pytest.raises(vqcodec.CodebookError, match="missing.vqcb: cannot read"):
        vqcodec.read_codebook(tmp_path / "missing.vqcb")


# --- the command line ---------------------------------------------------------------------------


def test_train_encode_decode_and_info_from_the_command_line(tmp_path):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for n, tile in enumerate(tiles("chelsea.png")):
        save_png(tile, folder / f"{n:02d}.png")
    for n, tile in enumerate(tiles("coffee.png", 64, 3)):
        save_png(tile, tmp_path / f"new{n}.png")
    book = tmp_path / "tiles.vqcb"
    result = CliRunner().invoke(main, ["train", "-r", str(folder), "-o", str(book), "--qualities", "30,60"])
    assert result.exit_code == 0, result.output
    shared = vqcodec.read_codebook(book)
    assert f"shared codebook {shared.name}" in result.stderr and "from 12 images" in result.stderr
    assert "luma: 2 codebooks" in result.stderr and "chroma: 2 codebooks" in result.stderr
    again = tmp_path / "again.vqcb"
    CliRunner().invoke(main, ["train", *map(str, sorted(folder.iterdir())), "-o", str(again), "--qualities", "60,30"])
    assert again.read_bytes() == book.read_bytes()  # the same images, the same seed

    out = tmp_path / "vqc"
    result = CliRunner().invoke(main, ["encode", *(str(tmp_path / f"new{n}.png") for n in range(3)), "-o", str(out),
                                       "--quality", "60", "--codebook", str(book)])
    assert result.exit_code == 0, result.output
    coded = sorted(out.iterdir())
    assert len(coded) == 3 and any(vqcodec.info(p).codebook == shared.identity for p in coded)
    needing = next(p for p in coded if vqcodec.info(p).codebook)
    result = CliRunner().invoke(main, ["info", str(needing)])
    assert f"codebook    shared codebook {shared.name}" in result.output and "(shared)" in result.output
    assert_refused(CliRunner().invoke(main, ["decode", str(needing), "-o", str(tmp_path / "x.png")]), shared.name)
    result = CliRunner().invoke(main, ["decode", str(needing), "-o", str(tmp_path / "x.png"), "--codebook", str(book)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")),
                                  vqcodec.decode(needing, codebook=book).pixels)


def test_info_says_which_planes_take_codewords_of_their_own():
    result = CliRunner().invoke(main, ["info", str(GOLDEN / "v5-shared-extended-rgb420-61x53-t32.vqc")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("plane ")]
    assert ["own" in line for line in lines] == [True, False, True] and all("(shared" in line for line in lines)


@pytest.mark.parametrize(("args", "words", "code"), [
    (["train", "{folder}", "-o", "{out}"], ["is a folder", "-r"], 2),
    (["train", "-r", "{empty}", "-o", "{out}"], ["no images found"], 2),
    (["train", "{image}", "-o", "{out}", "--qualities", "30,101"], ["--qualities"], 2),
    (["train", "{image}", "-o", "{out}", "--classic"], ["no such option"], 2),
    (["train", "{image}", "-o", "{exists}"], ["exists", "--force"], 1),
    (["train", "{missing}", "-o", "{out}"], ["missing.png"], 1),
])
def test_train_refuses_what_it_cannot_do_in_one_line(args, words, code, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty").mkdir()
    save_png(tiles("chelsea.png")[0], tmp_path / "image.png")
    (tmp_path / "exists.vqcb").write_bytes(b"keep")
    names = {name: str(tmp_path / name) for name in ("folder", "empty", "missing")}
    names |= {"image": str(tmp_path / "image.png"), "out": str(tmp_path / "out.vqcb"),
              "exists": str(tmp_path / "exists.vqcb"), "missing": str(tmp_path / "missing.png")}
    result = CliRunner().invoke(main, [a.format(**names) for a in args])
    if code == 2 and "no such option" in words:
        assert result.exit_code == 2 and "No such option" in result.output
    else:
        assert_refused(result, *words, exit_code=code)
    assert (tmp_path / "exists.vqcb").read_bytes() == b"keep"
    assert "out.vqcb" not in listing(tmp_path)
