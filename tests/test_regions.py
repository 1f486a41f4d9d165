"""Region and thumbnail decodes: a region has exactly the pixels of the same region of a full decode,
whatever the version, the tiles it crosses and the colour transform; a thumbnail is the image at 1/8
scale. Through the library, the CLI and Pillow."""
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import vqcodec
from vqcodec import api
from vqcodec.cli.commands import main
from vqcodec.errors import OptionsError
from helpers import GOLDEN, assert_refused, gradient_image, random_image

RNG = np.random.default_rng(5)


def photo(height: int, width: int, channels: int | None) -> np.ndarray:
    """Smooth with some noise, so that every plane is coded and indices vary."""
    base = gradient_image(height, width, channels).astype(np.int16)
    return np.clip(base + RNG.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


# name: (pixels, encode options); version 4 with tiles of 16 pixels crosses many tile edges
FILES = {
    "v4-rgb420-odd": (photo(151, 123, 3), {"tile": 32}),
    "v4-grey": (photo(100, 134, None), {"tile": 32, "block": 3}),
    "v4-rgba": (photo(80, 70, 4), {"tile": 64}),
    "v4-rgb444": (photo(66, 82, 3), {"tile": 32, "quality": 100}),
    "v4-la-constant": (np.dstack([photo(42, 60, None), np.full((42, 60), 200, np.uint8)]), {"tile": 32}),
    "v4-one-tile": (photo(60, 40, 3), {}),
    "v2": (photo(29, 37, 3), {"classic": True, "k": 16, "block": 3}),
}


@pytest.fixture(autouse=True)
def golden_codebook(monkeypatch):
    """The golden files coded with a shared codebook find it beside them."""
    monkeypatch.setenv(api.CODEBOOK_PATH, str(GOLDEN))


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    encoded = {name: vqcodec.encode(pixels, **options).data for name, (pixels, options) in FILES.items()}
    encoded |= {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.vqc"))}  # versions 1 to 5, as they are
    return encoded


def regions(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Corners, single pixels, strips, tile-crossing boxes, random boxes and the whole image."""
    boxes = [(0, 0, width, height), (0, 0, 1, 1), (width - 1, height - 1, 1, 1), (width - 1, 0, 1, height),
             (0, height - 1, width, 1), (width // 2, height // 2, width - width // 2, height - height // 2)]
    for _ in range(6):
        x, y = int(RNG.integers(0, width)), int(RNG.integers(0, height))
        boxes.append((x, y, int(RNG.integers(1, width - x + 1)), int(RNG.integers(1, height - y + 1))))
    if width > 34 and height > 34:
        boxes.append((31, 31, 3, 3))  # across the corner of four 32-pixel tiles
    return boxes


def test_the_files_cover_every_version(files):
    assert {vqcodec.info(data).version for data in files.values()} == {1, 2, 3, 4, 5}
    assert all(vqcodec.info(files[name]).planes[0].tiles > 3 for name in FILES if name.startswith("v4-")
               and name != "v4-one-tile")  # several tiles


@pytest.mark.parametrize("name", [*FILES, *sorted(p.stem for p in GOLDEN.glob("*.vqc"))])
def test_a_region_is_the_region_of_the_full_decode(files, name):
    data = files[name]
    full = vqcodec.decode(data).pixels
    height, width = full.shape[:2]
    for x, y, w, h in regions(width, height):
        part = vqcodec.decode(data, crop=(x, y, w, h))
        assert part.pixels.dtype == np.uint8 and part.header == vqcodec.info(data)
        np.testing.assert_array_equal(part.pixels, full[y : y + h, x : x + w], err_msg=f"crop {(x, y, w, h)}")


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_region_of_a_tiled_file(files, data):
    encoded = files["v4-rgb420-odd"]
    full = vqcodec.decode(encoded).pixels
    height, width = full.shape[:2]
    x, y = data.draw(st.integers(0, width - 1)), data.draw(st.integers(0, height - 1))
    w, h = data.draw(st.integers(1, width - x)), data.draw(st.integers(1, height - y))
    np.testing.assert_array_equal(vqcodec.decode(encoded, crop=[x, y, w, h]).pixels, full[y : y + h, x : x + w])


@pytest.mark.parametrize("crop", [(0, 0, 0, 5), (0, 0, 5, 0), (-1, 0, 2, 2), (0, -1, 2, 2), (122, 0, 2, 2),
                                  (0, 150, 1, 2), (0, 0, 124, 1), (0, 0, 2), (0, 0, 2.5, 2), "0,0,1,1", None])
def test_a_region_outside_the_image_or_malformed_is_refused(files, crop):
    data = files["v4-rgb420-odd"]
    if crop is None:  # crop and thumbnail together
        with pytest.raises(OptionsError, match="thumbnail"):
            vqcodec.decode(data, crop=(0, 0, 1, 1), thumbnail=True)
        return
    with pytest.raises(OptionsError):
        vqcodec.decode(data, crop=crop)


def reduced(pixels: np.ndarray) -> np.ndarray:
    """Each 8 x 8 square's mean, rounded: a plain reference for a thumbnail."""
    height, width = pixels.shape[:2]
    padded = np.zeros((-(-height // 8) * 8, -(-width // 8) * 8) + pixels.shape[2:], np.float64)
    counts = np.zeros(padded.shape[:2])
    padded[:height, :width] = pixels
    counts[:height, :width] = 1
    fold = lambda a: a.reshape(a.shape[0] // 8, 8, a.shape[1] // 8, 8, *a.shape[2:]).sum(axis=(1, 3))
    total, n = fold(padded), fold(counts)
    return np.floor(total / (n if pixels.ndim == 2 else n[:, :, None]) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("name", [*FILES, *sorted(p.stem for p in GOLDEN.glob("*.vqc"))])
def test_a_thumbnail_is_the_image_at_an_eighth(files, name):
    data = files[name]
    full = vqcodec.decode(data).pixels
    thumb = vqcodec.decode(data, thumbnail=True).pixels
    assert thumb.shape == (-(-full.shape[0] // 8), -(-full.shape[1] // 8)) + full.shape[2:]
    if vqcodec.info(data).version < 3:  # no means: the mean of each 8 x 8 square of the decoded image
        np.testing.assert_array_equal(thumb, reduced(full))
    elif name in FILES:  # from the means alone: near the mean of the decoded pixels, not equal to it (the tiny
        # golden files' means are too coarse for their colours to say much)
        error = np.abs(thumb.astype(int) - reduced(full).astype(int))
        assert np.percentile(error, 90) <= 12, name


def test_a_thumbnail_of_a_flat_image_is_flat():
    pixels = np.full((40, 50, 3), (30, 140, 220), np.uint8)
    thumb = vqcodec.decode(vqcodec.encode(pixels, tile=32).data, thumbnail=True).pixels
    assert thumb.shape == (5, 7, 3) and np.abs(thumb.astype(int) - (30, 140, 220)).max() <= 2


def test_cli_crop_and_thumbnail(files, tmp_path):
    (tmp_path / "a.vqc").write_bytes(files["v4-rgb420-odd"])
    full = vqcodec.decode(files["v4-rgb420-odd"]).pixels
    runner = CliRunner()
    result = runner.invoke(main, ["decode", str(tmp_path / "a.vqc"), "-o", str(tmp_path / "crop.png"),
                                  "--crop", "40,50,30,17"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "crop.png")), full[50:67, 40:70])
    result = runner.invoke(main, ["decode", str(tmp_path / "a.vqc"), "-o", str(tmp_path / "small.png"), "--thumbnail"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "small.png")),
                                  vqcodec.decode(files["v4-rgb420-odd"], thumbnail=True).pixels)


@pytest.mark.parametrize("args, words, code", [
    (["--crop", "0,0,200,1"], "not inside", 1),
    (["--crop", "1,2,3"], "X,Y,W,H", 2),
    (["--crop", "a,b,c,d"], "X,Y,W,H", 2),
    (["--crop", "0,0,0,1"], "X,Y,W,H", 2),
    (["--crop", "0,0,1,1", "--thumbnail"], "exclude", 2),
])
def test_cli_refuses_a_bad_region(files, tmp_path, args, words, code):
    """A region outside the image is the file's problem (exit 1, one line); a malformed one is a usage
    error (exit 2, with click's usage lines)."""
    (tmp_path / "a.vqc").write_bytes(files["v4-rgb420-odd"])
    result = CliRunner().invoke(main, ["decode", str(tmp_path / "a.vqc"), "-o", str(tmp_path / "out.png"), *args])
    if code == 1:
        assert_refused(result, words)
    else:
        assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()


def test_pillow_draft_gives_the_thumbnail(files, tmp_path):
    vqcodec.register_pillow()
    path = tmp_path / "a.vqc"
    path.write_bytes(files["v4-rgb420-odd"])
    thumb = vqcodec.decode(path, thumbnail=True).pixels
    with Image.open(path) as im:
        im.draft("RGB", (16, 19))
        assert im.size == (16, 19)
        np.testing.assert_array_equal(np.asarray(im), thumb)
    with Image.open(path) as im:
        im.draft("RGB", (123, 151))  # no smaller scale is large enough: the full image
        assert im.size == (123, 151)
        np.testing.assert_array_equal(np.asarray(im), vqcodec.decode(path).pixels)
    with Image.open(path) as im:
        im.thumbnail((8, 8))  # drafts at 1/8, then resizes what is left
        assert max(im.size) == 8


def test_a_region_decodes_fewer_tiles_than_the_image(files, monkeypatch):
    """Version 4 decodes a region from the tiles it needs: a corner needs only the first tile."""
    from vqcodec.format import entropy

    calls = []
    original = entropy.decode_tile_indices

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(entropy, "decode_tile_indices", counted)
    data = files["v4-grey"]
    header = vqcodec.info(data)
    tiles = header.planes[0].tiles
    vqcodec.decode(data, crop=(0, 0, 4, 4))
    assert len(calls) == 1
    calls.clear()
    vqcodec.decode(data)
    assert len(calls) == tiles > 4


def test_random_pixels_crop_exactly_on_tile_edges():
    data = vqcodec.encode(random_image(128, 128, 3, seed=9), tile=32).data
    full = vqcodec.decode(data).pixels
    for x in (30, 31, 32, 33, 63, 64, 95, 96):
        np.testing.assert_array_equal(vqcodec.decode(data, crop=(x, x, 3, 5)).pixels, full[x : x + 5, x : x + 3])
