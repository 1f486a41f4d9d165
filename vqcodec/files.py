"""Output files: default names, and writes that never clobber or leave half a file."""
import os
import secrets
from pathlib import Path

from .errors import OutputError

VQC_SUFFIX = ".vqc"
DECODED_SUFFIX = ".png"


def encoded_name(source) -> Path:
    """lena.png -> lena.vqc"""
    return Path(source).with_suffix(VQC_SUFFIX)


def decoded_name(source, suffix: str = DECODED_SUFFIX) -> Path:
    """lena.vqc -> lena.vqc.png: appending can never reproduce the original lena.png."""
    path = Path(source)
    return path.with_name(path.name + suffix)


def exists(path) -> bool:
    return os.path.lexists(path)


def exists_error(path) -> OutputError:
    return OutputError(f"{path} exists; use --force to overwrite it")


def write_file(path, data: bytes, force: bool = False) -> None:
    """Write via a temporary file in the same folder, renamed into place when complete."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    if not force and exists(path):
        raise exists_error(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the path appeared meanwhile: never clobbers
            os.unlink(tmp)
    except FileExistsError:
        _discard(tmp)
        raise exists_error(path) from None
    except OSError as exc:
        _discard(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
