"""vqcodec on a Dask cluster of worker processes on this machine: batches of files, and arrays to Zarr."""
import json

import dask.array as da
import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from helpers import GOLDEN, GOLDEN_CODEBOOK, SAMPLES
from dask.distributed import Client
from PIL import Image

import vqcodec
from vqcodec.cli import batch
from vqcodec.cli.commands import EXIT_SOME_FAILED, main
from vqcodec.integrations.dask import encode_files, local_cluster, run_files
from vqcodec.numcodecs import VQCodec
from vqcodec.zarr3 import VQCodec as VQCodecV3

WORKERS = 2


@pytest.fixture(scope="module")
def client():
    with local_cluster(n_workers=WORKERS, dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture
def photos(tmp_path):
    """A folder of small photos, one in a subfolder, and one file that is no image."""
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    camera = Image.open(SAMPLES / "camera-128.png")
    camera.crop((0, 0, 40, 32)).save(folder / "a.png")
    camera.crop((60, 50, 108, 90)).save(folder / "more" / "b.png")
    Image.open(SAMPLES / "chelsea.png").resize((36, 24)).save(folder / "c.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but no more")
    return folder


def without_time(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "seconds"}


def test_each_worker_runs_one_task_at_a_time_with_its_share_of_the_cores(client):
    share = max(1, batch.available_cores() // WORKERS)
    assert list(client.nthreads().values()) == [1] * WORKERS
    threads = client.run(lambda: __import__("numba").config.NUMBA_NUM_THREADS)
    assert list(threads.values()) == [share] * WORKERS
    # and each ran the command's configure(), as `--preload vqcodec.integrations.dask` does on a real cluster
    assert set(client.run(lambda: __import__("PIL.Image").Image.MAX_IMAGE_PIXELS).values()) == {None}


def test_a_folder_encoded_on_the_cluster_is_what_the_command_writes_and_reports(client, photos, tmp_path):
    outcomes = encode_files(client, [photos], tmp_path / "cluster", recursive=True, quality=60)
    result = CliRunner().invoke(main, ["encode", "-r", str(photos), "-o", str(tmp_path / "command"),
                                       "--quality", "60", "-j", "1", "--json"])
    assert result.exit_code == EXIT_SOME_FAILED
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "ok"]  # a, broken, c, more/b: the command's order
    assert outcomes[1].message == f"{photos / 'broken.png'}: not an image Pillow can read"
    for outcome, record in zip(outcomes, records, strict=True):
        mine = outcome.record()
        assert mine["output"] == record["output"].replace(str(tmp_path / "command"), str(tmp_path / "cluster"))
        assert without_time({**mine, "output": None}) == without_time({**record, "output": None})
        if outcome.status == "ok":
            with open(outcome.output, "rb") as written, open(record["output"], "rb") as expected:
                assert written.read() == expected.read()
    assert sorted(p.name for p in (tmp_path / "cluster").rglob("*")) == ["a.vqc", "b.vqc", "c.vqc", "more"]


def test_existing_outputs_fail_or_are_kept_as_the_settings_say(client, photos, tmp_path):
    inputs = [photos / "a.png", photos / "c.png"]
    assert [o.status for o in encode_files(client, inputs, tmp_path / "out")] == ["ok", "ok"]
    again = encode_files(client, inputs, tmp_path / "out")
    assert [o.status for o in again] == ["failed", "failed"]
    assert again[0].message.startswith(f"{tmp_path / 'out' / 'a.vqc'} exists")
    kept = run_files(client, inputs, tmp_path / "out", batch.Settings(skip_existing=True))
    assert [o.status for o in kept] == ["skipped", "skipped"]


def test_decoding_runs_on_the_cluster_too(client, photos, tmp_path):
    encoded = encode_files(client, [photos / "a.png"], tmp_path / "a.vqc")
    assert encoded[0].status == "ok"
    outcomes = run_files(client, [tmp_path / "a.vqc"], tmp_path / "a.png", batch.Settings("decode"))
    assert outcomes[0].status == "ok"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")),
                                  vqcodec.decode(tmp_path / "a.vqc").pixels)


def test_a_shared_codebook_is_shipped_to_the_workers_for_encoding_and_decoding(client, tmp_path):
    source = GOLDEN / "v4-shared-rgb420-45x37-t32.png"
    encoded = encode_files(client, [source], tmp_path / "s.vqc", quality=40, tile=32, codebook=GOLDEN_CODEBOOK)
    assert encoded[0].status == "ok", encoded[0].message
    data = (tmp_path / "s.vqc").read_bytes()
    assert data == vqcodec.encode(Image.open(source), quality=40, tile=32, codebook=GOLDEN_CODEBOOK).data
    decoded = run_files(client, [tmp_path / "s.vqc"], tmp_path / "s.png",
                        batch.Settings("decode", codebook=vqcodec.read_codebook(GOLDEN_CODEBOOK)))
    assert decoded[0].status == "ok", decoded[0].message
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.png")),
                                  vqcodec.decode(data, codebook=GOLDEN_CODEBOOK).pixels)


def test_standard_input_and_output_are_refused(client, photos):
    with pytest.raises(vqcodec.OptionsError, match="cannot be used on a cluster"):
        encode_files(client, ["-"])
    with pytest.raises(vqcodec.OptionsError, match="cannot be used on a cluster"):
        encode_files(client, [photos / "a.png"], "-")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_dask_array_of_images_is_written_to_zarr_on_the_cluster_and_read_back(client, tmp_path, zarr_format):
    photo = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    stack = np.stack([photo[:32, :40], photo[100:132, 200:240], photo[-32:, -40:]])
    images = da.from_array(stack, chunks=(1, 32, 40, 3))
    codec = {"compressors": VQCodec(quality=60), "zarr_format": 2} if zarr_format == 2 else \
        {"serializer": VQCodecV3(quality=60), "compressors": None, "zarr_format": 3}
    images.to_zarr(str(tmp_path / "stack.zarr"), **codec)
    back = da.from_zarr(str(tmp_path / "stack.zarr"))
    assert back.chunks == images.chunks and back.dtype == np.uint8
    read = back.compute()
    for image, decoded in zip(stack, read, strict=True):
        np.testing.assert_array_equal(decoded, vqcodec.decode(vqcodec.encode(image, quality=60).data).pixels)
    assert zarr.open_array(tmp_path / "stack.zarr", mode="r").metadata.zarr_format == zarr_format
