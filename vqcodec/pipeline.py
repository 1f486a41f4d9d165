"""Encoding and decoding as pipelines of stages, each with one job.

A stage is a function whose parameters name the values it reads and whose
result is a dict of the values it writes; `Stage.writes` declares those. A
`Pipeline` checks when it is made that every value a stage reads is given or
written by an earlier stage, so a stage can be added, swapped or removed
without copying the sequence, and `run` can time each stage on its own.

A stage marked `background` runs in a thread beside the stages after it,
until one of them reads what it writes (or the run ends): for work whose
result is not needed at once, such as measuring the decoded image while the
compiled coders, which release the GIL, write the file.

A run stops between stages when asked to (`request_stop`, which a signal
handler may call): an exception raised by a signal inside a compiled kernel
can leave one of Numba's locks held, and every thread that then waits for it
hung. A run that fails leaves its background stage to finish alone.
"""
import inspect
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable


_stop: list[type[BaseException]] = []  # what every run in this process raises at its next stage, if asked


def request_stop(exception: type[BaseException] = KeyboardInterrupt) -> None:
    """Have every pipeline run in this process raise `exception` before its next stage."""
    _stop[:] = [exception]


def stop_requested() -> type[BaseException] | None:
    return _stop[0] if _stop else None


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable  # keyword arguments named after the values it reads -> {value name: value}
    writes: tuple[str, ...]
    background: bool = False

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.run).parameters)


class Pipeline:
    def __init__(self, given: tuple[str, ...], stages: tuple[Stage, ...]):
        known = set(given)
        for stage in stages:
            missing = [name for name in stage.reads if name not in known]
            if missing:
                raise ValueError(f"stage {stage.name!r} reads {', '.join(missing)}, which no earlier stage writes")
            known.update(stage.writes)
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")
        self.given, self.stages = tuple(given), tuple(stages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    def run(self, on_stage: Callable[[str, float], None] | None = None, keep: tuple[str, ...] | None = None,
            **given) -> dict:
        """Run every stage in order; returns every value, given and written, or only those named in
        `keep`, the others let go as soon as no stage after reads them (a value its caller holds stays,
        so what is worth letting go is what the stages write). `on_stage(name, seconds)` is told how
        long each stage took."""
        if set(given) != set(self.given):
            raise TypeError(f"a pipeline run needs exactly {', '.join(self.given)}; got {', '.join(given)}")
        known = set(self.given).union(*(stage.writes for stage in self.stages))
        if keep is not None and not known.issuperset(keep):
            raise ValueError(f"a run cannot keep {', '.join(sorted(set(keep) - known))}: nothing gives or writes it")
        last_read = {name: at for at, stage in enumerate(self.stages) for name in stage.reads}
        values = dict(given)
        del given
        pending: dict[str, Future] = {}  # value name -> the background stage that writes it

        def read(name):
            if name in pending:
                values.update(pending[name].result())
                for written in [n for n, f in pending.items() if f is pending[name]]:
                    del pending[written]
            return values[name]

        def timed(stage, inputs):
            start = time.perf_counter()
            written = stage.run(**inputs)
            if set(written) != set(stage.writes):
                raise RuntimeError(f"stage {stage.name!r} wrote {sorted(written)}, not {sorted(stage.writes)}")
            if on_stage:
                on_stage(stage.name, time.perf_counter() - start)
            return written

        pool = ThreadPoolExecutor(max_workers=1)
        try:
            for at, stage in enumerate(self.stages):
                if _stop:
                    raise _stop[0]()
                inputs = {name: read(name) for name in stage.reads}
                if stage.background:
                    future = pool.submit(timed, stage, inputs)
                    pending.update(dict.fromkeys(stage.writes, future))
                else:
                    values.update(timed(stage, inputs))
                del inputs  # a background stage holds its own
                if keep is not None:
                    for name in [n for n in values if n not in keep and last_read.get(n, -1) <= at]:
                        del values[name]
            for name in list(pending):
                read(name)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return values if keep is None else {name: values[name] for name in keep}

    def _at(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"no stage {name!r}; the stages are {', '.join(self.names)}")
        return self.names.index(name)

    def stage(self, name: str) -> Stage:
        return self.stages[self._at(name)]

    def replace(self, name: str, stage: Stage) -> "Pipeline":
        """The same pipeline with the stage called `name` swapped for `stage`."""
        at = self._at(name)
        return Pipeline(self.given, self.stages[:at] + (stage,) + self.stages[at + 1 :])

    def insert_after(self, name: str, stage: Stage) -> "Pipeline":
        at = self._at(name) + 1
        return Pipeline(self.given, self.stages[:at] + (stage,) + self.stages[at:])

    def until(self, name: str) -> "Pipeline":
        """The stages up to and including the one called `name`."""
        return Pipeline(self.given, self.stages[: self._at(name) + 1])

    def span(self, first: str, last: str) -> "Pipeline":
        """The stages from `first` to `last`, given what they read that no stage among them writes:
        for running part of a pipeline again with other inputs."""
        stages = self.stages[self._at(first) : self._at(last) + 1]
        written, given = set(), []
        for stage in stages:
            given += [name for name in stage.reads if name not in written and name not in given]
            written.update(stage.writes)
        return Pipeline(tuple(given), stages)

    def without(self, name: str) -> "Pipeline":
        at = self._at(name)
        return Pipeline(self.given, self.stages[:at] + self.stages[at + 1 :])
