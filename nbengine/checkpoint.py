"""Checkpoints: one .npz file of plain arrays, never pickles.

Layout: ``__format__`` (the format version, an int), ``__model__`` (the model's
name), ``__config__`` (the model's config as JSON text), ``__arrays__`` (the names
of the arrays that follow, so that a lost entry is noticed) and one array per
parameter or saved statistic. :func:`save` writes a temporary file beside the
target, reads it back, and only then renames it over the target, so a crash, a
full disk or a non-finite parameter never replaces a good checkpoint with a broken
one. :func:`load` reads with ``allow_pickle=False``: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable

import numpy as np

from nbengine.data.files import atomic_write, check_output, open_regular
from nbengine.errors import CheckpointError
from nbengine.i18n import Msg

FORMAT_VERSION = 1
_RESERVED = ("__format__", "__model__", "__config__", "__arrays__")


def save(path: str | os.PathLike, model: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a checkpoint atomically; refuse arrays that are not finite."""
    path = os.fspath(path)
    for name, arr in arrays.items():
        if name in _RESERVED:
            raise ValueError(f"{name!r} is a reserved checkpoint key")
        if not np.all(np.isfinite(arr)):
            raise CheckpointError(
                path, Msg("not saved: {name} holds NaN or inf (the run diverged)", name=repr(name))
            )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CheckpointError(path, Msg("not saved: the folder does not exist"))
    try:
        # what was written must read back before it replaces anything
        with atomic_write(path, suffix=".npz.tmp", check=lambda tmp: load(tmp, model)) as f:
            fields = {
                "__format__": np.array(FORMAT_VERSION),
                "__model__": np.array(model),
                "__config__": np.array(json.dumps(config, sort_keys=True)),
                "__arrays__": np.array(sorted(arrays), dtype=str),
                **arrays,
            }
            # numpy's stub reads any name as one of savez's own flags
            np.savez(f, **fields)  # type: ignore[arg-type]
    except OSError as e:
        raise CheckpointError(path, Msg("not saved ({reason})", reason=e.strerror)) from None


def load(path: str | os.PathLike, model: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(config, arrays) of a checkpoint; a CheckpointError says what is wrong with it.

    With ``model`` given, a checkpoint of another model is refused.
    """
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with open_regular(path, "checkpoint", CheckpointError) as f:
            magic = f.read(6)
            if not magic:
                raise CheckpointError(path, Msg("is empty"))
            if magic.startswith(b"\x93NUMPY"):
                raise CheckpointError(
                    path, Msg("is a single .npy array, not an nbengine checkpoint (.npz)")
                )
            if not magic.startswith(b"PK"):
                raise CheckpointError(
                    path, Msg("is not an nbengine checkpoint (not a .npz archive)")
                )
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                for key in z.files:
                    arrays[key] = z[key]
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as e:
        # zipfile raises NotImplementedError for a damaged compression method or
        # version field, and RuntimeError for a damaged "encrypted" flag
        raise CheckpointError(path, Msg("is corrupted ({reason})", reason=str(e))) from None
    except MemoryError:
        raise CheckpointError(
            path, Msg("holds an array too large for this machine's memory (is it corrupted?)")
        ) from None
    if "__format__" not in arrays:
        raise CheckpointError(path, Msg("is not an nbengine checkpoint (no format version)"))
    try:
        version = int(arrays.pop("__format__"))
    except (ValueError, TypeError, OverflowError) as e:
        raise CheckpointError(
            path, Msg("is not an nbengine checkpoint (bad format version: {reason})", reason=str(e))
        ) from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path,
            Msg(
                "was written in format {version}; this nbengine reads up to {latest}",
                version=version,
                latest=FORMAT_VERSION,
            ),
        )
    try:
        found = str(arrays.pop("__model__"))
        config = json.loads(str(arrays.pop("__config__")))
        listed = sorted(str(k) for k in arrays.pop("__arrays__").reshape(-1))
    except KeyError as e:
        raise CheckpointError(
            path, Msg("is not an nbengine checkpoint (no {entry} entry)", entry=str(e))
        ) from None
    except (ValueError, TypeError) as e:
        raise CheckpointError(
            path, Msg("is not an nbengine checkpoint (bad header: {reason})", reason=str(e))
        ) from None
    if listed != sorted(arrays):
        # A damaged zip directory can hide entries; the list written with them cannot.
        raise CheckpointError(
            path,
            Msg(
                "is corrupted (it lists arrays {listed}, holds {held})",
                listed=listed,
                held=sorted(arrays),
            ),
        )
    if model is not None and found != model:
        raise CheckpointError(
            path, Msg("is a checkpoint of model '{found}', not '{model}'", found=found, model=model)
        )
    return config, arrays


def fill_params(params: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> None:
    """Copy a checkpoint's arrays into a freshly built model's parameters, in place.

    Every parameter must be there with the model's shape and finite values; a
    missing one raises KeyError, anything else ValueError (the model's ``load``
    turns both into a CheckpointError naming the file).
    """
    for name, p in params.items():
        a = arrays[name]
        if a.shape != p.shape:
            raise ValueError(
                Msg(
                    "{name} has shape {shape}, expected {expected}",
                    name=name,
                    shape=a.shape,
                    expected=p.shape,
                )
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(Msg("{name} holds NaN or infinite values", name=name))
        p[...] = a


Shapes = Iterable[tuple[str, tuple[int, ...]]]


def check_shapes(arrays: dict[str, np.ndarray], expected: Shapes) -> None:
    """Every array a model's config asks for, with its shape, against the arrays stored:
    ValueError (KeyError for a missing one) at the first that differs. ``expected`` is
    read lazily, so a config that asks for a billion blocks fails at the first one missing."""
    for name, shape in expected:
        if arrays[name].shape != tuple(shape):
            raise ValueError(
                Msg(
                    "{name} has shape {shape}, expected {expected} by its config",
                    name=name,
                    shape=arrays[name].shape,
                    expected=tuple(shape),
                )
            )


def load_model(path, name: str, build, shapes: Callable[[dict], Shapes] | None = None):
    """The model a checkpoint holds: ``build(config)`` makes it with fresh weights from the
    checkpoint's config, then its parameters are filled from the arrays. ``shapes(config)``
    gives the shape of every array the config implies; they are checked against the arrays
    stored before anything is built, since a config's sizes go straight into allocations
    (a hidden size of 10⁹ asks for terabytes). A config or array that does not fit raises
    CheckpointError naming the file and the problem."""
    config, arrays = load(path, name)
    try:
        if shapes is not None:
            check_shapes(arrays, shapes(config))
        model = build(config)
        fill_params(model.params, arrays)
    except KeyError as e:
        raise CheckpointError(
            path, Msg("does not hold a valid {name} model (missing {key})", name=name, key=str(e))
        ) from None
    except (ValueError, TypeError, OverflowError) as e:
        reason = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], Msg) else str(e)
        raise CheckpointError(
            path, Msg("does not hold a valid {name} model ({reason})", name=name, reason=reason)
        ) from None
    except MemoryError:
        raise CheckpointError(
            path,
            Msg(
                "does not hold a valid {name} model (it is too large for this machine's memory)",
                name=name,
            ),
        ) from None
    return model


def check_folder(path, inputs: Iterable[tuple[str, str]] = ()) -> None:
    """Refuse, before any training, a checkpoint path that could not be saved: its folder
    does not exist or cannot be written, or it is one of the files the command reads
    (``inputs``: (option, path) pairs)."""
    check_output(path, inputs, CheckpointError, "saved")
