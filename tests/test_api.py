import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import (BOTH_ENCODERS, CLUSTERING, SAMPLES, checkerboard, corrupt_tiff_bytes, gradient_image, huge_width_bmp_bytes,
                      random_image)
from PIL import Image

import vqcodec
from vqcodec import metrics

MODE_CHANNELS = {"L": None, "LA": 2, "RGB": 3, "RGBA": 4}


def encode_quietly(source, **options) -> tuple[vqcodec.Encoded, list[str]]:
    """Encode and return the result with the messages of the VQCodecWarnings emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = vqcodec.encode(source, **options)
    return result, [str(w.message) for w in caught if issubclass(w.category, vqcodec.VQCodecWarning)]


def exact_k(height: int, width: int, block: int) -> int:
    """A K no smaller than the number of blocks, so that every distinct block gets its own codeword."""
    return max(2, -(-height // block) * -(-width // block))


def check_result(result: vqcodec.Encoded, original: np.ndarray) -> np.ndarray:
    """The invariants of any encode: returns the decoded image."""
    decoded = vqcodec.decode(result.data).pixels
    assert decoded.dtype == np.uint8
    assert decoded.shape == original.shape
    assert len(result.data) == result.header.file_size
    assert result.psnr == metrics.psnr(original, decoded)
    assert result.header == vqcodec.info(result.data)
    assert result.bits_per_pixel == pytest.approx(8 * len(result.data) / (original.shape[0] * original.shape[1]))
    return decoded


# --- round trips ---------------------------------------------------------------------------


@BOTH_ENCODERS
@pytest.mark.parametrize("mode", MODE_CHANNELS)
@pytest.mark.parametrize("as_pil", [False, True], ids=["array", "pil"])
@pytest.mark.parametrize("algo", CLUSTERING)
def test_round_trip_native_modes(mode, as_pil, algo, classic):
    original = gradient_image(24, 20, MODE_CHANNELS[mode])
    source = Image.fromarray(original, mode) if as_pil else original
    result, caught = encode_quietly(source, k=8, block=4, algo=algo, classic=classic)
    assert caught == []
    h = result.header
    assert (h.width, h.height, h.block, h.requested_k, h.trainer) == (20, 24, 4, 8, algo)
    if classic:
        assert (h.version, h.k) == (2, 8)
    else:  # K is what each plane may use at most; the header's k is the sum over the planes
        assert h.version == 5 and all(1 <= p.k <= 8 for p in h.planes) and h.k == sum(p.k for p in h.planes)
    assert h.mode == mode
    check_result(result, original)
    assert 25 < result.psnr < math.inf
    assert result.header.raw_size == original.size


@pytest.mark.parametrize("mode", MODE_CHANNELS)
def test_round_trip_is_exact_when_k_covers_every_block(mode):
    original = random_image(10, 7, MODE_CHANNELS[mode], seed=1)
    result, caught = encode_quietly(original, k=exact_k(10, 7, 3), block=3, classic=True)
    assert caught == []  # random blocks are all distinct, so the codebook keeps its size
    np.testing.assert_array_equal(check_result(result, original), original)
    assert result.psnr == math.inf


@BOTH_ENCODERS
def test_grey_array_with_one_channel_axis_decodes_as_h_by_w(classic):
    original = random_image(8, 8, 1)
    result = vqcodec.encode(original, k=16, block=2, classic=classic)
    assert result.header.mode == "L"
    assert result.data == vqcodec.encode(original[:, :, 0], k=16, block=2, classic=classic).data
    decoded = vqcodec.decode(result.data).pixels
    assert decoded.shape == (8, 8)
    if classic:  # 16 blocks, 16 codewords: exact
        np.testing.assert_array_equal(decoded, original[:, :, 0])


@pytest.mark.filterwarnings("ignore::vqcodec.VQCodecWarning")  # tiny images may have repeated blocks
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9), (9, 1), (13, 7)])
@pytest.mark.parametrize("block", [1, 3, 4])
@pytest.mark.parametrize("channels", [None, 4])
@BOTH_ENCODERS
def test_awkward_sizes(height, width, block, channels, classic):
    original = random_image(height, width, channels, seed=height + width)
    result = vqcodec.encode(original, k=exact_k(height, width, block), block=block, classic=classic)
    assert (result.header.width, result.header.height) == (width, height)
    decoded = check_result(result, original)
    if classic:  # a codeword for every block: exact
        np.testing.assert_array_equal(decoded, original)


# --- conversions of other Pillow modes -----------------------------------------------------


def palette_image(transparency: bool) -> Image.Image:
    rng = np.random.default_rng(2)
    im = Image.fromarray(rng.integers(0, 6, (6, 6), dtype=np.uint8), "P")
    im.putpalette(rng.integers(0, 256, 6 * 3, dtype=np.uint8).tobytes())
    if transparency:
        im.info["transparency"] = 3
    return im


def converted(im: Image.Image, mode: str) -> np.ndarray:
    return np.asarray(im.convert(mode))


sixteen = (random_image(6, 6, seed=3).astype(np.uint16) << 8) | 91  # the low byte is dropped
CONVERSIONS = {
    # id: (image, expected decoded pixels, expected mode, a word of the expected warning or None)
    "1": (Image.fromarray(random_image(6, 6, seed=4) > 127), None, "L", None),
    "P": (palette_image(False), None, "RGB", None),
    "P-transparency": (palette_image(True), None, "RGBA", None),
    "CMYK": (Image.fromarray(random_image(6, 6, 4, seed=5), "CMYK"), None, "RGB", "CMYK"),
    "I;16": (Image.fromarray(sixteen), (sixteen >> 8).astype(np.uint8), "L", "16-bit"),
    "I-below-256": (Image.fromarray(random_image(6, 6, seed=6).astype(np.int32)), random_image(6, 6, seed=6), "L", None),
}


@BOTH_ENCODERS
@pytest.mark.parametrize("name", CONVERSIONS)
def test_mode_conversions(name, classic):
    image, expected, mode, warning = CONVERSIONS[name]
    assert image.mode == name.split("-")[0]
    if expected is None:
        expected = converted(image, mode)
    if mode == "L":
        expected = expected.astype(np.uint8)
    result, caught = encode_quietly(image, k=9, block=2, classic=classic)  # 9 blocks: every distinct block is kept
    assert result.header.mode == mode
    decoded = vqcodec.decode(result.data).pixels
    if classic:
        np.testing.assert_array_equal(decoded, expected)
    # the expected pixels are what was coded: the same file as from those pixels themselves
    assert result.data == encode_quietly(expected, k=9, block=2, classic=classic)[0].data
    conversion_warnings = [m for m in caught if "distinct block" not in m]
    if warning is None:
        assert conversion_warnings == []
    else:
        assert len(conversion_warnings) == 1 and warning in conversion_warnings[0]


@BOTH_ENCODERS
def test_i_mode_without_warning_and_i16_with_warning(classic):
    # the same samples, as 32-bit 'I' (values <= 255: taken as they are) and as 16-bit (high byte kept)
    values = random_image(8, 8, seed=7)
    direct = vqcodec.encode(values, k=16, block=2, classic=classic).data
    result, caught = encode_quietly(Image.fromarray(values.astype(np.int32)), k=16, block=2, classic=classic)
    assert caught == []
    assert result.data == direct
    with pytest.warns(vqcodec.VQCodecWarning, match="16-bit"):
        result = vqcodec.encode(Image.fromarray(values.astype(np.uint16) << 8), k=16, block=2, classic=classic)
    assert result.data == direct
    if classic:  # 16 blocks, 16 codewords: exact
        np.testing.assert_array_equal(vqcodec.decode(result.data).pixels, values)


def test_cmyk_warns():
    with pytest.warns(vqcodec.VQCodecWarning, match="CMYK"):
        result = vqcodec.encode(Image.fromarray(random_image(8, 8, 4), "CMYK"), k=4, block=2)
    assert result.header.channels == 3


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.fromarray(np.zeros((4, 4), np.float32)), id="F"),
        pytest.param(Image.fromarray(np.full((4, 4), 70000, np.int32)), id="I-above-65535"),
        pytest.param(Image.fromarray(np.full((4, 4), -1, np.int32)), id="I-negative"),
    ],
)
def test_unsupported_modes(image):
    with pytest.raises(vqcodec.ImageError):
        vqcodec.encode(image, k=4, block=2)


def test_animated_gif_codes_first_frame_with_warning(tmp_path):
    frames = [Image.fromarray(checkerboard(8, 8, 0, v)).convert("P") for v in (255, 128)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    result, caught = encode_quietly(path, k=4, block=1)
    assert any("first of 2 frames" in m for m in caught)
    decoded = vqcodec.decode(result.data).pixels
    np.testing.assert_array_equal(decoded, converted(Image.open(path), "RGB"))


# --- few distinct blocks, constant planes --------------------------------------------------


@pytest.mark.parametrize("algo", CLUSTERING)
@pytest.mark.parametrize(("block", "distinct"), [(1, 2), (2, 1), (3, 2)])
def test_few_distinct_blocks_shrink_the_codebook(algo, block, distinct):
    original = checkerboard(12, 12, 30, 200)
    with pytest.warns(vqcodec.VQCodecWarning, match="distinct"):
        result = vqcodec.encode(original, k=16, block=block, algo=algo, classic=True)
    assert result.header.k == distinct < result.header.requested_k == 16
    assert result.psnr == math.inf
    np.testing.assert_array_equal(check_result(result, original), original)


@BOTH_ENCODERS
@pytest.mark.parametrize("algo", CLUSTERING)
@pytest.mark.parametrize("channels", [2, 4])
def test_constant_alpha_survives_exactly(algo, channels, classic):
    original = random_image(16, 16, channels, seed=8)
    original[:, :, -1] = 255
    result = vqcodec.encode(original, k=8, block=4, algo=algo, classic=classic)
    decoded = check_result(result, original)
    assert (decoded[:, :, -1] == 255).all()
    assert result.psnr < math.inf  # the colours, unlike alpha, are quantised


# --- determinism ---------------------------------------------------------------------------


@BOTH_ENCODERS
@pytest.mark.parametrize("algo", CLUSTERING)
def test_same_input_and_seed_give_identical_bytes(algo, png_file, classic):
    original = random_image(20, 20, 3, seed=9)
    path = png_file(original)
    first = vqcodec.encode(original, k=16, block=4, algo=algo, seed=5, classic=classic).data
    assert vqcodec.encode(original.copy(), k=16, block=4, algo=algo, seed=5, classic=classic).data == first
    assert vqcodec.encode(path, k=16, block=4, algo=algo, seed=5, classic=classic).data == first


@BOTH_ENCODERS
def test_kmeans_seed_changes_the_codebook(classic):
    original = random_image(32, 32, 3, seed=10)
    first = vqcodec.encode(original, k=16, block=4, seed=0, classic=classic).data
    assert any(vqcodec.encode(original, k=16, block=4, seed=s, classic=classic).data != first for s in (1, 2, 3))


def test_centnn_ignores_the_seed():
    """Plain VQ: CentNN trains on every block. (The rate-distortion encoder draws its training rows
    with the seed when a plane has more than it needs, so there the seed may matter.)"""
    original = random_image(16, 16, seed=11)
    a = vqcodec.encode(original, k=8, block=2, algo="centnn", seed=0, classic=True).data
    assert vqcodec.encode(original, k=8, block=2, algo="centnn", seed=99, classic=True).data == a


# --- options and inputs that are refused ---------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"k": 1}, {"k": 70000}, {"k": 2.0}, {"block": 0}, {"block": 17}, {"block": 2.5}, {"algo": "nope"}, {"seed": -1}],
    ids=str,
)
def test_option_validation(options):
    with pytest.raises(vqcodec.OptionsError):
        vqcodec.encode(random_image(8, 8), **{"k": 4, "block": 2, **options})


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(np.zeros((4, 4), np.uint16), id="uint16"),
        pytest.param(np.zeros((4, 4), np.float64), id="float64"),
        pytest.param(np.zeros((4, 4, 5), np.uint8), id="5-channels"),
        pytest.param(np.zeros((0, 4), np.uint8), id="empty"),
        pytest.param(np.zeros(16, np.uint8), id="1-D"),
        pytest.param(np.zeros((2, 2, 2, 2), np.uint8), id="4-D"),
        pytest.param(np.array(7, np.uint8), id="0-D"),
    ],
)
def test_bad_arrays(array):
    with pytest.raises(vqcodec.ImageError):
        vqcodec.encode(array, k=4, block=2)


def first_half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


DIRECTORY = object()
UNREADABLE = {
    # name: (file name, content (None: no file), max_pixels)
    "text": ("notes.png", lambda: b"this is not an image\n", vqcodec.DEFAULT_MAX_PIXELS),
    "empty": ("empty.png", lambda: b"", vqcodec.DEFAULT_MAX_PIXELS),
    "missing": ("missing.png", lambda: None, vqcodec.DEFAULT_MAX_PIXELS),
    "directory": ("folder.png", lambda: DIRECTORY, vqcodec.DEFAULT_MAX_PIXELS),
    "truncated-png": ("half.png", lambda: first_half(SAMPLES / "camera-128.png"), vqcodec.DEFAULT_MAX_PIXELS),
    "corrupt-tiff": ("corrupt.tif", corrupt_tiff_bytes, vqcodec.DEFAULT_MAX_PIXELS),
    "huge-bmp-no-cap": ("huge.bmp", huge_width_bmp_bytes, None),
}


@pytest.mark.parametrize("name", UNREADABLE)
def test_unreadable_inputs_raise_image_error(tmp_path, monkeypatch, name):
    filename, make, max_pixels = UNREADABLE[name]
    if max_pixels is None:  # no cap at all, Pillow's own included (as the command lifts it)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / filename
    content = make()
    if content is DIRECTORY:
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(vqcodec.ImageError) as info:
        vqcodec.encode(path, k=4, block=2, max_pixels=max_pixels)
    assert str(path) in str(info.value)
    with pytest.raises(vqcodec.ImageError):
        vqcodec.encode(str(path), k=4, block=2, max_pixels=max_pixels)


@BOTH_ENCODERS
def test_file_objects_are_accepted(png_file, classic):
    original = random_image(8, 8, 3)
    path = png_file(original)
    with open(path, "rb") as f:
        result = vqcodec.encode(f, k=16, block=2, classic=classic)
    assert result.data == vqcodec.encode(path, k=16, block=2, classic=classic).data
    if classic:  # 16 blocks, 16 codewords: exact
        np.testing.assert_array_equal(vqcodec.decode(result.data).pixels, original)


# --- pixel cap -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["array", "pil", "path"])
def test_pixel_cap_on_encode(kind, png_file):
    original = random_image(16, 16)
    source = {"array": original, "pil": Image.fromarray(original), "path": png_file(original)}[kind]
    with pytest.raises(vqcodec.TooManyPixelsError):
        vqcodec.encode(source, k=4, block=4, max_pixels=255)
    assert vqcodec.encode(source, k=4, block=4, max_pixels=256).header.width == 16
    assert vqcodec.encode(source, k=4, block=4, max_pixels=None).header.width == 16


def test_pixel_cap_on_decode(tmp_path):
    data = vqcodec.encode(random_image(16, 16), k=4, block=4).data
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(vqcodec.TooManyPixelsError):
            vqcodec.decode(source, max_pixels=255)
        assert vqcodec.decode(source, max_pixels=256).pixels.shape == (16, 16)
        assert vqcodec.decode(source, max_pixels=None).pixels.shape == (16, 16)


@pytest.mark.parametrize("version", [1, 2])
def test_a_stream_is_read_as_far_as_it_goes_not_as_far_as_its_header_claims(version):
    """With the cap lifted, a header may declare an image of 2^62 pixels: reading from a stream must
    stop where the stream does (and say so), not set aside the declared size first."""
    import io

    from helpers import peak_allocation

    from vqcodec.format import container

    side = (1 << 31) - 1
    head = container.HEADER.pack(container.MAGIC, version, 1, 1, 1, side, side, 2, 2)
    if version == 2:  # packed indices: the length must be P, which the header makes 2^59 bytes
        head += container.COUNT.pack(2) + container.SECTION.pack(1, 0, 2) + container.SECTION.pack(2, 0, -(-side * side // 8))
    stream = io.BufferedReader(io.BytesIO(head + bytes(100)))  # as sys.stdin.buffer is: read(n) sets n bytes aside
    (_, error), peak = peak_allocation(lambda: (None, pytest.raises(vqcodec.FormatError, vqcodec.decode, stream,
                                                                    max_pixels=None)))
    assert "truncated" in str(error.value)
    assert peak < 64 << 20, peak


# --- decode and info -----------------------------------------------------------------------


@pytest.fixture(scope="module", params=[True, False], ids=["classic", "rd"])
def encoded_rgb(request):
    """(the image, its encoding, whether that is classic), for each encoder."""
    original = gradient_image(12, 10, 3)
    return original, vqcodec.encode(original, k=8, block=2, classic=request.param), request.param


def test_decode_from_bytes_and_paths(encoded_rgb, tmp_path):
    _, result, _ = encoded_rgb
    path = tmp_path / "a.vqc"
    path.write_bytes(result.data)
    expected = vqcodec.decode(result.data).pixels
    for source in (bytearray(result.data), memoryview(result.data), path, str(path)):
        np.testing.assert_array_equal(vqcodec.decode(source).pixels, expected)


def test_info(encoded_rgb, tmp_path):
    _, result, classic = encoded_rgb
    path = tmp_path / "a.vqc"
    path.write_bytes(result.data)
    for source in (result.data, path, str(path)):
        header = vqcodec.info(source)
        assert header == result.header
        assert (header.width, header.height, header.mode, header.requested_k, header.block) == (10, 12, "RGB", 8, 2)
        if classic:
            assert (header.version, header.k) == (2, 8)
        else:  # each plane up to 8 codewords; the header's k is their sum
            assert header.version == 5 and all(p.k <= 8 for p in header.planes) and header.k == sum(p.k for p in header.planes)


@pytest.mark.parametrize("name", ["picture.png", "empty.vqc", "missing.vqc", "folder.vqc", "short.vqc", "corrupt.vqc"])
def test_decode_of_a_bad_path_names_the_path(tmp_path, name, encoded_rgb):
    path = tmp_path / name
    data = encoded_rgb[1].data
    if name == "picture.png":
        path.write_bytes((SAMPLES / "camera-128.png").read_bytes())
    elif name == "empty.vqc":
        path.write_bytes(b"")
    elif name == "folder.vqc":
        path.mkdir()
    elif name == "short.vqc":
        path.write_bytes(data[:-1])
    elif name == "corrupt.vqc":
        path.write_bytes(data[:30] + bytes([data[30] ^ 0xFF]) + data[31:])
    for call in (vqcodec.decode, vqcodec.info):
        with pytest.raises(vqcodec.FormatError) as info:
            call(path)
        assert str(path) in str(info.value)


def test_encoded_save_writes_and_refuses_to_overwrite(tmp_path):
    result = vqcodec.encode(gradient_image(9, 11), k=4, block=2)
    target = tmp_path / "g.vqc"
    result.save(target)
    assert target.read_bytes() == result.data
    with pytest.raises(vqcodec.OutputError, match="exists"):
        result.save(target)
    result.save(target, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["g.vqc"]


@pytest.mark.parametrize("mode", ["LAB", "HSV", "YCbCr", "RGBX"])
def test_colour_spaces_without_alpha_become_rgb(mode):
    source = Image.fromarray(gradient_image(9, 11, 3), "RGB").convert(mode)
    result, _ = encode_quietly(source, k=4, block=2)
    assert result.header.mode == "RGB"


def test_exif_orientation_is_applied(tmp_path):
    """A photo tagged 'rotate 90' is coded the way viewers show it: width and height swap."""
    im = Image.fromarray(gradient_image(10, 16, 3), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    im.save(tmp_path / "tilted.jpg", exif=exif)
    result, _ = encode_quietly(tmp_path / "tilted.jpg", k=4, block=2)
    assert (result.header.width, result.header.height) == (10, 16)


# --- the library leaves process-wide settings to the program that embeds it ------------------


def test_importing_and_encoding_leave_the_environment_and_pillow_alone():
    """Thread-waiting variables and Pillow's bomb limit belong to the embedding program; only the
    vqcodec command (vqcodec.cli.program.configure) sets them, for itself and its workers."""
    import subprocess
    import sys

    code = (
        "import os, numpy, PIL.Image, vqcodec\n"
        "before = dict(os.environ), PIL.Image.MAX_IMAGE_PIXELS\n"
        "import vqcodec.train.kmeans, vqcodec.train.centnn, vqcodec.train.nearest\n"
        "vqcodec.encode(numpy.arange(64, dtype=numpy.uint8).reshape(8, 8), k=4, block=2)\n"
        "print(before == (dict(os.environ), PIL.Image.MAX_IMAGE_PIXELS))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True", out.stderr


def test_the_command_configures_its_own_process(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from PIL import Image

    from vqcodec.cli.commands import main

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    Image.fromarray(gradient_image(8, 8)).save(tmp_path / "a.png")
    assert Image.MAX_IMAGE_PIXELS is not None
    assert CliRunner().invoke(main, ["encode", str(tmp_path / "a.png"), "-k", "4", "-q"]).exit_code == 0
    assert Image.MAX_IMAGE_PIXELS is None and os.environ["GOMP_SPINCOUNT"] == "1000"


def test_pillows_own_guard_applies_in_the_library(tmp_path, monkeypatch):
    from PIL import Image

    Image.fromarray(gradient_image(8, 8)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 31)  # refuses above 62 pixels
    with pytest.raises(vqcodec.TooManyPixelsError, match="MAX_IMAGE_PIXELS"):
        vqcodec.encode(tmp_path / "a.png", k=4, max_pixels=None)
    assert Image.MAX_IMAGE_PIXELS == 31
