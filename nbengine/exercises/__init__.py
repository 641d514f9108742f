"""Exercises: the learner writes a kernel's loops, nbengine grades them number by number.

Each exercise (:class:`nbengine.exercises.core.Exercise`) is one kernel of a lesson that a
learner should be able to write: a skeleton to start from (:mod:`.skeleton`), the lesson's
worked example, random cases graded against the engine's own naive kernel, recognised
mistakes with hints, finite differences for gradients, and timings against the engine
(:mod:`.grading`), each submission graded in a process of its own (:mod:`.runner`). What
a learner has passed is kept in the user's data folder (:mod:`.progress`).

To add an exercise, define an Exercise next to its lesson's (cnn.py, ...) and list it below.
"""

from __future__ import annotations

from nbengine.exercises.attention import ATTENTION_BACKWARD, ATTENTION_FORWARD
from nbengine.exercises.cnn import CONV_BACKWARD, CONV_FORWARD, MAXPOOL_BACKWARD, MAXPOOL_FORWARD
from nbengine.exercises.logreg import LOGISTIC_BACKWARD, LOGISTIC_FORWARD
from nbengine.exercises.mnist import ADAM, DENSE_BACKWARD, SOFTMAX_CE_BACKWARD
from nbengine.exercises.recurrent import LSTM_BACKWARD, LSTM_FORWARD, RNN_BACKWARD, RNN_FORWARD

ORDER = (
    LOGISTIC_FORWARD,
    LOGISTIC_BACKWARD,
    DENSE_BACKWARD,
    SOFTMAX_CE_BACKWARD,
    ADAM,
    CONV_FORWARD,
    MAXPOOL_FORWARD,
    MAXPOOL_BACKWARD,
    CONV_BACKWARD,
    RNN_FORWARD,
    RNN_BACKWARD,
    LSTM_FORWARD,
    LSTM_BACKWARD,
    ATTENTION_FORWARD,
    ATTENTION_BACKWARD,
)
EXERCISES = {ex.name: ex for ex in ORDER}


def get(name: str):
    """The exercise called name; ExerciseError (one line, the names) if there is none."""
    from nbengine.exercises.runner import ExerciseError

    try:
        return EXERCISES[name]
    except KeyError:
        raise ExerciseError(
            f"no exercise {name!r}; the exercises are: {', '.join(EXERCISES)}"
        ) from None


def start(name: str, folder, lang: str = "en"):
    """Write the exercise's skeleton to FOLDER/NAME.py; (path, True) when written, (path, False)
    when the skeleton is there already, unchanged. A file that differs from the skeleton (the
    learner's work) is never overwritten: ExerciseError says so."""
    import os
    import tempfile
    from pathlib import Path

    from nbengine.exercises.runner import ExerciseError
    from nbengine.exercises.skeleton import is_skeleton, skeleton

    ex = get(name)
    path = Path(folder) / f"{ex.name}.py"
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ExerciseError(f"{path}: {e}") from None
        if is_skeleton(ex, text):
            return path, False
        raise ExerciseError(
            f"{path} exists and differs from the skeleton (your work?): not overwritten; "
            f"move it away, or start in another folder with --dir"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=f".{ex.name}-", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(skeleton(ex, lang))
        os.link(part, path)  # fails if the file appeared meanwhile: nothing is overwritten
        os.unlink(part)
    except FileExistsError:
        os.unlink(part)
        raise ExerciseError(
            f"{path} appeared while it was being written: not overwritten"
        ) from None
    except OSError as e:
        raise ExerciseError(f"{path}: cannot write it: {e.strerror or e}") from None
    return path, True
