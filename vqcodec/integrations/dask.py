"""vqcodec batches on a Dask cluster: the jobs of `vqcodec encode` (or decode), one task per file.

    >>> from dask.distributed import Client
    >>> from vqcodec.integrations.dask import encode_files, local_cluster
    >>> with local_cluster(n_workers=2) as cluster, Client(cluster) as client:
    ...     outcomes = encode_files(client, ["photos"], "encoded/", recursive=True, quality=60)

The jobs are `batch.plan`'s and each task is `batch.run_one`, so a worker
writes the same bytes under the same name as the command would, atomically,
and a bad input comes back as a failed Outcome (whose `record()` is the
command's --json record) instead of stopping the others. Workers open the
inputs and write the outputs themselves, so they must see them at the same
paths: one machine, or a shared filesystem. Paths are made absolute first,
since a worker's working folder is its own.

A worker runs one task at a time and gives Numba its share of the cores
(NUMBA_NUM_THREADS): `local_cluster` sets both, as `vqcodec encode -j`
does for its processes. Workers of a real cluster are started the same way:

    NUMBA_NUM_THREADS=1 dask worker tcp://scheduler:8786 --nworkers 8 --nthreads 1 --preload vqcodec.integrations.dask
"""
import os
import warnings

from ..cli import batch, program
from ..cli.batch import FAILED, STDIO, Outcome, Settings
from ..errors import OptionsError, VQCodecWarning
from ..options import EncodeOptions

__all__ = ["Settings", "dask_setup", "encode_files", "local_cluster", "run_files"]


def dask_setup(worker) -> None:
    """Run by each worker that preloads this module: it configures its process as the command does."""
    program.configure()


def local_cluster(n_workers: int | None = None, **kwargs):
    """A dask.distributed LocalCluster of worker processes on this machine, each with an equal share of
    the cores for Numba and one task at a time; other keywords go to LocalCluster."""
    from dask.distributed import LocalCluster

    cores = batch.available_cores()
    n_workers = n_workers or cores
    env = {"NUMBA_NUM_THREADS": str(max(1, cores // n_workers)), **kwargs.pop("env", {})}
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=env,
                        preload=[__name__], **kwargs)


def _absolute(path: str) -> str:
    """The path made absolute, keeping a trailing slash (it says "a folder" to batch.plan)."""
    return os.path.join(os.path.abspath(path), "") if path.endswith(("/", os.sep)) else os.path.abspath(path)


def run_files(client, inputs, output: str | None = None, settings: Settings = Settings(), *,
              recursive: bool = False) -> list[Outcome]:
    """What `vqcodec <settings.command> [-r] INPUTS [-o OUTPUT]` does, run on the cluster of `client`:
    one Outcome per input, in order. What the command would only print (a folder without
    images) is a VQCodecWarning."""
    inputs = [os.fspath(i) for i in inputs]
    output = None if output is None else os.fspath(output)
    if STDIO in inputs or output == STDIO:
        raise OptionsError("standard input and output (-) cannot be used on a cluster; give files")
    jobs, notes = batch.plan([_absolute(i) for i in inputs], output and _absolute(output), settings, recursive)
    for note in notes:
        warnings.warn(note, VQCodecWarning, stacklevel=2)
    # once to each worker, not once a task (a shared codebook is large); hash=False: a key of its own, which
    # no earlier call's release can cancel
    shipped = client.scatter(settings, broadcast=True, hash=False)
    futures = client.map(batch.run_one, jobs, settings=shipped, pure=False)
    outcomes = []
    for job, future in zip(jobs, futures):
        try:
            outcomes.append(future.result())
        except Exception as exc:  # the task never finished: its worker died (out of memory?) or left
            outcomes.append(Outcome(job.source, job.output, FAILED,
                                    f"{job.source}: the task failed on the cluster ({type(exc).__name__}: {exc})"))
    return outcomes


def encode_files(client, inputs, output: str | None = None, options: EncodeOptions | None = None, *,
                 recursive: bool = False, codebook=None, **fields) -> list[Outcome]:
    """`vqcodec encode` on the cluster: run_files with these EncodeOptions (or their fields as keywords), and a
    shared codebook if given (a .vqcb's bytes or path), shipped to each worker once."""
    from ..api import read_codebook

    return run_files(client, inputs, output, Settings("encode", EncodeOptions.of(options, **fields),
                                                      codebook=read_codebook(codebook)), recursive=recursive)
