"""vqcodec as a numcodecs codec: Zarr arrays of uint8 images stored VQ-compressed, a chunk at a time.

    >>> import zarr
    >>> from vqcodec.numcodecs import VQCodec
    >>> z = zarr.create_array("photos.zarr", shape=(100, 512, 512, 3), chunks=(1, 512, 512, 3),
    ...                       dtype="uint8", compressors=VQCodec(quality=60), zarr_format=2)

Each chunk is one image: its last two axes (grey), or its last three when
the last has 1 to 4 entries (channels), and every axis before them of
length 1, so a stack of images is chunked one image per chunk. A chunk is
stored as the .vqc that `vqcodec.encode` makes of it, so the codec's config
is an EncodeOptions config plus the id, and the data is lossy as a .vqc is.
A shared codebook (`codebook=`, a .vqcb's bytes or path) travels in the
config, base64-coded, so that the array stays readable on its own, as
imagecodecs carries JPEG tables. Registered under the id "vqcodec" through
the `numcodecs.codecs` entry point.
"""
import base64

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray_like, ndarray_copy

from ..errors import FormatError, ImageError, ImageTypeError, OptionsError
from ..options import EncodeOptions


def image_shape(chunk_shape: tuple[int, ...], dtype) -> tuple[int, ...]:
    """The shape of the image a chunk of this shape and dtype holds; ImageError when it holds none
    (ImageTypeError, a TypeError too, for another dtype than uint8)."""
    if np.dtype(dtype) != np.uint8:
        raise ImageTypeError(f"vqcodec stores uint8 images, not {np.dtype(dtype)}")
    image_axes = 3 if len(chunk_shape) >= 3 and 1 <= chunk_shape[-1] <= 4 else 2
    if len(chunk_shape) < 2 or any(n != 1 for n in chunk_shape[:-image_axes]):
        raise ImageError("vqcodec stores one image per chunk: H x W, or H x W x C with C from 1 to 4, after axes "
                         f"of length 1 (a stack is chunked (1, H, W[, C])); got a chunk of shape {tuple(chunk_shape)}")
    return tuple(chunk_shape[-image_axes:])


class VQCodec(Codec):
    """Encode with the given EncodeOptions (or their fields as keywords), the defaults being the library's,
    and with a shared codebook if given (a .vqcb's bytes or path, or what vqcodec.read_codebook read)."""

    codec_id = "vqcodec"

    def __init__(self, options: EncodeOptions | None = None, *, codebook=None, **fields):
        from ..api import read_codebook  # (no Numba: a .vqcb's codebooks are decoded in NumPy-only code)

        self._options = EncodeOptions.of(options, **fields)
        self._codebook = read_codebook(codebook)

    @property
    def options(self) -> EncodeOptions:
        return self._options

    @property
    def codebook(self):
        """The shared codebook (vqcodec.SharedCodebook), or None."""
        return self._codebook

    def get_config(self) -> dict:
        shared = {} if self._codebook is None else {"codebook": base64.b64encode(self._codebook.data).decode("ascii")}
        return {"id": self.codec_id, **self._options.config(), **shared}

    @classmethod
    def from_config(cls, config: dict) -> "VQCodec":
        fields = {key: value for key, value in config.items() if key not in ("id", "codebook")}
        shared = config.get("codebook")
        if shared is not None and not isinstance(shared, str):
            raise OptionsError("a codec config's codebook is a .vqcb's bytes in base64")
        try:
            codebook = None if shared is None else base64.b64decode(shared, validate=True)
        except ValueError:
            raise OptionsError("a codec config's codebook is a .vqcb's bytes in base64") from None
        return cls(EncodeOptions.from_config(fields), codebook=codebook)

    def __repr__(self):
        """Evaluable, but for a shared codebook, which it names."""
        changed = [f"{key}={value!r}" for key, value in self._options.config().items()
                   if value != EncodeOptions().config()[key]]
        shared = [] if self._codebook is None else [f"codebook=<shared codebook {self._codebook.name}>"]
        return f"VQCodec({', '.join(changed + shared)})"

    def encode(self, buf) -> bytes:
        from .. import api  # Numba only when a chunk is coded, not when Zarr reads a config

        chunk = ensure_ndarray_like(buf)
        image = np.asarray(chunk).reshape(image_shape(chunk.shape, chunk.dtype))
        return api.encode(image, self._options, codebook=self._codebook).data

    def decode(self, buf, out=None) -> np.ndarray:
        """The image (H x W, or H x W x C); with `out`, written into it, whatever its shape, if the sizes agree."""
        from .. import api

        data = ensure_contiguous_ndarray(buf).tobytes()
        if out is None:
            return api.decode(data, codebook=self._codebook).pixels
        out = ensure_ndarray_like(out)
        if out.dtype != np.uint8:
            raise ImageTypeError(f"vqcodec decodes to uint8, and out is {out.dtype}")
        header = api.info(data)  # checked before any pixel is decoded
        if header.height * header.width * header.channels != out.size:
            raise FormatError(f"the chunk holds a {header.width}x{header.height} image of {header.channels} "
                              f"channel(s), which does not fill out of shape {out.shape}")
        return ndarray_copy(api.decode(data, codebook=self._codebook).pixels, out)
