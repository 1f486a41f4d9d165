"""The Pillow plugin: Image.open and Image.save of .vqc files after vqcodec.register_pillow().

Opening must agree with vqcodec.decode, saving with `vqcodec encode`, and
hostile files must meet Pillow's usual exceptions, never anything else.
"""
import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import GOLDEN, GOLDEN_CODEBOOK, gradient_image, huge_single_codeword_vqc, random_image, save_png, with_crc
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, UnidentifiedImageError

import vqcodec
from vqcodec import api
from vqcodec.integrations import pillow
from vqcodec.cli.commands import main

GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.vqc"))
MODES = {"L": None, "LA": 2, "RGB": 3, "RGBA": 4}  # mode: channels argument of gradient_image
REGISTRIES = ("ID", "OPEN", "SAVE", "EXTENSION", "MIME", "DECODERS")


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The plugin registered in copies of Pillow's registries, so that other test files see Pillow as it was."""
    Image.init()  # every stock plugin in the originals first: Pillow does this only once
    for name in REGISTRIES:
        monkeypatch.setattr(Image, name, type(getattr(Image, name))(getattr(Image, name)))
    monkeypatch.setattr(pillow, "_codebooks", {})
    vqcodec.register_pillow([GOLDEN_CODEBOOK])  # for the golden files coded with it


def textured(mode: str, height: int = 24, width: int = 28) -> Image.Image:
    """A gradient with some texture, so that a small codebook is lossy."""
    pixels = gradient_image(height, width, MODES[mode])
    pixels[::3, ::5] = 17
    return Image.fromarray(pixels)


def saved(im: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, format="VQC", **options)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    """The image a .vqc holds, opened and loaded through Pillow."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im


# --- registration ---------------------------------------------------------------------------


def test_importing_vqcodec_registers_nothing():
    code = ("import vqcodec, vqcodec.integrations.pillow, vqcodec.api\n"
            "from PIL import Image\n"
            "Image.init()\n"
            "print('VQC' in Image.OPEN, 'VQC' in Image.SAVE, '.vqc' in Image.EXTENSION)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


def test_registering_twice_registers_once():
    vqcodec.register_pillow()
    assert Image.ID.count("VQC") == 1
    assert Image.registered_extensions()[".vqc"] == "VQC"
    assert Image.MIME["VQC"] == "image/x-vqc"


# --- opening ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_files_open_as_their_images(name):
    """Every version and mode: the committed image, with its mode and size, from a path."""
    with Image.open(GOLDEN / f"{name}.png") as expected, Image.open(GOLDEN / f"{name}.vqc") as im:
        assert (im.format, im.mode, im.size) == ("VQC", expected.mode, expected.size)
        assert im.get_format_mimetype() == "image/x-vqc"
        assert np.array_equal(np.asarray(im), np.asarray(expected))


def test_opening_reads_the_header_and_loading_decodes(tmp_path, monkeypatch):
    data = saved(textured("RGB"), k=8, block=2, classic=True)
    path = tmp_path / "image.vqc"
    path.write_bytes(data)
    decodes = []
    real_decode = api.decode

    def counted_decode(*args, **kwargs):
        decodes.append(args)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(api, "decode", counted_decode)
    with open(path, "rb") as f, Image.open(f) as im:
        assert im.info["vqc_header"] == vqcodec.info(data)
        assert len(decodes) == 0
        im.load()
        assert len(decodes) == 1
        assert np.array_equal(np.asarray(im), real_decode(data).pixels)


def test_verify_checks_the_checksum_without_decoding(monkeypatch):
    data = saved(textured("L"), k=8, block=2, classic=True)
    monkeypatch.setattr(api, "decode", None)  # verify must not decode
    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    with Image.open(io.BytesIO(bytes(flipped))) as im, pytest.raises(OSError, match="checksum"):
        im.verify()


# --- saving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_round_trips(mode):
    im = textured(mode)
    data = saved(im, k=16, block=2, classic=True, algo="centnn")
    out = opened(data)
    assert (out.mode, out.size) == (mode, im.size)
    assert np.array_equal(np.asarray(out), vqcodec.decode(data).pixels)
    assert not np.array_equal(np.asarray(out), np.asarray(im))  # lossy at K = 16: the file was really coded


def test_default_save_is_the_default_encoder():
    im = textured("RGB")
    data = saved(im)
    assert data == vqcodec.encode(im).data
    assert vqcodec.info(data).version == 5
    assert np.array_equal(np.asarray(opened(data)), vqcodec.decode(data).pixels)


@pytest.mark.parametrize("mode,flags,options", [
    ("RGB", ["-k", 16, "-b", 4, "--classic", "--algo", "centnn"], {"k": 16, "block": 4, "classic": True, "algo": "centnn"}),
    ("LA", ["-k", 8, "-b", 2, "--fixed-rate", "--seed", 3], {"k": 8, "block": 2, "fixed_rate": True, "seed": 3}),
    ("P", ["--quality", 30], {"quality": 30}),  # the CLI reads a palette PNG as RGB, and so must save()
    ("RGBA", ["--size", "1KB", "--strict"], {"size": 1000, "strict": True}),
])
def test_save_writes_what_the_command_writes(tmp_path, mode, flags, options):
    source = tmp_path / "input.png"
    save_png(textured("RGB").convert(mode) if mode == "P" else textured(mode), source)
    result = CliRunner().invoke(main, ["encode", str(source), "-o", str(tmp_path / "cli.vqc"), *map(str, flags)])
    assert result.exit_code == 0, result.output
    with Image.open(source) as im:
        assert im.mode == mode
        im.save(tmp_path / "pillow.vqc", **options)
    assert (tmp_path / "pillow.vqc").read_bytes() == (tmp_path / "cli.vqc").read_bytes()


@pytest.mark.parametrize("options,message", [
    ({"colour": "ycbcr"}, "unknown encode option"),
    ({"quality": 75, "psnr": 30}, "one of quality, psnr"),
    ({"k": 1}, "codebook size"),
])
def test_bad_save_options_are_refused_and_leave_no_file(tmp_path, options, message):
    path = tmp_path / "image.vqc"
    with pytest.raises(vqcodec.OptionsError, match=message):
        textured("L").save(path, **options)
    assert not path.exists()


def test_a_shared_codebook_serves_save_and_open(tmp_path, monkeypatch):
    """save(codebook=) writes what vqcodec.encode writes with it; open finds it among the registered
    codebooks, else in VQCODEC_CODEBOOKS, else fails at load naming it."""
    photo = Image.open(GOLDEN / "v4-shared-rgb420-45x37-t32.png")
    path = tmp_path / "shared.vqc"
    photo.save(path, quality=40, tile=32, codebook=GOLDEN_CODEBOOK)
    encoded = vqcodec.encode(photo, quality=40, tile=32, codebook=GOLDEN_CODEBOOK)
    assert path.read_bytes() == encoded.data and encoded.header.codebook
    expected = vqcodec.decode(path, codebook=GOLDEN_CODEBOOK).pixels
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), expected)
    monkeypatch.setattr(pillow, "_codebooks", {})
    monkeypatch.delenv(api.CODEBOOK_PATH, raising=False)
    with Image.open(path) as im, pytest.raises(OSError, match=f"needs shared codebook {encoded.header.codebook.hex()}"):
        im.load()
    monkeypatch.setenv(api.CODEBOOK_PATH, str(GOLDEN))
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), expected)
    monkeypatch.delenv(api.CODEBOOK_PATH)
    with Image.open(path) as im:
        im.draft("RGB", (6, 5))  # at 1/8 scale, from the means alone: no codebook needed
        assert im.load() and im.size == (6, 5)


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x89VQ", b"GIF89a" + bytes(20), random_image(8, 8).tobytes()],
                         ids=["empty", "short-magic", "gif-magic", "noise"])
def test_what_is_not_a_vqc_is_unidentified(data):
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))


def test_vqc_only_opens_a_png_as_unidentified(tmp_path):
    with pytest.raises(UnidentifiedImageError):
        Image.open(save_png(textured("RGB"), tmp_path / "image.png"), formats=["VQC"])


@pytest.mark.parametrize("name", ["rgba-20x13-b2-k8", "v2-rgb-61x43-b3-k40", "v3-rgba-21x13-b3-k8"])
def test_every_truncation_is_refused_at_open(name):
    """Before Pillow allocates the image: a cut header is unidentified, a cut payload an OSError."""
    data = (GOLDEN / f"{name}.vqc").read_bytes()
    header_size = vqcodec.info(data).header_size
    for cut in range(len(data)):
        with pytest.raises(OSError) as refused:
            Image.open(io.BytesIO(data[:cut]))
        if cut >= header_size:
            assert str(refused.value) == (f"broken .vqc file: truncated: the header declares {len(data)} bytes, "
                                          f"the file has {cut}")
        else:
            assert isinstance(refused.value, UnidentifiedImageError)


@pytest.mark.parametrize("name", ["rgba-20x13-b2-k8", "v2-rgb-61x43-b3-k40", "v3-rgba-21x13-b3-k8"])
def test_every_flipped_bit_is_refused_before_pillow_allocates_the_image(name, monkeypatch):
    """At open (a header field out of range) or by the checksum at load; with Pillow's limit lifted,
    so that a flipped size is not stopped by its bomb check but has to be by the checksum."""
    data = (GOLDEN / f"{name}.vqc").read_bytes()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(Image.core, "new", None)
    for at in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[at] ^= 1 << bit
            with pytest.raises(OSError):
                opened(bytes(flipped))


FUZZ_LIMIT = 1 << 16  # Image.MAX_IMAGE_PIXELS for the fuzz: forged sizes meet Pillow's bomb check, not a big allocation


@settings(max_examples=300, derandomize=True, database=None)
@given(name=st.sampled_from(GOLDEN_NAMES), changes=st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(1, 255)),
                                                            min_size=1, max_size=3))
def test_files_forged_with_a_valid_checksum_open_as_vqcodec_decodes_them(name, changes):
    """Bytes changed and the checksum recomputed, so that the decoder itself has to judge the
    payload: Pillow gives vqcodec's image, or its own exceptions where vqcodec refuses."""
    body = bytearray((GOLDEN / f"{name}.vqc").read_bytes()[:-4])
    for at, xor in changes:
        body[at % len(body)] ^= xor
    data = with_crc(bytes(body))
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setattr(Image, "MAX_IMAGE_PIXELS", FUZZ_LIMIT)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            expected = vqcodec.decode(data, max_pixels=2 * FUZZ_LIMIT, codebook=GOLDEN_CODEBOOK).pixels
        except vqcodec.TooManyPixelsError:
            with pytest.raises((Image.DecompressionBombError, OSError)):
                opened(data)
        except (vqcodec.FormatError, vqcodec.CodebookError):
            with pytest.raises(OSError):
                opened(data)
        else:
            assert np.array_equal(np.asarray(opened(data)), expected)


# --- the pixel cap ----------------------------------------------------------------------------


def test_pillows_bomb_check_judges_the_header_before_any_decoding(monkeypatch):
    data = saved(textured("RGB", 20, 30), k=8, block=2, classic=True)  # 600 pixels
    monkeypatch.setattr(api, "decode", None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 299)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 599)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(data)).close()


def test_pillows_limit_is_the_one_that_applies(monkeypatch):
    """A forged 2^31-1 square image of a few dozen bytes: a bomb by default; with Pillow's limit
    lifted it opens (not loaded here), since vqcodec's own cap would refuse it."""
    data = huge_single_codeword_vqc(version=2)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.mode, im.size) == ("RGBA", ((1 << 31) - 1, (1 << 31) - 1))
