"""The numcodecs codec, at the import path Zarr users know: see vqcodec.integrations.numcodecs."""
from .integrations.numcodecs import VQCodec

__all__ = ["VQCodec"]
