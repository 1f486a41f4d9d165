"""vqcodec as a Zarr format 3 codec, named "vqcodec" in the array's metadata.

    >>> import zarr
    >>> from vqcodec.zarr3 import VQCodec
    >>> z = zarr.create_array("photos.zarr", shape=(100, 512, 512, 3), chunks=(1, 512, 512, 3),
    ...                       dtype="uint8", serializer=VQCodec(quality=60), compressors=None)

Format 3 takes no numcodecs codec as is, and vqcodec turns an image into
bytes itself, so it is the array's serializer (zarr's "array -> bytes"
codec), not a compressor. It codes each chunk with vqcodec.numcodecs.VQCodec,
so the chunk rule, the config and the bytes of a chunk are the same in both
formats. Found by Zarr through the `zarr.codecs` entry point.
"""
import asyncio
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration

from ..options import EncodeOptions
from .numcodecs import VQCodec as ChunkCodec, image_shape

NAME = "vqcodec"


@dataclass(frozen=True)
class VQCodec(ArrayBytesCodec):
    """Encode with the given EncodeOptions (or their fields as keywords); the defaults are the library's."""

    options: EncodeOptions
    codebook: object  # a shared codebook (vqcodec.SharedCodebook), or None
    is_fixed_size = False

    def __init__(self, options: EncodeOptions | None = None, *, codebook=None, **fields):
        object.__setattr__(self, "options", EncodeOptions.of(options, **fields))
        object.__setattr__(self, "codebook", self._chunk_codec_of(codebook).codebook)

    def _chunk_codec_of(self, codebook) -> ChunkCodec:
        return ChunkCodec(self.options, codebook=codebook)

    @classmethod
    def from_dict(cls, data: dict) -> "VQCodec":
        _, config = parse_named_configuration(data, NAME, require_configuration=False)
        chunk = ChunkCodec.from_config(config or {})
        return cls(chunk.options, codebook=chunk.codebook)

    def to_dict(self) -> dict:
        config = self._chunk_codec.get_config()
        del config["id"]
        return {"name": NAME, "configuration": config}

    def __eq__(self, other) -> bool:
        return isinstance(other, VQCodec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.options, None if self.codebook is None else self.codebook.identity))

    def validate(self, *, shape, dtype, chunk_grid) -> None:
        """A wrong dtype or chunk shape is refused when the array is made, not at its first write."""
        chunk_shape = getattr(chunk_grid, "chunk_shape", None)
        if chunk_shape is not None:  # a regular grid; the chunks of any other are checked as they are coded
            image_shape(chunk_shape, dtype.to_native_dtype())

    def compute_encoded_size(self, input_byte_length, chunk_spec) -> int:
        raise NotImplementedError  # variable: it depends on the image

    @cached_property
    def _chunk_codec(self) -> ChunkCodec:
        return self._chunk_codec_of(self.codebook)

    def _encode_sync(self, chunk_array, chunk_spec):
        data = self._chunk_codec.encode(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(data)

    def _decode_sync(self, chunk_bytes, chunk_spec):
        out = np.empty(chunk_spec.shape, dtype=chunk_spec.dtype.to_native_dtype())
        self._chunk_codec.decode(chunk_bytes.as_numpy_array(), out=out)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(out)

    async def _encode_single(self, chunk_array, chunk_spec):
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes, chunk_spec):
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)
