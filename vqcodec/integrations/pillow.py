"""A Pillow plugin for .vqc files: `register_pillow()`, then Image.open and Image.save.

    >>> from PIL import Image
    >>> import vqcodec
    >>> vqcodec.register_pillow()
    >>> Image.open("photo.png").save("photo.vqc", quality=60)
    >>> Image.open("photo.vqc").size

Opening reads the header only, so Pillow's decompression-bomb check
(`Image.MAX_IMAGE_PIXELS`) judges the declared size before anything is
decoded: Pillow's limit is the one that applies, as for its own formats.
As its plugins do, a header that cannot be read raises SyntaxError (which
Image.open reports as UnidentifiedImageError), any other damage OSError.
Saving takes the EncodeOptions fields as keywords, and `codebook` (a shared
codebook, as vqcodec.encode takes it), and writes the bytes `vqcodec encode`
writes with the same options. Image.open takes no options, so a file coded
with a shared codebook finds it among those given to register_pillow, else
in the folders VQCODEC_CODEBOOKS names.
"""
import os

import numpy as np
from PIL import Image, ImageFile

from .. import api
from ..errors import CodebookError, FormatError, VQCodecError
from ..files import VQC_SUFFIX
from ..format import container
from ..options import EncodeOptions

FORMAT = "VQC"
MIME_TYPE = "image/x-vqc"
HEADER_KEY = "vqc_header"  # in Image.info: the file's vqcodec.Header
_codebooks: dict[bytes, api.SharedCodebook] = {}  # identity -> shared codebook, for opening


def register_pillow(codebooks=()) -> None:
    """Let Pillow open and save .vqc files; opening may use the shared `codebooks` (paths or bytes of
    .vqcb files). Registering again adds codebooks and does no other harm."""
    for source in codebooks:
        codebook = api.read_codebook(source)
        _codebooks[codebook.identity] = codebook
    Image.register_open(FORMAT, VqcImageFile, _accept)
    Image.register_decoder(FORMAT, VqcDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, VQC_SUFFIX)
    Image.register_mime(FORMAT, MIME_TYPE)


def _accept(prefix: bytes) -> bool:
    return prefix.startswith(container.MAGIC)


class VqcImageFile(ImageFile.ImageFile):
    """A .vqc as Pillow sees it: the header read at open, the pixels decoded at load()."""

    format = FORMAT
    format_description = "vqcodec vector-quantized image"

    def _open(self) -> None:
        """Size and mode from the header. A file shorter or longer than its header says is
        refused here too, before Pillow allocates the image."""
        start = self.fp.tell()
        size = self.fp.seek(0, os.SEEK_END) - start  # Pillow's files and streams can seek
        self.fp.seek(start)
        try:
            header = container.parse_header(api.read_header_bytes(self.fp, None, size), max_pixels=None)
        except FormatError as exc:
            raise SyntaxError(str(exc)) from None
        try:
            container.check_length(header, size)
        except FormatError as exc:
            raise _broken(exc) from None
        self._size = header.width, header.height
        self._mode = header.mode
        self.info[HEADER_KEY] = header
        self.tile = [ImageFile._Tile(FORMAT, (0, 0, *self.size), 0, (False, _codebooks.get(header.codebook)))]

    def draft(self, mode, size):
        """Decode the image at 1/8 scale when that is still at least `size`, as JPEG's draft does: what
        Image.thumbnail() asks for. Versions 3 and 4 make it from the means alone. The mode stays."""
        if len(self.tile) != 1:  # loaded already
            return None
        header = self.info[HEADER_KEY]
        small = -(-header.width // 8), -(-header.height // 8)
        thumbnail, codebook = self.tile[0].args
        if size is None or thumbnail or small[0] < size[0] or small[1] < size[1]:
            return None
        self._size = small
        self.tile = [ImageFile._Tile(FORMAT, (0, 0, *self.size), 0, (True, codebook))]
        return self.mode, (0, 0, header.width / 8, header.height / 8)

    def verify(self) -> None:
        """Check the whole file's checksum, without decoding it."""
        self._check_checksum()
        super().verify()

    def load_prepare(self) -> None:
        """Pillow allocates the image here: a corrupted file is refused first."""
        self._check_checksum()
        super().load_prepare()

    def _check_checksum(self) -> None:
        self.fp.seek(0)
        try:
            api.info(self.fp, max_pixels=None)
        except FormatError as exc:
            raise _broken(exc) from None


class VqcDecoder(ImageFile.PyDecoder):
    """Decodes the whole file with vqcodec.decode (at 1/8 scale after draft()): Pillow streams no part."""

    _pulls_fd = True

    def decode(self, buffer) -> tuple[int, int]:
        try:
            pixels = api.decode(self.fd, max_pixels=None, thumbnail=self.args[0],  # Pillow's limit: at open
                                codebook=self.args[1]).pixels
        except CodebookError as exc:  # the file is sound: it needs what is missing
            raise OSError(str(exc)) from None
        except VQCodecError as exc:
            raise _broken(exc) from None
        self.set_as_raw(np.ascontiguousarray(pixels))
        return -1, 0


def _broken(exc: Exception) -> OSError:
    return OSError(f"broken .vqc file: {exc}")


def _save(im: Image.Image, fp, filename) -> None:
    """Encode with the options given to save(); an unknown one raises OptionsError (a ValueError)."""
    config = dict(im.encoderinfo)
    codebook = config.pop("codebook", None)
    fp.write(api.encode(im, EncodeOptions.from_config(config), max_pixels=None, codebook=codebook).data)
