"""The encoder facing bad or unusual input files, through the library and the CLI.

Every refused input is one VQCodecError naming the file in the library, and
in the CLI exit code 1 with exactly one `Error:` line naming it, no traceback
and no .vqc (nor hidden temporary file) left behind. Unusual but valid inputs
(16-bit, CMYK, palettes, alpha) are coded, with a `Warning:` where precision
is lost. (Plain text, empty and missing files are in cli/test_cli.py and
test_api.py already.)
"""
import builtins
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from helpers import (BOTH_ENCODERS, GOLDEN, assert_refused, classic_flag, gradient_image, listing, peak_allocation,
                     random_image)
from PIL import Image, ImageFile

import vqcodec
from vqcodec import metrics
from vqcodec.cli.commands import main

OPTIONS = {"k": 4, "block": 2}
CLI_OPTIONS = ["-k", "4", "-b", "2"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def encode_cli(name: str, *extra: str):
    return CliRunner().invoke(main, ["encode", name, *CLI_OPTIONS, *extra])


def image_bytes(array_or_image, fmt: str, **params) -> bytes:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


# --- forged and cut files -----------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """An 8 x 8 PNG whose IHDR (CRC fixed, so Pillow believes it) declares width x height."""
    data = bytearray(image_bytes(random_image(8, 8, 3), "PNG"))
    assert data[12:16] == b"IHDR"
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(data[12:29]))
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """An 8 x 8 BMP whose info header (int32 LE at offsets 18 and 22) declares width x height."""
    data = bytearray(image_bytes(random_image(8, 8, 3), "BMP"))
    assert struct.unpack_from("<ii", data, 18) == (8, 8)
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def photo() -> np.ndarray:
    """48 x 48 RGB with texture, so that PNG's IDAT and JPEG's scan are long enough to cut in."""
    image = gradient_image(48, 48, 3)
    image[::3, ::2] = random_image(16, 24, 3, seed=12)
    return image


def png_cut(where: str) -> bytes:
    data = image_bytes(photo(), "PNG")
    idat = data.index(b"IDAT") - 4  # the chunk's length field
    (length,) = struct.unpack_from(">I", data, idat)
    cut = {"signature": 8, "mid-ihdr": 20, "before-idat": idat, "mid-idat": idat + 8 + length // 2}[where]
    return data[:cut]


def jpeg_cut(where: str) -> bytes:
    data = image_bytes(photo(), "JPEG", quality=90)
    scan = data.index(b"\xff\xda")  # start of scan
    cut = {"soi-only": 2, "mid-header": scan // 2, "mid-scan": (scan + len(data)) // 2, "no-eoi": len(data) - 2}[where]
    return data[:cut]


# --- refused inputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    make: Callable[[], bytes | None]  # the file's bytes; None makes a folder
    error: type = vqcodec.ImageError
    max_pixels: int = vqcodec.DEFAULT_MAX_PIXELS
    words: tuple[str, ...] = ()  # in the error message, lower-cased
    library_words: tuple[str, ...] | None = None  # in the library's message, if not the same

    @property
    def in_library(self) -> tuple[str, ...]:
        return self.words if self.library_words is None else self.library_words


CAPPED = {"error": vqcodec.TooManyPixelsError, "words": ("max-pixels",)}
# The command lifts Pillow's own bomb guard, so that --max-pixels speaks (and can be raised). The library
# leaves Pillow's setting alone: above twice PIL.Image.MAX_IMAGE_PIXELS, Pillow refuses first.
PILLOWS = {**CAPPED, "library_words": ("max_image_pixels",)}
HUGE = {
    "png-100000x100000": Bad("huge.png", lambda: png_claiming(100_000, 100_000), **PILLOWS),
    "png-2^31-1-square": Bad("huge.png", lambda: png_claiming(2**31 - 1, 2**31 - 1), **PILLOWS),
    "png-just-above-cap": Bad("huge.png", lambda: png_claiming(12_000, 12_000), **CAPPED),
    "bmp-100000x100000": Bad("huge.bmp", lambda: bmp_claiming(100_000, 100_000), **PILLOWS),
}
assert 2 * PIL.Image.MAX_IMAGE_PIXELS > 12_000**2 > vqcodec.DEFAULT_MAX_PIXELS

BAD = {
    "random-bytes": Bad("noise.png", lambda: np.random.default_rng(13).bytes(4096)),
    "ppm-header-then-text": Bad("text.ppm", lambda: b"P6\n4 4\n255\nthis is not pixel data\n"),
    "vqc-file": Bad("golden.vqc", lambda: (GOLDEN / "rgb-37x29-b3-k16.vqc").read_bytes()),
    "directory": Bad("folder.png", lambda: None),
    **{f"png-cut-{where}": Bad("cut.png", lambda where=where: png_cut(where))
       for where in ("signature", "mid-ihdr", "before-idat", "mid-idat")},
    **{f"jpeg-cut-{where}": Bad("cut.jpg", lambda where=where: jpeg_cut(where))
       for where in ("soi-only", "mid-header", "mid-scan", "no-eoi")},
    **HUGE,
    "above-small-max-pixels": Bad("small.webp", lambda: image_bytes(photo(), "WEBP", lossless=True),
                                  max_pixels=48 * 48 - 1, **CAPPED),
}


def cli_extra(case: Bad) -> list[str]:
    extra = [] if case.max_pixels == vqcodec.DEFAULT_MAX_PIXELS else ["--max-pixels", str(case.max_pixels)]
    if case.name.endswith(".vqc"):  # its default output would be the input itself
        extra += ["-o", "out.vqc"]
    return extra


def make(case: Bad, folder: Path) -> Path:
    path = folder / case.name
    content = case.make()
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own, in the library
@pytest.mark.parametrize("case_id", BAD)
def test_bad_input_is_refused_by_library_and_cli(workdir, case_id):
    """One error naming the file, of the class that says why; the CLI adds nothing and writes nothing."""
    case = BAD[case_id]
    path = make(case, workdir)
    with pytest.raises(case.error) as info:
        vqcodec.encode(path, **OPTIONS, max_pixels=case.max_pixels)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for word in case.in_library:
        assert word in message.lower(), (word, message)
    before = listing(workdir)
    assert_refused(encode_cli(case.name, *cli_extra(case)), case.name, *case.words)
    assert listing(workdir) == before  # no .vqc, no hidden temporary file


def test_a_refused_input_survives_force_onto_itself(workdir):
    """`encode x.vqc --force` names x.vqc as its own output; refusing the input must leave it intact."""
    data = (GOLDEN / "rgb-37x29-b3-k16.vqc").read_bytes()
    Path("x.vqc").write_bytes(data)
    assert_refused(encode_cli("x.vqc", "--force"), "x.vqc")
    assert Path("x.vqc").read_bytes() == data
    assert listing(workdir) == {"x.vqc"}


@pytest.mark.parametrize("layer", ["builtins.open", "PIL.Image.open"])
def test_unreadable_file_is_refused(workdir, monkeypatch, layer):
    """Tests run as root, where chmod 000 does not stop reading: the open itself is made to fail."""
    path = workdir / "locked.png"
    path.write_bytes(image_bytes(photo(), "PNG"))
    module, attribute = (builtins, "open") if layer == "builtins.open" else (PIL.Image, "open")
    real = getattr(module, attribute)

    def refusing(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == str(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(module, attribute, refusing)
    with pytest.raises(vqcodec.ImageError, match="permission") as info:
        vqcodec.encode(path, **OPTIONS)
    assert str(path) in str(info.value)
    assert_refused(encode_cli("locked.png"), "locked.png", "permission")
    assert listing(workdir) == {"locked.png"}


def real_image(folder: Path, suffix: str) -> Path:
    path = folder / f"real{suffix}"
    path.write_bytes(image_bytes(random_image(4, 4, 3), Image.registered_extensions()[suffix]))
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("case_id", HUGE)
def test_huge_declared_size_is_refused_before_decoding(workdir, monkeypatch, case_id):
    """The pixel cap fires from the header: Pillow never loads the pixels and little is allocated."""
    case = HUGE[case_id]
    path = make(case, workdir)
    loads = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    def refuse_twice():
        with pytest.raises(vqcodec.TooManyPixelsError):
            vqcodec.encode(path, **OPTIONS)
        return encode_cli(case.name)

    result, peak = peak_allocation(refuse_twice)
    assert_refused(result, case.name, "max-pixels")
    assert loads == []
    assert peak < 16 << 20, peak  # the smallest forged size above declares 144 megapixels
    with Image.open(real_image(workdir, path.suffix)) as im:  # the spy does see real loads
        im.load()
    assert len(loads) == 1


# --- unusual inputs that are coded -----------------------------------------------------------


def quadrants(*values) -> np.ndarray:
    """16 x 16, four flat 8 x 8 quadrants of the given pixel values (scalars or tuples).

    With -k 4 -b 2 each quadrant gets its own codeword, so a lossless input is coded exactly;
    8 x 8 also matches JPEG's blocks, which keeps a JPEG's quadrants flat.
    """
    first = np.asarray(values[0])
    out = np.empty((16, 16) + first.shape, np.asarray(values).dtype)
    out[:8, :8], out[:8, 8:], out[8:, :8], out[8:, 8:] = values
    return out


def palette_png(transparency=None) -> bytes:
    im = Image.fromarray(quadrants(0, 1, 2, 3).astype(np.uint8), "P")
    im.putpalette([10, 20, 30, 200, 100, 50, 0, 255, 0, 90, 90, 90])
    return image_bytes(im, "PNG", **({} if transparency is None else {"transparency": transparency}))


SIXTEEN = quadrants(20, 90, 160, 230).astype(np.uint16) << 8 | random_image(16, 16, seed=14)  # low bytes: noise
CMYK = quadrants((0, 50, 100, 20), (200, 10, 0, 0), (30, 30, 200, 60), (0, 0, 0, 250)).astype(np.uint8)


@dataclass(frozen=True)
class Good:
    name: str
    make: Callable[[], bytes]
    mode: str  # of the coded image
    warning: str | None = None  # a word of the one expected warning
    lossless: bool = True  # False: the input itself is lossy, compare with PSNR
    alpha: np.ndarray | None = None  # the alpha plane the decoded image must have


LA = quadrants((10, 0), (80, 85), (150, 170), (220, 255)).astype(np.uint8)
RGBA = quadrants((10, 0, 5, 0), (80, 85, 9, 85), (150, 1, 200, 170), (220, 255, 1, 255)).astype(np.uint8)

GOOD = {
    "png-16-bit-grey": Good("deep.png", lambda: image_bytes(SIXTEEN, "PNG"), "L", "16-bit"),
    "jpeg-cmyk": Good("print.jpg", lambda: image_bytes(Image.fromarray(CMYK, "CMYK"), "JPEG", quality=95),
                      "RGB", "CMYK", lossless=False),
    "tiff-cmyk": Good("print.tif", lambda: image_bytes(Image.fromarray(CMYK, "CMYK"), "TIFF"), "RGB", "CMYK"),
    "png-palette": Good("palette.png", palette_png, "RGB"),
    "png-palette-transparent-index": Good("trns.png", lambda: palette_png(2), "RGBA",
                                          alpha=quadrants(255, 255, 0, 255)),
    "png-palette-alpha-table": Good("table.png", lambda: palette_png(bytes([255, 128, 0, 64])), "RGBA",
                                    alpha=quadrants(255, 128, 0, 64)),
    "png-la": Good("la.png", lambda: image_bytes(Image.fromarray(LA, "LA"), "PNG"), "LA", alpha=LA[:, :, 1]),
    "png-rgba": Good("rgba.png", lambda: image_bytes(RGBA, "PNG"), "RGBA", alpha=RGBA[:, :, 3]),
}
MIN_PSNR = 40  # dB: four flat quadrants need four codewords; only the noise of a lossy input may cost anything


def expected_pixels(path: Path, mode: str) -> np.ndarray:
    """What the encoder is documented to code: Pillow's reading, converted to `mode` (16-bit: high byte)."""
    with Image.open(path) as im:
        if im.mode.startswith("I;16"):
            return (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
        return np.asarray(im.convert(mode))


@BOTH_ENCODERS
@pytest.mark.parametrize("case_id", GOOD)
def test_unusual_input_is_coded_by_library_and_cli(workdir, case_id, classic):
    """Both encoders code these inputs, warn as documented and write the same file from the CLI;
    plain VQ (four flat quadrants, four codewords) also gives the pixels back exactly."""
    case = GOOD[case_id]
    path = workdir / case.name
    path.write_bytes(case.make())
    expected = expected_pixels(path, case.mode)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = vqcodec.encode(path, **OPTIONS, classic=classic)
    messages = [str(w.message) for w in caught if issubclass(w.category, vqcodec.VQCodecWarning)]
    assert len(messages) == (case.warning is not None), messages  # and no "distinct blocks" shrink warning
    if case.warning:
        assert case.warning in messages[0] and str(path) in messages[0], messages
    assert result.header.mode == case.mode
    decoded = vqcodec.decode(result.data).pixels
    assert decoded.dtype == np.uint8 and decoded.shape == expected.shape == (16, 16, *expected.shape[2:])
    assert result.psnr == metrics.psnr(expected, decoded)
    assert result.data == vqcodec.encode(expected, **OPTIONS, classic=classic).data  # those pixels are what was coded
    if classic:
        if case.lossless:
            np.testing.assert_array_equal(decoded, expected)
        else:
            assert result.psnr >= MIN_PSNR
        if case.alpha is not None:
            np.testing.assert_array_equal(decoded[:, :, -1], case.alpha)

    cli = encode_cli(case.name, *classic_flag(classic))
    assert cli.exit_code == 0, cli.output
    assert "Traceback" not in cli.output and "Error" not in cli.stderr
    warning_lines = [line for line in cli.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warning_lines) == len(messages), cli.stderr
    if case.warning:
        assert case.warning in warning_lines[0], warning_lines
    output = Path(path.with_suffix(".vqc").name)
    assert output.read_bytes() == result.data  # same options and seed: the same file

    cli = CliRunner().invoke(main, ["decode", output.name, "-o", "back.png"])
    assert cli.exit_code == 0, cli.output
    with Image.open("back.png") as im:
        assert im.mode == case.mode  # alpha included
        np.testing.assert_array_equal(np.asarray(im), decoded)
    assert listing(workdir) == {case.name, output.name, "back.png"}  # no hidden temporary file
