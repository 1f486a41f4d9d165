"""The .vqc format: the container and the codings that turn values into bytes and back.

`container` reads and writes the header, plane records, section table and
checksum of every version; `codings` (version 2's section codings),
`entropy` (the arithmetic coder and its context models) and `bitpack` turn
codebooks, indices and means into bytes; `blocks` is the block layout both
versions use; `order` is the encoders' last step before coding.
docs/format.md is the specification this package implements.

May import: vqcodec.errors and vqcodec.options (limits), nothing else of vqcodec.
"""
