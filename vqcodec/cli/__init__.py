"""The `vqcodec` command: parse options, call the library, print.

`commands` holds the click commands (the `vqcodec` entry point is
`commands.run`); `batch` plans and runs many inputs (folders, pipes, worker
processes), one outcome per input; `progress` draws the terminal's progress
line; `program` sets what a program owning its process may set; `kernels`
compiles Numba's kernels ahead (`vqcodec warmup`, and a second process on a
first run).

May import: vqcodec.api, vqcodec.bench and everything below them; nothing
imports vqcodec.cli but vqcodec.integrations.dask, which runs the command's
own jobs on a cluster.
"""
