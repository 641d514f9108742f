"""Checkpoints: round trips, atomic writes, and every way a file can be wrong."""

import os
import struct
import zipfile

import numpy as np
import pytest

from nbengine import checkpoint
from nbengine.data.split import Standardizer
from nbengine.errors import CheckpointError
from nbengine.models.logreg import LogisticRegression

FEATURES = ["height", "weight", "age", "score"]


def make_model(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, 4)) * 3 + 1
    model = LogisticRegression(
        4,
        seed=seed,
        feature_names=FEATURES,
        class_names=("no", "yes"),
        scaler=Standardizer.fit(x),
        init_scale=0.5,
        extra_config={"lr": 0.1, "epochs": 3, "data": "toy.csv"},
    )
    model.params["b"][0] = -0.375
    return model, x


def saved(tmp_path, name="model.npz"):
    model, x = make_model()
    path = tmp_path / name
    model.save(path)
    return model, x, path


def load_error(path, model="logreg") -> CheckpointError:
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path, model)
    e = err.value
    assert e.exit_code == 2
    assert str(e).startswith(os.fspath(path) + ": ")
    return e


# -- round trip --------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    model, x, path = saved(tmp_path)
    back = LogisticRegression.load(path)
    for k in ("w", "b"):
        assert back.params[k].dtype == model.params[k].dtype == np.float32
        assert back.params[k].tobytes() == model.params[k].tobytes()
    assert back.params["b"][0] == -0.375
    assert back.scaler is not None
    assert back.scaler.mean.tobytes() == model.scaler.mean.tobytes()
    assert back.scaler.std.tobytes() == model.scaler.std.tobytes()
    assert back.config() == model.config()
    assert back.config()["lr"] == 0.1 and back.config()["data"] == "toy.csv"
    assert back.feature_names == FEATURES and back.class_names == ["no", "yes"]
    assert back.param_labels == {"w": (FEATURES,)}
    np.testing.assert_array_equal(
        back.predict_proba(back.prepare(x)), model.predict_proba(model.prepare(x))
    )


def test_load_returns_config_and_arrays(tmp_path):
    model, _, path = saved(tmp_path)
    config, arrays = checkpoint.load(path)
    assert config == model.config()
    assert sorted(arrays) == ["b", "scaler_mean", "scaler_std", "w"]
    assert not any(k.startswith("__") for k in arrays)


def test_model_without_scaler_round_trips(tmp_path):
    model = LogisticRegression(3, seed=4)
    model.save(tmp_path / "m.npz")
    back = LogisticRegression.load(tmp_path / "m.npz")
    assert back.scaler is None
    assert back.params["w"].tobytes() == model.params["w"].tobytes()
    assert back.feature_names == ["x1", "x2", "x3"]


def test_save_overwrites_an_existing_checkpoint(tmp_path):
    model, _, path = saved(tmp_path)
    model.params["w"][:] = 7.0
    model.save(path)
    assert np.all(LogisticRegression.load(path).params["w"] == 7.0)
    assert os.listdir(tmp_path) == ["model.npz"]


# -- atomic writes -----------------------------------------------------------------------------


def test_save_leaves_no_temporary_files(tmp_path):
    _, _, path = saved(tmp_path)
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("param,value", [("w", np.nan), ("w", np.inf), ("b", -np.inf)])
def test_non_finite_parameters_are_not_saved_and_keep_the_old_file(tmp_path, param, value):
    model, _, path = saved(tmp_path)
    good = path.read_bytes()
    model.params[param][0] = value
    with pytest.raises(CheckpointError) as err:
        model.save(path)
    assert f"'{param}'" in str(err.value) and "NaN or inf" in str(err.value)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]


def test_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    model, _, path = saved(tmp_path)
    good = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "replace", failing_replace)
    model.params["w"][:] = 1.0
    with pytest.raises(CheckpointError, match="No space left on device"):
        model.save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    model, _, path = saved(tmp_path)
    good = path.read_bytes()

    def half_written(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", half_written)
    with pytest.raises(CheckpointError, match="No space left on device"):
        model.save(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder does not exist"):
        checkpoint.save(tmp_path / "no" / "m.npz", "logreg", {}, {"w": np.zeros(2)})


def test_reserved_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        checkpoint.save(tmp_path / "m.npz", "logreg", {}, {"__model__": np.zeros(2)})
    assert os.listdir(tmp_path) == []


# -- bad files ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "no such file" in str(load_error(tmp_path / "nope.npz"))


def test_directory(tmp_path):
    assert "is a directory" in str(load_error(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    assert "is empty" in str(load_error(path))


@pytest.mark.parametrize("content", [b"w,b\n0.1,0.2\n", b"\x00" * 100, b"\x80\x04K\x01."])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    e = load_error(path)
    assert "is not an nbengine checkpoint" in str(e)
    assert "pickle" not in str(e)


def test_truncated_file(tmp_path):
    _, _, path = saved(tmp_path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    e = load_error(cut)
    assert "is corrupted" in str(e) and "not a zip file" in str(e)


@pytest.mark.parametrize("member", ["w.npy", "scaler_mean.npy", "__config__.npy"])
def test_flipped_bytes_in_the_data_are_corrupted(tmp_path, member):
    _, _, path = saved(tmp_path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    # the member's bytes follow its 30-byte local header, name and extra field
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    for k in range(middle, middle + 4):
        raw[k] ^= 0xFF
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(raw))
    e = load_error(bad)
    assert "is corrupted" in str(e) and f"Bad CRC-32 for file '{member}'" in str(e)
    with pytest.raises(CheckpointError):
        LogisticRegression.load(bad)


def test_any_flipped_byte_is_refused_or_harmless(tmp_path):
    # Flipping a byte anywhere either gives a CheckpointError or (in fields the
    # archive does not rely on, such as a local header's time stamp) the same arrays.
    model, _, path = saved(tmp_path)
    raw = path.read_bytes()
    config0, arrays0 = checkpoint.load(path, "logreg")
    bad = tmp_path / "flipped.npz"
    refused = 0
    for mask in (0xFF, 0x01):
        for k in range(len(raw)):
            b = bytearray(raw)
            b[k] ^= mask
            bad.write_bytes(bytes(b))
            try:
                config, arrays = checkpoint.load(bad, "logreg")
            except CheckpointError:
                refused += 1
                continue
            assert config == config0, (k, mask)
            assert sorted(arrays) == sorted(arrays0), (k, mask)
            for name in arrays0:
                assert arrays[name].tobytes() == arrays0[name].tobytes(), (k, mask, name)
    assert refused > 0.8 * 2 * len(raw)


def test_damaged_comment_length_cannot_hide_the_scaler(tmp_path):
    # A comment length in the zip directory that swallows the entries after it
    # would otherwise give a model that loads without its scaler.
    model, _, path = saved(tmp_path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist()]
    entries = list(_central_directory_entries(bytes(raw)))
    before_scaler = names.index("scaler_mean.npy") - 1
    struct.pack_into(
        "<H", raw, entries[before_scaler] + 32, entries[-1] - entries[before_scaler + 1] + 46 + 14
    )
    bad = tmp_path / "hidden.npz"
    bad.write_bytes(bytes(raw))
    assert "is corrupted" in str(load_error(bad))
    with pytest.raises(CheckpointError):
        LogisticRegression.load(bad)


def _central_directory_entries(raw: bytes):
    pos = raw.find(b"PK\x01\x02")
    assert pos > 0
    while pos >= 0:
        yield pos
        pos = raw.find(b"PK\x01\x02", pos + 4)


@pytest.mark.parametrize(
    "offset,value",
    [
        (10, 99),  # compression method: unsupported
        (8, 1),  # general-purpose flags: encrypted
        (6, 99),  # version needed to extract: from the future
    ],
)
def test_damaged_zip_directory_is_reported_as_corrupted(tmp_path, offset, value):
    _, _, path = saved(tmp_path)
    raw = bytearray(path.read_bytes())
    entry = list(_central_directory_entries(bytes(raw)))[-1]
    struct.pack_into("<H", raw, entry + offset, value)
    bad = tmp_path / "damaged.npz"
    bad.write_bytes(bytes(raw))
    assert "is corrupted" in str(load_error(bad))


def test_plain_npy_file(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(3))
    assert "single .npy array" in str(load_error(path))


def test_npz_without_a_format_version(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(3), b=np.zeros(1))
    assert "no format version" in str(load_error(path))


def test_npz_with_a_bad_header(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(
        path, __format__=np.array(1), __model__=np.array("logreg"), __config__=np.array("{not json")
    )
    assert "bad header" in str(load_error(path))


@pytest.mark.parametrize("version", [np.array(np.inf), np.array("one"), np.array([1, 2])])
def test_npz_with_an_unreadable_format_version(tmp_path, version):
    path = tmp_path / "bad.npz"
    np.savez(path, __format__=version, __model__=np.array("logreg"), __config__=np.array("{}"))
    assert "bad format version" in str(load_error(path))


def test_checkpoint_of_another_model(tmp_path):
    path = tmp_path / "cnn.npz"
    checkpoint.save(path, "cnn", {}, {"kernel": np.ones((3, 3))})
    with pytest.raises(CheckpointError) as err:
        LogisticRegression.load(path)
    assert "'cnn'" in str(err.value) and "'logreg'" in str(err.value)
    config, arrays = checkpoint.load(path)  # without a model name it reads
    assert config == {} and arrays["kernel"].shape == (3, 3)


def test_future_format_version(tmp_path):
    path = tmp_path / "future.npz"
    np.savez(
        path,
        __format__=np.array(checkpoint.FORMAT_VERSION + 1),
        __model__=np.array("logreg"),
        __config__=np.array("{}"),
        w=np.zeros(3),
    )
    e = load_error(path)
    assert f"format {checkpoint.FORMAT_VERSION + 1}" in str(e)
    assert f"reads up to {checkpoint.FORMAT_VERSION}" in str(e)


@pytest.mark.parametrize(
    "config,arrays,words",
    [
        (
            {"n_features": 4, "seed": 0, "feature_names": FEATURES, "class_names": ["0", "1"]},
            {"w": np.zeros(5, np.float32), "b": np.zeros(1, np.float32)},
            "w has shape (5,)",
        ),
        (
            {"n_features": 4, "seed": 0, "feature_names": FEATURES, "class_names": ["0", "1"]},
            {"w": np.zeros(4, np.float32)},
            "'b'",
        ),
        ({"seed": 0}, {"w": np.zeros(4), "b": np.zeros(1)}, "'n_features'"),
        (
            {"n_features": 4, "seed": 0, "feature_names": FEATURES, "class_names": ["0", "1"]},
            {
                "w": np.zeros(4),
                "b": np.zeros(1),
                "scaler_mean": np.zeros(3),
                "scaler_std": np.ones(3),
            },
            "scaler_mean has shape (3,)",
        ),
    ],
)
def test_logreg_checkpoint_with_wrong_contents(tmp_path, config, arrays, words):
    path = tmp_path / "odd.npz"
    checkpoint.save(path, "logreg", config, arrays)
    with pytest.raises(CheckpointError) as err:
        LogisticRegression.load(path)
    assert "does not hold a valid logreg model" in str(err.value)
    assert words in str(err.value)


class _Trap:
    """Unpickling this would create a file: proof that a pickle was run."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_arrays_are_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    trap = _Trap()
    trap.marker = os.fspath(marker)
    obj = np.empty(1, dtype=object)
    obj[0] = trap
    path = tmp_path / "evil.npz"
    np.savez(
        path, __format__=np.array(1), __model__=np.array("logreg"), __config__=np.array("{}"), w=obj
    )
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        checkpoint.load(path, "logreg")
    with pytest.raises(CheckpointError):
        LogisticRegression.load(path)
    assert not marker.exists()


def test_load_uses_allow_pickle_false(tmp_path, monkeypatch):
    _, _, path = saved(tmp_path)
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoint.np, "load", spy)
    checkpoint.load(path, "logreg")
    assert calls and all(c.get("allow_pickle") is False for c in calls)


def test_a_checkpoint_missing_one_of_its_listed_arrays_is_corrupted(tmp_path):
    _, _, path = saved(tmp_path)
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(short, "w") as dst:
        for info in src.infolist():
            if info.filename != "scaler_std.npy":
                dst.writestr(info, src.read(info))
    e = load_error(short)
    assert "is corrupted (it lists arrays" in str(e) and "scaler_std" in str(e)


def test_a_float64_model_round_trips_with_its_dtype(tmp_path):
    model = LogisticRegression(3, seed=1, dtype=np.float64, init_scale=0.5)
    path = tmp_path / "f64.npz"
    model.save(path)
    back = LogisticRegression.load(path)
    assert back.params["w"].dtype == np.float64
    np.testing.assert_array_equal(back.params["w"], model.params["w"])


def test_saved_checkpoint_has_an_ordinary_file_mode(tmp_path):
    _, _, path = saved(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
