"""Plain VQ of the pixels: .vqc versions 1 and 2, what `vqcodec encode --classic` writes.

`encode` is the encoder's pipeline (read, blocks, train, assign, order,
measure, code, container); `decode` the decoder's stages. The trainer
comparison and the CentNN article's experiments run on these files, where
the trainer alone makes the codebook.

May import: vqcodec.format, vqcodec.train and the top-level utilities
(errors, options, images, metrics, pipeline); never vqcodec.rd, vqcodec.api or above.
"""
