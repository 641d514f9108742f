"""Reading and writing IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a small header followed by the raw values of one array:

    bytes 0-1   two zero bytes
    byte  2     the data type: 0x08 unsigned byte, 0x09 signed byte, 0x0B 16-bit int,
                0x0C 32-bit int, 0x0D 32-bit float, 0x0E 64-bit float
    byte  3     the number of dimensions, d
    then        d sizes, each a big-endian unsigned 32-bit integer
    then        the values, row-major (the last index changes fastest), big-endian

MNIST's ``train-images-idx3-ubyte`` is ``00 00 08 03``, then 60000, 28, 28, then
47,040,000 pixel bytes. The files are usually gzip-compressed; gzip is recognised
by its first two bytes (1f 8b), not by the file name.

Every problem raises :class:`~nbengine.errors.DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from nbengine.data.files import gunzip, read_bytes
from nbengine.errors import DataError
from nbengine.i18n import Msg

GZIP_MAGIC = b"\x1f\x8b"

# type code -> NumPy dtype as stored in the file (">" is big-endian)
DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file, decompressed when it is gzip (recognised by its first bytes)."""
    path = os.fspath(path)
    raw = read_bytes(path)
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gunzip(raw, path)
    except EOFError:
        raise DataError(path, Msg("the gzip data is cut short (an incomplete download?)")) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(path, Msg("the gzip data is corrupt ({reason})", reason=str(e))) from None


def parse_idx(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """The array held by the (already decompressed) bytes of an IDX file.

    The result is in the machine's byte order and owns its memory (it is writable).
    path is only used in error messages.
    """
    path = os.fspath(path)
    if len(data) < 4:
        short = (
            Msg("is too short for an IDX file: 1 byte, the header alone has 4")
            if len(data) == 1
            else Msg("is too short for an IDX file: {n} bytes, the header alone has 4", n=len(data))
        )
        raise DataError(path, short)
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            path,
            Msg(
                "is not an IDX file: its magic number (first 4 bytes) is {magic}, and an IDX file's "
                "starts with two zero bytes, then the type and the number of dimensions (00 00 08 03 "
                "for MNIST's images, 00 00 08 01 for its labels)",
                magic=data[:4].hex(" "),
            ),
        )
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise DataError(
            path,
            Msg(
                "unknown IDX data type code {code} (known: {known})",
                code="0x" + format(code, "02X"),
                known=known,
            ),
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            path,
            Msg(
                "truncated: the header of {ndim} dimensions needs {header} bytes, found {found}",
                ndim=ndim,
                header=header,
                found=len(data),
            ),
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    dims = "×".join(str(s) for s in shape) or Msg("scalar")
    if found < expected:
        raise DataError(
            path,
            Msg(
                "truncated: a {dims} array of {dtype} needs {expected} bytes of data, found {found}",
                dims=dims,
                dtype=dtype.newbyteorder("=").name,
                expected=format(expected, ","),
                found=format(found, ","),
            ),
        )
    if found > expected:
        extra = found - expected
        trailing = (
            Msg("1 trailing byte")
            if extra == 1
            else Msg("{n} trailing bytes", n=format(extra, ","))
        )
        raise DataError(
            path,
            Msg(
                "{trailing} after the {expected} bytes of the {dims} array the header describes",
                trailing=trailing,
                expected=format(expected, ","),
                dims=dims,
            ),
        )
    values = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return values.reshape(shape).astype(dtype.newbyteorder("="))  # a native-order copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a NumPy array."""
    return parse_idx(read_file_bytes(path), path)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of an array of one of the six IDX types."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(dt.newbyteorder("=").name for dt in DTYPES.values())
        raise ValueError(f"IDX has no type for {array.dtype}; it stores {names}")
    if array.ndim > 255:
        raise ValueError("IDX stores at most 255 dimensions")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write an array as an IDX file; gzip-compressed when compress is True, or
    when it is None and the name ends with ``.gz``."""
    path = os.fspath(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)  # mtime=0: the same array gives the same bytes
    with open(path, "wb") as f:
        f.write(data)
