"""The IDX reader and writer: every data type, raw and gzip, and each way a file can be broken."""

import gzip
import os

import numpy as np
import pytest

from nbengine.data.idx import DTYPES, idx_bytes, parse_idx, read_file_bytes, read_idx, write_idx
from nbengine.errors import DataError


def write_bytes(folder, name, data: bytes) -> str:
    path = os.path.join(os.fspath(folder), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def idx_error(path) -> str:
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert err.value.exit_code == 2
    return message


SAMPLES = {
    0x08: np.array([[0, 1, 255], [128, 7, 9]], dtype=np.uint8),
    0x09: np.array([[-128, -1, 0], [1, 64, 127]], dtype=np.int8),
    0x0B: np.array([[-32768, -2, 0], [258, 1000, 32767]], dtype=np.int16),
    0x0C: np.array([[-(2**31), -70000, 0], [1, 70000, 2**31 - 1]], dtype=np.int32),
    0x0D: np.array([[-1.5, 0.0, 3.25], [1e-30, 1e30, np.inf]], dtype=np.float32),
    0x0E: np.array([[-1.5, 0.0, np.pi], [1e-300, 1e300, -np.inf]], dtype=np.float64),
}


@pytest.mark.parametrize("code", sorted(SAMPLES), ids=lambda c: f"0x{c:02X}")
@pytest.mark.parametrize("name", ["a-idx2", "a-idx2.gz"])
def test_round_trip_every_type_raw_and_gzip(tmp_path, code, name):
    array = SAMPLES[code]
    path = tmp_path / name
    write_idx(path, array)
    raw = path.read_bytes()
    assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.dtype.isnative


@pytest.mark.parametrize("code", sorted(SAMPLES), ids=lambda c: f"0x{c:02X}")
def test_header_and_byte_order_follow_the_format(code):
    array = SAMPLES[code]
    data = idx_bytes(array)
    assert data[:4] == bytes([0, 0, code, 2])
    assert data[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert data[12:] == array.astype(DTYPES[code]).tobytes()


def test_values_are_big_endian_whatever_the_machine():
    assert idx_bytes(np.array([258], np.int16))[8:] == b"\x01\x02"
    assert idx_bytes(np.array([1], np.int32))[8:] == b"\x00\x00\x00\x01"
    assert idx_bytes(np.array([1.0], np.float32))[8:] == b"\x3f\x80\x00\x00"
    assert idx_bytes(np.array([-2.0], np.float64))[8:] == b"\xc0" + b"\x00" * 7


def test_mnist_shaped_file_and_compression_by_content_not_name(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    data = idx_bytes(images)
    assert data[:4] == b"\x00\x00\x08\x03" and len(data) == 16 + 3 * 784
    # gzip data under a plain name, and plain data under a .gz name, both read
    np.testing.assert_array_equal(
        read_idx(write_bytes(tmp_path, "plain-name", gzip.compress(data))), images
    )
    np.testing.assert_array_equal(read_idx(write_bytes(tmp_path, "gz-name.gz", data)), images)


def test_scalar_and_empty_arrays(tmp_path):
    for array in [np.array(7, dtype=np.int32), np.zeros((0, 28, 28), np.uint8)]:
        path = tmp_path / "x"
        write_idx(path, array)
        back = read_idx(path)
        assert back.shape == array.shape and back.dtype == array.dtype


def test_writer_refuses_types_idx_has_not():
    with pytest.raises(ValueError, match="no type for int64"):
        idx_bytes(np.zeros(3, np.int64))


# -- broken files ----------------------------------------------------------------------------------


def test_truncated_data_says_expected_and_found(tmp_path):
    data = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    message = idx_error(write_bytes(tmp_path, "t", data[:-100]))
    assert "truncated" in message and "7,840 bytes of data" in message and "found 7,740" in message
    message = idx_error(write_bytes(tmp_path, "t.gz", gzip.compress(data[:-1])))
    assert "needs 7,840 bytes of data, found 7,839" in message


def test_truncated_header(tmp_path):
    message = idx_error(write_bytes(tmp_path, "h", b"\x00\x00\x08\x03" + b"\x00" * 7))
    assert "truncated" in message and "16 bytes" in message and "found 11" in message
    assert "too short" in idx_error(write_bytes(tmp_path, "s", b"\x00\x00"))


def test_trailing_bytes(tmp_path):
    data = idx_bytes(np.zeros((2, 3), np.int16)) + b"\x01\x02\x03"
    message = idx_error(write_bytes(tmp_path, "x", data))
    assert "3 trailing bytes after the 12 bytes" in message


def test_wrong_magic(tmp_path):
    message = idx_error(write_bytes(tmp_path, "notes.txt", b"hello, world\n"))
    assert "not an IDX file" in message and "68 65 6c 6c" in message


def test_unknown_type_code(tmp_path):
    message = idx_error(write_bytes(tmp_path, "x", b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00"))
    assert "unknown IDX data type code 0x0A" in message and "0x08" in message


def test_corrupt_and_cut_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    assert "cut short" in idx_error(write_bytes(tmp_path, "cut.gz", good[: len(good) // 2]))
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    assert "gzip data is corrupt" in idx_error(write_bytes(tmp_path, "bad.gz", bytes(damaged)))
    assert "gzip data is corrupt" in idx_error(
        write_bytes(tmp_path, "junk.gz", b"\x1f\x8b" + b"junk" * 10)
    )


def test_missing_file_and_folder(tmp_path):
    assert "no such file" in idx_error(tmp_path / "nope")
    assert "is a directory" in idx_error(tmp_path)
    with pytest.raises(DataError):
        read_file_bytes(tmp_path / "nope")


def test_parse_idx_names_the_given_path():
    with pytest.raises(DataError, match=r"^where/it/came/from: is not an IDX file"):
        parse_idx(b"PK\x03\x04....", "where/it/came/from")
