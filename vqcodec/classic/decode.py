"""The classic decoder (.vqc versions 1 and 2): the codebook, the indices, then each block's codeword
in its place, the padding cropped. `DECODE` lists the stages, from the parsed header and payloads."""
from ..format import blocks, codings, container
from ..format.container import KINDS
from ..pipeline import Pipeline, Stage


def _decode_codebook(header, payloads):
    return {"codebook": codings.decode_section(header, "codebook", payloads[KINDS.index("codebook")])}


def _decode_indices(header, payloads):
    return {"indices": codings.decode_section(header, "indices", payloads[KINDS.index("indices")])}


def _assemble(header, codebook, indices):
    try:
        image = blocks.decode(codebook, indices, header.height, header.width, header.block)
    except (MemoryError, ValueError):  # NumPy's "array is too big" when the pixel cap is lifted
        raise container.too_big(header) from None
    return {"pixels": image[:, :, 0] if header.channels == 1 else image}


DECODE = Pipeline(("header", "payloads"), (
    Stage("codebook", _decode_codebook, ("codebook",)),
    Stage("indices", _decode_indices, ("indices",)),
    Stage("pixels", _assemble, ("pixels",)),
))
