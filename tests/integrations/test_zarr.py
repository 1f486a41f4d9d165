"""The vqcodec codec in Zarr arrays: format 2 through numcodecs, format 3 as a serializer."""
import base64
import json
from pathlib import Path

import numcodecs
import numcodecs.tests.common as numcodecs_checks
import numpy as np
import pytest
import zarr
from helpers import GOLDEN, GOLDEN_CODEBOOK, SAMPLES, gradient_image
from PIL import Image

import vqcodec
from vqcodec import metrics
from vqcodec.numcodecs import VQCodec
from vqcodec.zarr3 import VQCodec as VQCodecV3

OPTIONS = {"quality": 60, "seed": 3}
V2_CONFIG = {"id": "vqcodec", **OPTIONS}
V3_CODEC = {"name": "vqcodec", "configuration": OPTIONS}


def stack_of_images(count=3, height=24, width=32, channels=3) -> np.ndarray:
    """Different small photos: crops of a sample."""
    photo = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    images = [photo[20 * i : 20 * i + height, 30 * i : 30 * i + width, :channels] for i in range(count)]
    return np.stack([i if channels > 1 else i[:, :, 0] for i in images])


def create(path: Path, zarr_format: int, shape, chunks, dtype="uint8", codec=None):
    """A Zarr array whose chunks are coded by vqcodec, the codec named by its config as metadata would."""
    if zarr_format == 2:
        return zarr.create_array(path, shape=shape, chunks=chunks, dtype=dtype, zarr_format=2,
                                 compressors=codec or V2_CONFIG, filters=None)
    return zarr.create_array(path, shape=shape, chunks=chunks, dtype=dtype, zarr_format=3,
                             serializer=codec or V3_CODEC, compressors=None)


def chunk_file(path: Path, zarr_format: int, index: int) -> Path:
    """The stored chunk number `index` of a stack chunked one image per chunk."""
    if zarr_format == 2:
        return next(path.glob(f"{index}.0*"))
    return next(f for f in (path / "c" / str(index)).rglob("*") if f.is_file())


FORMATS = pytest.mark.parametrize("zarr_format", [2, 3])
FIXTURE = Path(__file__).parent / "fixture" / "vqcodec"  # chunks stored by vqcodec 0.6.0 (fixture/regenerate.py)


def fixture_arrays() -> list[np.ndarray]:
    """The arrays whose chunks the fixture keeps: a colour image and a grey one after an axis of length 1."""
    return [stack_of_images(1, 24, 32, 3)[0], stack_of_images(1, 24, 32, 1)]


def fixture_codecs() -> list[VQCodec]:
    return [VQCodec(**OPTIONS), VQCodec(classic=True, k=32, block=2, seed=3)]


# --- the codec's config ----------------------------------------------------------------------


def test_the_entry_point_finds_the_codec_by_its_id():
    assert numcodecs.registry.entries["vqcodec"].value == "vqcodec.numcodecs:VQCodec"
    codec = numcodecs.get_codec(V2_CONFIG)
    assert isinstance(codec, VQCodec) and codec.options == vqcodec.EncodeOptions(**OPTIONS)


def test_the_config_is_the_encode_options_config_and_round_trips_through_json():
    codec = VQCodec(k=64, block=2, algo="centnn", seed=7)
    config = codec.get_config()
    assert config == {"id": "vqcodec", **vqcodec.EncodeOptions(k=64, block=2, algo="centnn", seed=7).config()}
    again = numcodecs.get_codec(json.loads(json.dumps(config)))
    assert again == codec and again.get_config() == config
    assert VQCodec().options == vqcodec.EncodeOptions()  # the library's defaults: quality 75
    assert repr(VQCodec(quality=60)) == "VQCodec(quality=60)"
    assert VQCodec(quality=60) != VQCodec(quality=61)


@pytest.mark.parametrize("codec", [VQCodec(), VQCodec(**OPTIONS), VQCodec(classic=True, k=32, block=2, algo="centnn"),
                                   VQCodec(psnr=35.5, effort=7)])
def test_the_codec_passes_numcodecs_own_checks_for_codec_authors(codec, monkeypatch):
    """A config that round-trips through JSON, a repr that evaluates to the codec, and an object array
    refused with a TypeError (numcodecs.tests.common, which evaluates the repr in its own namespace)."""
    numcodecs_checks.check_config(codec)
    monkeypatch.setattr(numcodecs_checks, "VQCodec", VQCodec, raising=False)
    numcodecs_checks.check_repr(repr(codec))
    numcodecs_checks.check_err_encode_object_buffer(codec)


def test_decoding_into_an_object_array_is_a_type_error():
    """numcodecs' check_err_decode_object_buffer, with a chunk vqcodec can encode: it first encodes
    np.arange(10), which is no image."""
    data = VQCodec().encode(gradient_image(16, 16))
    with pytest.raises(TypeError, match="out is object"):
        VQCodec().decode(data, out=np.empty(256, dtype=object))


def test_chunks_stored_by_earlier_versions_decode_to_the_same_pixels(monkeypatch):
    """numcodecs' backwards-compatibility check on the stored chunks, which for a lossy codec only checks
    them within its precision, then each chunk to exactly the pixels stored beside it."""
    chunks = sorted(FIXTURE.glob("codec.*/encoded.*.dat"))
    assert len(chunks) == len(fixture_codecs()) * len(fixture_arrays())  # the check would write missing ones
    monkeypatch.chdir(FIXTURE.parents[1])
    numcodecs_checks.check_backwards_compatibility("vqcodec", fixture_arrays(), fixture_codecs(),
                                                   precision=[-2] * len(fixture_codecs()))
    for chunk in chunks:
        codec = numcodecs.get_codec(json.loads((chunk.parent / "config.json").read_text()))
        expected = np.load(chunk.with_name(chunk.name.replace("encoded", "decoded")).with_suffix(".npy"))
        np.testing.assert_array_equal(codec.decode(chunk.read_bytes()), expected)


def test_a_bad_config_is_an_options_error():
    with pytest.raises(vqcodec.OptionsError, match="unknown encode option"):
        numcodecs.get_codec({"id": "vqcodec", "level": 5})
    with pytest.raises(vqcodec.OptionsError, match="quality must be"):
        numcodecs.get_codec({"id": "vqcodec", "quality": 101})
    with pytest.raises(vqcodec.OptionsError, match="unknown encode option"):
        VQCodecV3.from_dict({"name": "vqcodec", "configuration": {"level": 5}})


def test_the_format_3_codec_round_trips_its_metadata():
    codec = VQCodecV3(classic=True, k=32)
    assert codec.to_dict() == {"name": "vqcodec", "configuration": vqcodec.EncodeOptions(classic=True, k=32).config()}
    assert VQCodecV3.from_dict(json.loads(json.dumps(codec.to_dict()))) == codec


def test_a_shared_codebook_travels_in_the_config_so_that_an_array_stays_self_contained():
    """As imagecodecs carries JPEG tables: the .vqcb's bytes in base64, in the JSON config of both codecs."""
    codec = VQCodec(quality=40, tile=32, codebook=GOLDEN_CODEBOOK)
    config = json.loads(json.dumps(codec.get_config()))
    assert base64.b64decode(config["codebook"]) == GOLDEN_CODEBOOK.read_bytes()
    again = numcodecs.get_codec(config)
    assert again == codec and again.codebook.identity == codec.codebook.identity
    assert again != VQCodec(quality=40, tile=32) and "codebook" not in VQCodec(quality=40, tile=32).get_config()
    assert repr(codec) == f"VQCodec(quality=40, tile=32, codebook=<shared codebook {codec.codebook.name}>)"
    numcodecs_checks.check_config(codec)

    chunk = np.asarray(Image.open(GOLDEN / "v4-shared-rgb420-45x37-t32.png"))
    data = codec.encode(chunk)
    assert vqcodec.info(data).codebook == codec.codebook.identity  # the chunk takes the shared codebook
    np.testing.assert_array_equal(again.decode(data), vqcodec.decode(data, codebook=GOLDEN_CODEBOOK).pixels)
    with pytest.raises(vqcodec.CodebookError, match=codec.codebook.name):
        VQCodec(quality=40).decode(data)  # a codec without it cannot decode into a wrong image

    v3 = VQCodecV3(quality=40, tile=32, codebook=GOLDEN_CODEBOOK)
    assert v3.to_dict()["configuration"] == {key: value for key, value in config.items() if key != "id"}
    assert VQCodecV3.from_dict(json.loads(json.dumps(v3.to_dict()))) == v3 != VQCodecV3(quality=40, tile=32)


@pytest.mark.parametrize("codebook, error, message", [
    ("not base64!", vqcodec.OptionsError, "base64"),
    (17, vqcodec.OptionsError, "base64"),
    (base64.b64encode(b"\x89VQB garbage").decode(), vqcodec.FormatError, "vqcb version"),
])
def test_a_bad_codebook_in_a_config_is_refused(codebook, error, message):
    with pytest.raises(error, match=message):
        numcodecs.get_codec({"id": "vqcodec", "codebook": codebook})
    with pytest.raises(error, match=message):
        VQCodecV3.from_dict({"name": "vqcodec", "configuration": {"codebook": codebook}})


# --- chunks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, image", [
    ((24, 32), (24, 32)),
    ((24, 32, 3), (24, 32, 3)),
    ((24, 32, 1), (24, 32, 1)),
    ((1, 24, 32), (24, 32)),
    ((1, 1, 24, 32, 4), (24, 32, 4)),
])
def test_a_chunk_is_one_image_after_axes_of_length_1(shape, image):
    chunk = gradient_image(24, 32, image[2] if len(image) == 3 else None).reshape(shape)
    codec = VQCodec(**OPTIONS)
    data = codec.encode(chunk)
    assert data == vqcodec.encode(chunk.reshape(image), **OPTIONS).data
    decoded = codec.decode(data)
    assert decoded.size == chunk.size and decoded.dtype == np.uint8
    out = np.empty_like(chunk)
    assert codec.decode(data, out=out) is out
    np.testing.assert_array_equal(out.reshape(decoded.shape), decoded)


@pytest.mark.parametrize("chunk, message", [
    (np.zeros((24, 32), np.uint16), "uint8 images, not uint16"),
    (np.zeros((24, 32, 3), np.float32), "uint8 images, not float32"),
    (np.zeros((2, 24, 32), np.uint8), r"one image per chunk.*got a chunk of shape \(2, 24, 32\)"),
    (np.zeros((2, 24, 32, 3), np.uint8), r"got a chunk of shape \(2, 24, 32, 3\)"),
    (np.zeros(64, np.uint8), r"got a chunk of shape \(64,\)"),
    (np.zeros((0, 32), np.uint8), "got shape"),
])
def test_a_chunk_of_another_dtype_or_shape_is_an_image_error(chunk, message):
    with pytest.raises(vqcodec.ImageError, match=message):
        VQCodec().encode(chunk)


def test_decoding_into_an_out_of_another_dtype_or_size_is_refused():
    data = VQCodec().encode(gradient_image(16, 16))
    with pytest.raises(vqcodec.ImageError, match="uint8"):
        VQCodec().decode(data, out=np.empty((16, 16), np.float32))
    with pytest.raises(vqcodec.FormatError, match=r"does not fill out of shape \(16, 15\)"):
        VQCodec().decode(data, out=np.empty((16, 15), np.uint8))
    with pytest.raises(vqcodec.FormatError, match="16x16 image of 1 channel"):
        VQCodec().decode(data, out=np.empty((8, 8), np.uint8))


# --- arrays --------------------------------------------------------------------------------------


@FORMATS
@pytest.mark.parametrize("channels", [1, 3])
def test_a_stack_of_images_is_stored_one_vqc_per_chunk(tmp_path, zarr_format, channels):
    images = stack_of_images(channels=channels)
    path = tmp_path / "stack.zarr"
    z = create(path, zarr_format, images.shape, (1, *images.shape[1:]))
    z[:] = images
    back = zarr.open_array(path, mode="r")
    assert back.shape == images.shape and back.dtype == np.uint8
    read = back[:]
    for index, image in enumerate(images):
        encoded = vqcodec.encode(image, **OPTIONS)
        assert chunk_file(path, zarr_format, index).read_bytes() == encoded.data  # a chunk is a .vqc
        np.testing.assert_array_equal(read[index], vqcodec.decode(encoded.data).pixels)
        assert metrics.psnr(image, read[index]) == pytest.approx(encoded.psnr)


@FORMATS
def test_an_array_coded_with_a_shared_codebook_reads_back_from_its_metadata_alone(tmp_path, zarr_format, monkeypatch):
    monkeypatch.delenv(vqcodec.api.CODEBOOK_PATH, raising=False)
    image = np.asarray(Image.open(GOLDEN / "v4-shared-rgb420-45x37-t32.png"))
    options = {"quality": 40, "tile": 32}
    codec = (VQCodec if zarr_format == 2 else VQCodecV3)(**options, codebook=GOLDEN_CODEBOOK)
    z = create(tmp_path / "a.zarr", zarr_format, (2, *image.shape), (1, *image.shape), codec=codec)
    z[:] = np.stack([image, image[::-1]])
    back = zarr.open_array(tmp_path / "a.zarr", mode="r")
    for index, expected in enumerate((image, image[::-1])):
        data = chunk_file(tmp_path / "a.zarr", zarr_format, index).read_bytes()
        assert data == vqcodec.encode(expected, **options, codebook=GOLDEN_CODEBOOK).data
        np.testing.assert_array_equal(back[index], vqcodec.decode(data, codebook=GOLDEN_CODEBOOK).pixels)


@FORMATS
def test_an_image_is_stored_in_tiles_edge_tiles_included(tmp_path, zarr_format):
    image = gradient_image(40, 56, 3)
    z = create(tmp_path / "tiles.zarr", zarr_format, image.shape, (16, 16, 3))
    z[:] = image
    read = zarr.open_array(tmp_path / "tiles.zarr", mode="r")[:]
    assert read.shape == image.shape
    assert metrics.psnr(image, read) > 35
    np.testing.assert_array_equal(read[:16, :16], vqcodec.decode(vqcodec.encode(image[:16, :16], **OPTIONS).data).pixels)


@FORMATS
def test_a_format_3_and_a_format_2_array_store_the_same_chunks(tmp_path, zarr_format):
    images = stack_of_images(count=1)
    z = create(tmp_path / "a.zarr", zarr_format, images.shape, images.shape)
    z[:] = images
    assert chunk_file(tmp_path / "a.zarr", zarr_format, 0).read_bytes() == VQCodec(**OPTIONS).encode(images)


@FORMATS
@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_corrupt_chunk_is_a_format_error(tmp_path, zarr_format, damage):
    images = stack_of_images(count=2)
    path = tmp_path / "stack.zarr"
    create(path, zarr_format, images.shape, (1, *images.shape[1:]))[:] = images
    chunk = chunk_file(path, zarr_format, 1)
    data = chunk.read_bytes()
    chunk.write_bytes({
        "flip": data[:40] + bytes([data[40] ^ 0x10]) + data[41:],
        "truncate": data[: len(data) // 2],
        "empty": b"",
        "garbage": b"\x89PNG\r\n\x1a\n" * 8,
    }[damage])
    back = zarr.open_array(path, mode="r")
    np.testing.assert_array_equal(back[0], vqcodec.decode(vqcodec.encode(images[0], **OPTIONS).data).pixels)
    with pytest.raises(vqcodec.FormatError):
        back[1]


def test_a_chunk_of_another_size_is_a_format_error_in_format_3(tmp_path):
    images = stack_of_images(count=2)
    path = tmp_path / "stack.zarr"
    create(path, 3, images.shape, (1, *images.shape[1:]))[:] = images
    chunk_file(path, 3, 1).write_bytes(vqcodec.encode(images[1, :8], **OPTIONS).data)  # a valid .vqc, 8 rows
    with pytest.raises(vqcodec.FormatError, match="does not fill"):
        zarr.open_array(path, mode="r")[1]


@pytest.mark.parametrize("dtype, chunks, message", [
    ("uint16", (1, 24, 32), "not uint16"),
    ("uint8", (2, 24, 32), "one image per chunk"),
])
def test_format_3_refuses_a_wrong_dtype_or_chunk_shape_when_the_array_is_made(tmp_path, dtype, chunks, message):
    with pytest.raises(vqcodec.ImageError, match=message):
        create(tmp_path / "bad.zarr", 3, (3, 24, 32), chunks, dtype=dtype)
    assert not (tmp_path / "bad.zarr" / "zarr.json").exists()


@pytest.mark.parametrize("dtype, chunks, message", [
    ("uint16", (1, 24, 32), "not uint16"),
    ("uint8", (2, 24, 32), "one image per chunk"),
])
def test_format_2_refuses_a_wrong_dtype_or_chunk_shape_at_the_first_write(tmp_path, dtype, chunks, message):
    z = create(tmp_path / "bad.zarr", 2, (3, 24, 32), chunks, dtype=dtype)
    with pytest.raises(vqcodec.ImageError, match=message):
        z[:] = 7


def test_chunks_coded_at_once_on_zarr_threads_give_the_same_bytes_each_time(tmp_path):
    images = stack_of_images(count=4)
    for name in ("a.zarr", "b.zarr"):
        create(tmp_path / name, 3, images.shape, (1, *images.shape[1:]))[:] = images
    for index in range(4):
        assert chunk_file(tmp_path / "a.zarr", 3, index).read_bytes() == \
            chunk_file(tmp_path / "b.zarr", 3, index).read_bytes()
