"""Benchmarks: every figure from the same encode and decode the command runs.

`runs` measures settings x trainers on images through files on disk, as
`vqcodec encode` and `vqcodec decode` do (the rate-distortion encoder, or
plain VQ with classic=True), and guards them against a saved baseline;
`paper` is the CentNN article's experiments; `anchors` compares the
default encoder with JPEG, WebP and AVIF by BD-rate; `montage` draws an
original beside its reconstructions.

May import: vqcodec.api and everything below it; nothing in vqcodec imports
it but vqcodec.cli.
"""
