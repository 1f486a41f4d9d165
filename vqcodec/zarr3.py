"""The Zarr 3 codec, at the import path Zarr users know: see vqcodec.integrations.zarr3."""
from .integrations.zarr3 import VQCodec

__all__ = ["VQCodec"]
