"""Hostile and clumsy inputs, from the command line: each is refused with one line that
names the file or option and the problem, the right exit code and no traceback, and
every input file is byte for byte what it was before.

Where the operating system has to refuse a write, the tests make it refuse for any
user, root included (root writes through permission bits): a folder Numba would write
in is taken by a file of that name, a home folder lies below a regular file.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nbengine import caches
from nbengine.data import files
from nbengine.data.registry import shipped_path
from nbengine_cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def refused(args, code: int, *words: str, inputs=()) -> list[str]:
    """Run `nbengine ARGS`; check the exit code, no traceback, exactly one stderr line holding
    every word, and the input files unchanged. Returns the stderr lines."""
    before = {Path(p): Path(p).read_bytes() for p in inputs}
    r = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})
    shown = f"nbengine {' '.join(map(str, args))} exited {r.exit_code}\n{r.stdout}\n{r.stderr}\n{r.exception!r}"
    assert r.exit_code == code, shown
    assert r.exception is None or isinstance(r.exception, SystemExit), shown
    assert "Traceback" not in r.stdout + r.stderr, shown
    lines = r.stderr.splitlines()
    assert len([ln for ln in lines if all(w in ln for w in words)]) == 1, shown
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"
    return lines


def ok(*args) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return r.stdout


@pytest.fixture(scope="module")
def toy_lstm(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.npz"
    ok("train", "lstmlm", "--epochs", "2", "--save", path, "-q")
    return path


@pytest.fixture(scope="module")
def logreg_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logreg") / "logreg.npz"
    ok("train", "logreg", "--epochs", "1", "--save", path, "-q")
    return path


def rewrite_config(src: Path, dst: Path, **changes) -> Path:
    """A copy of a checkpoint whose __config__ says something else."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    config = json.loads(str(arrays["__config__"]))
    config.update(changes)
    arrays["__config__"] = np.array(json.dumps(config))
    np.savez(dst, **arrays)
    return dst


def digit_rows(label_first: bool, n: int = 100) -> str:
    """n real digits of mnist_5k (all ten classes), 785 values a line, no header."""
    rows = gzip.open(shipped_path("mnist_5k"), "rt").read().splitlines()[:: 5000 // n][:n]
    out = []
    for row in rows:
        cells = row.split(",")
        out.append(",".join([cells[-1], *cells[:-1]] if label_first else cells))
    return "\n".join(out) + "\n"


# -- 1. a read-only install ---------------------------------------------------------------------


def read_only_install(base: Path) -> tuple[Path, dict]:
    """A copy of the package in base/site that nobody can write in, and an environment whose
    home folder cannot be written either; its temporary folder (base/tmp) can."""
    site = base / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for src, name in (
        ("nbengine", "nbengine"),
        ("cli", "nbengine_cli"),
        ("datasets", "nbengine_datasets"),
    ):
        shutil.copytree(ROOT / src, site / name, ignore=ignore)
    for folder, _dirs, _ in os.walk(site):
        (Path(folder) / "__pycache__").write_bytes(b"")  # where Python and Numba would write, taken
    for folder, _dirs, names in os.walk(site):
        for name in names:
            os.chmod(Path(folder) / name, 0o444)
        os.chmod(folder, 0o555)
    (base / "not-a-folder").write_bytes(b"")
    (base / "tmp").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_CACHE_DIR", "NBENGINE_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")
    }
    env.update(
        HOME=str(base / "not-a-folder" / "home"), TMPDIR=str(base / "tmp"), PYTHONPATH=str(site)
    )
    return site, env


def tree_bytes(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def base(tmp_path):
    yield tmp_path
    for folder, _, _ in os.walk(tmp_path):  # so pytest can remove it
        os.chmod(folder, 0o755)


def run_nbengine(env, *args, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nfrom nbengine_cli.entry import main\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=env["TMPDIR"],
    )


def test_a_read_only_install_caches_the_kernels_in_a_temporary_folder(base):
    site, env = read_only_install(base)
    before = tree_bytes(site)
    proc = run_nbengine(env, "train", "logreg", "--epochs", "1", "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    cache = base / "tmp" / f"nbengine-{os.getuid()}" / "numba"
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert notes == [
        f"note: neither {site / 'nbengine' / 'kernels'} nor {base}/not-a-folder/home/.cache/nbengine/"
        f"numba can be written; compiled kernels are cached in the temporary folder {cache} (set "
        f"NBENGINE_CACHE_DIR to a folder you can write, to keep them)"
    ]
    assert json.loads(proc.stdout.splitlines()[-1])["event"] == "result"
    assert list(cache.rglob("*.nbi")), "nothing was cached"
    assert tree_bytes(site) == before


def test_a_read_only_install_with_no_temporary_folder_runs_uncached(base):
    site, env = read_only_install(base)
    before = tree_bytes(site)
    # nothing can be written anywhere: the temporary folder too lies below a file
    prelude = f"import tempfile; tempfile.tempdir = {str(base / 'not-a-folder' / 'tmp')!r}"
    proc = run_nbengine(env, "train", "logreg", "--epochs", "1", prelude=prelude)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and notes[0].endswith(
        "nor a temporary folder: kernels are compiled on every run, not "
        "cached (set NBENGINE_CACHE_DIR to a folder you can write)"
    )
    assert "test accuracy" in proc.stdout
    assert not list(base.rglob("*.nbi")) and tree_bytes(site) == before


def test_the_numba_cache_folder_is_chosen_in_order(tmp_path, monkeypatch):
    import numba.core.config

    # the kernels' folder cannot be written:
    monkeypatch.setattr(caches, "KERNELS", str(tmp_path / "file"))
    (tmp_path / "file").write_bytes(b"")  # it lies below a file
    # restored afterwards
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", numba.core.config.CACHE_DIR)
    # the user's own, writable: kept, silently
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert caches.choose_numba_cache() is None and os.environ["NUMBA_CACHE_DIR"] == str(
        tmp_path / "mine"
    )
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    # nbengine's cache folder next, silently
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(tmp_path / "cache"))
    assert caches.choose_numba_cache() is None
    assert (
        os.environ["NUMBA_CACHE_DIR"]
        == numba.core.config.CACHE_DIR
        == str(tmp_path / "cache" / "numba")
    )
    # the user's cannot be written: said
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "file" / "x"))
    assert caches.choose_numba_cache() == (
        f"note: NUMBA_CACHE_DIR={tmp_path / 'file' / 'x'} cannot be written; "
        f"compiled kernels are cached in {tmp_path / 'cache' / 'numba'}"
    )


# -- 2. an output that is an input ----------------------------------------------------------------


def test_predict_refuses_to_write_over_its_data_or_its_checkpoint(tmp_path):
    ckpt = tmp_path / "model.npz"
    from nbengine.models.cnn import CNN

    CNN(0).save(ckpt)
    test_csv = tmp_path / "t.csv"
    test_csv.write_text(
        ",".join(f"pixel{i}" for i in range(784)) + "\n" + ",".join(["0"] * 784) + "\n"
    )
    for out, option, source in ((test_csv, "--data", test_csv), (ckpt, "--checkpoint", ckpt)):
        refused(
            ["predict", "cnn", "--checkpoint", ckpt, "--data", test_csv, "--out", out],
            2,
            f"error: {out}: cannot be written: it is the same file as {option} {source}, which this command "
            f"reads",
            inputs=[ckpt, test_csv],
        )


def test_train_refuses_to_save_over_its_data_by_any_name(tmp_path):
    data = tmp_path / "d.csv"
    shutil.copy(shipped_path("breast_cancer"), data)
    os.link(data, tmp_path / "hard.csv")
    os.symlink(data, tmp_path / "soft.csv")
    for save in (
        data,
        tmp_path / "hard.csv",
        tmp_path / "soft.csv",
        tmp_path / "sub" / ".." / "d.csv",
    ):
        (tmp_path / "sub").mkdir(exist_ok=True)
        lines = refused(
            ["train", "logreg", "--data", data, "--save", save],
            2,
            f"error: {save}: cannot be saved: it is the same file as --data {data}",
            inputs=[data],
        )
        assert len(lines) == 1
    images = tmp_path / "digits.csv"
    images.write_text(digit_rows(label_first=False))
    refused(
        ["train", "cnn", "--data", images, "--save", images],
        2,
        f"{images}: cannot be saved",
        "--data",
        inputs=[images],
    )
    text = tmp_path / "text.txt"
    text.write_text("one line\n" * 10)
    for model in ("lstmlm", "transformer"):
        refused(
            ["train", model, "--data", text, "--save", text],
            2,
            f"{text}: cannot be saved",
            inputs=[text],
        )


def test_save_into_a_folder_that_cannot_be_written_fails_before_training(tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    real = tempfile.TemporaryFile

    # as the system refuses a non-root user (root writes anyway)
    def refusing(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files.tempfile, "TemporaryFile", refusing)
    lines = refused(
        ["train", "logreg", "--save", folder / "m.npz"],
        2,
        f"error: {folder / 'm.npz'}: cannot be saved: the folder {folder} cannot be written "
        f"(Permission denied)",
    )
    assert len(lines) == 1  # no epoch: nothing was trained
    folder.chmod(0o755)


# -- 3. Kaggle's train.csv without its header -----------------------------------------------------


def test_a_headerless_file_with_the_label_first_is_read_as_such(tmp_path):
    first = tmp_path / "train_no_header.csv"
    first.write_text(digit_rows(label_first=True))
    last = tmp_path / "label_last.csv"
    last.write_text(digit_rows(label_first=False))
    for k in (0, 37, 99):
        a = json.loads(
            ok("data", "show", first, "--index", k, "--split", "all", "--json").splitlines()[-1]
        )
        b = json.loads(
            ok("data", "show", last, "--index", k, "--split", "all", "--json").splitlines()[-1]
        )
        assert a["label"] == b["label"] == int(first.read_text().splitlines()[k].split(",")[0])
        assert a["pixels"] == b["pixels"]


def test_training_on_a_single_label_is_refused(tmp_path):
    one = tmp_path / "one_label.csv"
    one.write_text((",".join(["7"] * 784 + ["3"]) + "\n") * 50)
    refused(
        ["train", "cnn", "--data", one, "--epochs", "1"],
        2,
        f"error: {one}: every label of its 40 training images is 3: there is nothing to learn from one class",
        inputs=[one],
    )


def test_a_headerless_file_whose_both_ends_could_be_labels_is_refused(tmp_path):
    path = tmp_path / "both.csv"
    path.write_text(
        "".join(
            ",".join([str(k % 10), *["100"] * 783, str((k + 3) % 10)]) + "\n" for k in range(30)
        )
    )
    refused(
        ["data", "show", path],
        2,
        f"error: {path}:1: has no header, and both its first and its last column",
        "add a header line",
        inputs=[path],
    )


# -- 4. NaN and infinity as options ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args, option",
    [
        (["train", "logreg", "--lr"], "--lr"),
        (["train", "cnn", "--momentum"], "--momentum"),
        (["train", "logreg", "--test-fraction"], "--test-fraction"),
        (["train", "lstmlm", "--clip"], "--clip"),
        (["train", "transformer", "--lr"], "--lr"),
        (["train", "pronoun", "--lr"], "--lr"),
        (["generate", "lstmlm", "--checkpoint", "x.npz", "--temperature"], "--temperature"),
        (["gradcheck", "logreg", "--eps"], "--eps"),
        (["trace", "bptt", "--forget-bias"], "--forget-bias"),
        (["data", "fetch", "mnist", "--timeout"], "--timeout"),
        (["bench", "logreg", "--min-round"], "--min-round"),
    ],
)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_a_float_option_refuses_nan_and_infinity(args, option, value):
    refused([*args, value], 2, f"Invalid value for '{option}': '{value}' is not a finite number")


# -- 5. NaN never hidden --------------------------------------------------------------------------


def test_weights_that_diverge_stop_the_run_instead_of_reporting_nan(tmp_path):
    save = tmp_path / "cnn.npz"
    refused(
        [
            "train",
            "cnn",
            "--optimizer",
            "sgd",
            "--lr",
            "1e10",
            "--limit",
            "64",
            "--epochs",
            "1",
            "--save",
            save,
        ],
        1,
        "error: the test loss became nan after epoch 1: the run diverged",
    )
    assert not save.exists()  # no checkpoint of a diverged model


# -- 6. checkpoints and files that would exhaust memory or hang -------------------------------------


@pytest.mark.parametrize(
    "change, array",
    [
        ({"hidden_size": 10**9}, "lstm.Wx"),
        ({"vocab_size": 10**12}, "embed.W"),
        ({"embed_size": -5}, "embed.W"),
    ],
)
def test_a_checkpoint_whose_config_asks_for_huge_arrays_is_refused(
    toy_lstm, tmp_path, change, array
):
    bad = rewrite_config(toy_lstm, tmp_path / "bad.npz", **change)
    for command in (["eval", "lstmlm"], ["generate", "lstmlm"]):
        refused(
            [*command, "--checkpoint", bad],
            2,
            f"error: {bad}: does not hold a valid lstmlm model ({array} has shape",
            "by its config",
            inputs=[bad],
        )


def test_a_transformer_checkpoint_asking_for_a_billion_blocks_is_refused_at_once(tmp_path):
    from nbengine.models.transformer import TransformerLM

    path = tmp_path / "t.npz"
    TransformerLM(5, 4, 2, 1, None, 3, extra_config={"level": "word", "vocab": list("abcde")}).save(
        path
    )
    bad = rewrite_config(path, tmp_path / "bad.npz", blocks=10**9)
    refused(
        ["generate", "transformer", "--checkpoint", bad],
        2,
        f"error: {bad}: does not hold a valid transformer model (missing 'block1.ln1.gamma')",
        inputs=[bad],
    )


def test_a_cnn_checkpoint_with_huge_images_in_its_config_is_refused(tmp_path):
    from nbengine.models.cnn import CNN

    path = tmp_path / "cnn.npz"
    CNN(0).save(path)
    bad = rewrite_config(path, tmp_path / "bad.npz", input_shape=[10**6, 10**6, 1])
    flat = (10**6 // 4) ** 2 * 64  # two poolings halve each side; 64 channels
    refused(
        ["eval", "cnn", "--checkpoint", bad],
        2,
        "does not hold a valid cnn model (dense1.w has shape "
        f"(3136, 1024), expected ({flat}, 1024) by its config)",
        inputs=[bad],
    )


def test_devices_as_data_are_refused(logreg_ckpt, tmp_path):
    refused(
        ["eval", "logreg", "--checkpoint", logreg_ckpt, "--data", "/dev/zero"],
        2,
        "error: /dev/zero: is a character device, not a CSV file: nbengine reads only regular files",
    )
    # named by the checkpoint
    evil = rewrite_config(logreg_ckpt, tmp_path / "evil.npz", data="/dev/zero")
    refused(
        ["eval", "logreg", "--checkpoint", evil],
        2,
        "error: /dev/zero: is a character device",
        inputs=[evil],
    )
    refused(
        ["eval", "logreg", "--checkpoint", "/dev/zero"],
        2,
        "error: /dev/zero: is a character device, not a checkpoint",
    )


def test_a_named_pipe_as_data_or_checkpoint_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    script = Path(sys.executable).parent / "nbengine"
    for args, kind in (
        (["train", "logreg", "--data", str(fifo)], "CSV file"),
        (["eval", "cnn", "--checkpoint", str(fifo)], "checkpoint"),
        (["tutorial", "run", str(fifo)], "tutorial file"),
    ):
        proc = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert (
            proc.stderr.strip().splitlines()[-1]
            == f"error: {fifo}: is a named pipe, not a {kind}: nbengine reads only regular files"
        )


def test_a_file_or_a_gzip_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 50_000)  # instead of writing a gigabyte
    big = tmp_path / "big.csv"
    shutil.copy(shipped_path("breast_cancer"), big)  # 120 kB
    refused(
        ["train", "logreg", "--data", big],
        2,
        f"error: {big}: is {files.size_text(big.stat().st_size)}; nbengine reads a CSV file of at most 50 kB",
        inputs=[big],
    )
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"a b\n" * 100_000))  # 400 kB in about 1 kB
    refused(
        ["train", "lstmlm", "--data", bomb],
        2,
        f"error: {bomb}: unpacks to more than 50 kB; nbengine reads a text file of at most 50 kB",
        inputs=[bomb],
    )


# -- 7. smaller ones ------------------------------------------------------------------------------


def test_an_idx_file_with_a_wrong_magic_number_says_so(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(
        bytes([3, 8, 0, 0]) + (1).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(784)
    )
    refused(
        ["data", "show", path],
        2,
        f"error: {path}: is not an IDX file: its magic number (first 4 bytes) is 03 08 00 00",
        inputs=[path],
    )


def test_a_line_of_one_value_says_what_it_holds(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("5\n")
    refused(
        ["data", "show", path],
        2,
        f"error: {path}:1: the line holds one value, '5'; expected 784 pixel "
        f"values, then the label",
        inputs=[path],
    )


def test_ctrl_c_while_importing_is_one_line_and_exit_130(tmp_path):
    # a real SIGINT, sent by the process to itself while the command line imports Rich; Ctrl-C
    # handled as in a terminal (a job started in the background by a script inherits SIGINT
    # ignored, and Python then leaves it ignored)
    (tmp_path / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rich':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    script = Path(sys.executable).parent / "nbengine"
    proc = subprocess.run(
        [str(script), "train", "logreg"], capture_output=True, text=True, env=env, timeout=120
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "interrupted\n", "")


def test_generate_refuses_a_length_beyond_its_cap(toy_lstm):
    refused(
        ["generate", "lstmlm", "--checkpoint", toy_lstm, "--length", str(10**20)],
        2,
        f"Invalid value for '--length': {10**20} is not in the range 1<=x<=100000",
        inputs=[toy_lstm],
    )


def test_a_tutorial_file_of_ones_own_is_said_to_run_python(tmp_path):
    from nbengine.tutorial import find

    path = tmp_path / "mine.toml"
    path.write_text(
        'title = "Mine"\n[[steps]]\ntitle = "One"\nsay = "s"\ncode = "x = 1"\nshow = ["x"]\n'
    )
    r = CliRunner().invoke(main, ["tutorial", "run", str(path)])
    assert r.exit_code == 0 and "x = 1" in r.stdout
    assert r.stderr.splitlines() == [
        f"note: {path} is not one of nbengine's tutorials; its code steps run as "
        f"Python with your permissions"
    ]
    assert not find(str(path)).shipped and find("cnn-theory").shipped
    assert "run only files you trust" in " ".join(ok("tutorial", "run", "--help").split())
