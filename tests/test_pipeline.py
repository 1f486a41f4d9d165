"""The options object, and encoding and decoding as pipelines of stages."""
import dataclasses
import os
import pickle
import signal
import time

import numpy as np
import pytest
from helpers import gradient_image

import vqcodec
from vqcodec.api import decoder
from vqcodec.classic.encode import ENCODE
from vqcodec.options import EncodeOptions
from vqcodec import pipeline as pipeline_module
from vqcodec.cli.batch import Terminated, stopping_between_stages
from vqcodec.pipeline import Pipeline, Stage

# --- EncodeOptions ------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [{"k": 1}, {"k": 65537}, {"k": "8"}, {"k": True}, {"block": 0}, {"block": 17},
                                    {"algo": "x"}, {"seed": -1}, {"seed": 1.0}, {"fixed_rate": 1}])
def test_options_are_validated_when_made(fields):
    with pytest.raises(vqcodec.OptionsError):
        EncodeOptions(**fields)
    with pytest.raises(vqcodec.OptionsError):
        EncodeOptions().replace(**fields)


def test_options_config_round_trips():
    options = EncodeOptions(k=64, block=2, algo="centnn", seed=7, fixed_rate=True)
    assert EncodeOptions.from_config(options.config()) == options
    assert pickle.loads(pickle.dumps(options)) == options
    with pytest.raises(vqcodec.OptionsError, match="colour"):
        EncodeOptions.from_config({**options.config(), "colour": "ycbcr"})


def test_keywords_override_an_options_object():
    options = EncodeOptions(k=8, block=2)
    assert EncodeOptions.of(options, k=16) == EncodeOptions(k=16, block=2)
    assert EncodeOptions.of(None) == EncodeOptions()
    with pytest.raises(vqcodec.OptionsError, match="bogus"):
        EncodeOptions.of(options, bogus=1)
    with pytest.raises(vqcodec.OptionsError, match="EncodeOptions"):
        EncodeOptions.of({"k": 8})


def test_encode_takes_an_options_object_or_keywords():
    image = gradient_image(16, 16)
    options = EncodeOptions(k=8, block=2)
    assert vqcodec.encode(image, options).data == vqcodec.encode(image, k=8, block=2).data
    assert vqcodec.encode(image, options, k=4).header.k == 4
    with pytest.raises(vqcodec.OptionsError):
        vqcodec.encode(image, k=1)


# --- pipelines ------------------------------------------------------------------------------------


def double(x):
    return {"y": 2 * x}


def add(x, y):
    return {"z": x + y}


def test_a_pipeline_refuses_a_stage_whose_input_nobody_writes():
    with pytest.raises(ValueError, match="'add' reads y"):
        Pipeline(("x",), (Stage("add", add, ("z",)),))
    with pytest.raises(ValueError, match="repeat"):
        Pipeline(("x",), (Stage("double", double, ("y",)), Stage("double", double, ("y",))))


def test_a_pipeline_runs_times_and_can_be_rearranged():
    pipeline = Pipeline(("x",), (Stage("double", double, ("y",)), Stage("add", add, ("z",))))
    seen = []
    assert pipeline.run(x=3, on_stage=lambda name, seconds: seen.append((name, seconds >= 0))) == {"x": 3, "y": 6, "z": 9}
    assert seen == [("double", True), ("add", True)]
    triple = Stage("triple", lambda x: {"y": 3 * x}, ("y",))
    assert pipeline.replace("double", triple).run(x=3)["z"] == 12
    square = Stage("square", lambda z: {"z": z * z}, ("z",))
    assert pipeline.insert_after("add", square).run(x=3)["z"] == 81
    assert pipeline.until("double").run(x=3) == {"x": 3, "y": 6}
    with pytest.raises(ValueError):
        pipeline.without("double")  # add would read y, which nothing writes then
    with pytest.raises(KeyError, match="no stage 'nope'"):
        pipeline.without("nope")
    with pytest.raises(TypeError, match="needs exactly x"):
        pipeline.run(y=1)


def test_a_stage_must_write_what_it_declares():
    with pytest.raises(RuntimeError, match="wrote"):
        Pipeline(("x",), (Stage("double", double, ("w",)),)).run(x=1)


def test_encode_and_decode_are_their_pipelines():
    """The API adds nothing to the stages: running the classic ENCODE and version 2's decoder gives the
    same bytes and pixels, and the stage values are what the format says they are."""
    image = gradient_image(20, 24, 3)
    options = EncodeOptions(k=8, block=4, classic=True)
    values = ENCODE.run(source=image, max_pixels=None, options=options)
    assert values["data"] == vqcodec.encode(image, options).data
    assert values["vectors"].shape == (30, 48) and values["codebook"].shape == (8, 48)
    assert values["codebook"].dtype == np.uint8 and values["indices"].max() < 8
    decoded = decoder(2).run(data=values["data"], max_pixels=None, crop=None, codebook=None)
    np.testing.assert_array_equal(decoded["pixels"], vqcodec.decode(values["data"]).pixels)
    assert decoded["header"] == values["header"] == vqcodec.decode(values["data"]).header
    assert ENCODE.names[0] == "read" and decoder(2).names == ("parse", "region", "codebook", "indices", "pixels", "crop")


@pytest.fixture
def no_stop(monkeypatch):
    """A stop request made in a test stays in it."""
    monkeypatch.setattr(pipeline_module, "_stop", [])


def test_a_stop_request_ends_every_run_before_its_next_stage(no_stop):
    ran = []

    def first(x):
        ran.append("first")
        pipeline_module.request_stop(KeyboardInterrupt)  # as a signal handler would, mid-stage
        return {"y": x}

    def second(y):
        ran.append("second")
        return {"z": y}

    pipeline = Pipeline(("x",), (Stage("first", first, ("y",)), Stage("second", second, ("z",))))
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(x=1)
    assert ran == ["first"]  # the stage under way finished; the next never began
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(x=1)  # and every later run stops too
    assert ran == ["first"]


def test_a_failed_run_does_not_wait_for_its_background_stage():
    """After an interrupt, a background stage may wait for a lock the interrupted thread left held: the
    run must end without it."""
    import threading
    import time

    release = threading.Event()

    def stuck(x):
        release.wait(30)
        return {"y": x}

    def failing(x):
        raise KeyboardInterrupt

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        Pipeline(("x",), (Stage("stuck", stuck, ("y",), background=True), Stage("fail", failing, ("z",)))).run(x=1)
    assert time.perf_counter() - start < 10
    release.set()


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_a_signal_during_a_job_stops_it_between_stages(no_stop, signum, raised):
    """The command's jobs: a signal asks the pipelines to stop (it raises nothing inside a stage), and one
    that arrives where no stage follows is raised when the job ends. The handlers are restored after."""
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    ran = []

    def signalled(x):
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # the handler runs here, in this thread: it must not raise
        ran.append("signalled")
        return {"y": x}

    pipeline = Pipeline(("x",), (Stage("signalled", signalled, ("y",)), Stage("after", lambda y: {"z": y}, ("z",))))
    with pytest.raises(raised), stopping_between_stages():
        pipeline.run(x=1)
    assert ran == ["signalled"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    pipeline_module._stop.clear()
    with pytest.raises(raised), stopping_between_stages():
        os.kill(os.getpid(), signum)
        time.sleep(0.05)
        ran.append("outside any pipeline")
    assert ran == ["signalled", "outside any pipeline"]  # the work went on; the stop came at its end


def test_a_background_stage_runs_beside_the_next_and_its_errors_surface():
    import threading

    started = threading.Event()

    def slow(x):
        assert started.wait(5)  # the stage after this one has begun, so this one did not block it
        return {"y": x + 1}

    def meanwhile(x):
        started.set()
        return {"z": 2 * x}

    seen = []
    pipeline = Pipeline(("x",), (Stage("slow", slow, ("y",), background=True), Stage("meanwhile", meanwhile, ("z",))))
    assert pipeline.run(x=1, on_stage=lambda name, seconds: seen.append(name)) == {"x": 1, "y": 2, "z": 2}
    assert sorted(seen) == ["meanwhile", "slow"]
    reader = pipeline.insert_after("meanwhile", Stage("sum", lambda y, z: {"s": y + z}, ("s",)))
    assert reader.run(x=1)["s"] == 4  # waits for the background value it reads

    def failing(x):
        raise ValueError("measured nothing")

    with pytest.raises(ValueError, match="measured nothing"):
        Pipeline(("x",), (Stage("fail", failing, ("y",), background=True), Stage("meanwhile", meanwhile, ("z",)))).run(x=1)


def test_a_run_that_keeps_some_values_lets_the_others_go_once_read():
    """With `keep`, a value no later stage reads is gone before the next stage runs (a large buffer does
    not outlive its readers), and the run returns the kept values only."""
    import gc
    import weakref

    class Buffer:
        pass

    held = []

    def make(x):
        buffer = Buffer()
        held.append(weakref.ref(buffer))
        return {"buffer": buffer, "y": x + 1}

    def read(buffer, y):
        return {"z": y + 1}

    def later(z):
        gc.collect()
        return {"w": z if held[-1]() is None else None}

    stages = (Stage("make", make, ("buffer", "y")), Stage("read", read, ("z",)), Stage("later", later, ("w",)))
    pipeline = Pipeline(("x",), stages)
    assert pipeline.run(x=1, keep=("w", "y")) == {"w": 3, "y": 2}
    assert pipeline.run(x=1)["w"] is None  # without keep, every value stays to the end
    background = Pipeline(("x",), (stages[0], dataclasses.replace(stages[1], background=True), stages[2]))
    assert background.run(x=1, keep=("z", "x")) == {"z": 3, "x": 1}  # a background stage's value, waited for
    with pytest.raises(ValueError, match="cannot keep v"):
        pipeline.run(x=1, keep=("v",))
