"""The rate-distortion encoder and its decoder: .vqc version 3, what `vqcodec encode` writes by default.

`settings` maps a quality (or -k and -b) to each plane's settings; `encode`
is the encoder's pipeline (colour, means, residuals, train, ecvq, measure,
code, container) and `search` runs it at a quality or searches the quality
for a PSNR or a size; `decode` is the decoder's stages, which the encoder
also uses to measure what it wrote. `planes` is the colour transform and
the smooth base image; `ecvq` the entropy-constrained codebook rounds.

May import: vqcodec.format, vqcodec.train and the top-level utilities
(errors, options, images, metrics, pipeline); never vqcodec.classic, vqcodec.api or above.
"""
