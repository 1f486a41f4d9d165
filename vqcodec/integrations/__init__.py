"""vqcodec in other libraries' interfaces: a Pillow plugin (`pillow`), numcodecs and Zarr 3 codecs
(`numcodecs`, `zarr3`), and batches on a Dask cluster (`dask`).

Each module needs its library installed (Pillow always is; the others are
the `[zarr]` and `[dask]` extras), so nothing here is imported until asked
for. Every one codes through vqcodec.api, so it writes the bytes
`vqcodec encode` writes with the same options.

May import: vqcodec.api and everything below it; `dask` also vqcodec.cli
(the command's own jobs). Nothing in vqcodec imports this package but the
one-line re-exports `vqcodec.numcodecs` and `vqcodec.zarr3`, and
`vqcodec.register_pillow`.
"""
