"""Codebook training: the trainers, their Numba kernels, and the nearest-codeword search.

`train_codebook` (in `trainers`) is the one entry point the encoders use; it
validates its input (`data`), shrinks it where that changes nothing and hands
it to a trainer: `kmeans`, `centnn` (CentNN, Park's rule, Hartigan's
refinement) or `scalar` (the exact scalar optimum). `nearest` assigns
vectors to codewords; `rows` runs kernels over slices of rows on a small
thread pool. Every public function checks its input, so that no call from
Python can crash the interpreter.

May import: vqcodec.errors and vqcodec.options, nothing else of vqcodec.
"""
from .trainers import TRAINERS, train_codebook

__all__ = ["TRAINERS", "train_codebook"]
