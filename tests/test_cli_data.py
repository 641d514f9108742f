"""`nbengine data list | fetch | show` through click's test runner, with a local server
standing in for the mirrors (the tests never reach the internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from helpers import json_lines, run

from nbengine.data import registry
from nbengine.data.idx import write_idx
from nbengine.data.images import load_images, load_split
from nbengine.data.registry import MNIST_FILES
from nbengine_cli.data import FETCH_NAMES, TEXT_NAMES
from nbengine_cli.render.heatmap import RAMP

FILES = {"one.gz": b"first fake file " * 64, "two.gz": b"second fake file " * 3}
PTB = {
    "ptb.train.txt": b" the cat sat on the mat \n the dog sat \n" * 3,
    "ptb.valid.txt": b" the cat \n",
    "ptb.test.txt": b" a dog sat \n",
}


def ramp_lines(pixels) -> list[str]:
    """Without colour, a pixel's place on the scale 0 to 255 picks one of RAMP's ten characters."""
    return [
        "".join(RAMP[min(int(float(v) / 255 * 10), 9)] * 2 for v in row).rstrip() for row in pixels
    ]


# -- show ---------------------------------------------------------------------------------------------


def test_show_draws_the_digit_and_prints_its_label():
    split = load_split("mnist_5k")
    for index in [7, 1234]:
        r = run("data", "show", "mnist_5k", "--index", str(index))
        label = int(split.train.labels[index])
        lines = r.stdout.splitlines()
        assert lines[0] == f"mnist_5k, train split: image {index} of 4,000, label {label}"
        # all 28 rows, two characters a pixel
        assert lines[1:] == ramp_lines(split.train.pixels[index])
        assert "\x1b[" not in r.stdout
        assert "mnist_5k: 4,000 train / 1,000 test, stratified split, seed 0" in r.stderr


def test_show_defaults_to_mnist_5k_and_its_test_split():
    split = load_split("mnist_5k")
    r = run("data", "show", "--split", "test", "-i", "999", "-q")
    assert (
        r.stdout.splitlines()[0]
        == f"mnist_5k, test split: image 999 of 1,000, label {split.test.labels[999]}"
    )
    assert r.stderr == ""


def test_show_in_colour_uses_half_blocks_and_no_color_turns_them_off():
    colour = {
        "FORCE_COLOR": "1",
        "COLORTERM": "truecolor",
        "TERM": "xterm-256color",
        "NO_COLOR": None,
    }
    pixels = load_split("mnist_5k").train.pixels[7]
    r = run("data", "show", "--index", "7", env=colour)
    picture = r.stdout.splitlines()[1:]
    assert len(picture) == 14  # 28 pixel rows, two per line
    for k, line in enumerate(picture):
        # each run of '▀' has the upper pixel's grey as foreground, the lower one's as background
        runs = re.findall(r"\x1b\[38;2;(\d+);\1;\1;48;2;(\d+);\2;\2m(▀+)", line)
        drawn = [(int(top), int(bottom)) for top, bottom, blocks in runs for _ in blocks]
        assert drawn == list(zip(pixels[2 * k].tolist(), pixels[2 * k + 1].tolist()))

    r = run("data", "show", "--index", "7", env={**colour, "NO_COLOR": "1"})
    assert "\x1b[" not in r.stdout and "▀" not in r.stdout
    assert r.stdout.splitlines()[1:] == ramp_lines(load_split("mnist_5k").train.pixels[7])


def test_show_json_has_the_pixels_and_the_label():
    split = load_split("mnist_5k")
    (event,) = json_lines(run("data", "show", "--index", "7", "--json"))
    assert event["event"] == "image" and event["data"] == "mnist_5k" and event["split"] == "train"
    assert event["index"] == 7 and event["n"] == 4000
    assert event["label"] == int(split.train.labels[7]) and event["class_name"] == str(
        event["label"]
    )
    assert np.array_equal(np.array(event["pixels"]), split.train.pixels[7])


def test_show_index_out_of_range_gives_the_valid_range():
    r = run("data", "show", "--index", "4000", code=2)
    assert (
        "mnist_5k (train split) has 4,000 images (0 to 3999), so 4000 is out of range" in r.stderr
    )
    r = run("data", "show", "--split", "test", "--index", "1000", code=2)
    assert "(0 to 999)" in r.stderr
    run("data", "show", "--index", "-1", code=2)


def test_show_a_set_not_fetched_names_the_command(tmp_path):
    r = run("data", "show", "mnist", env={"NBENGINE_CACHE_DIR": str(tmp_path)}, code=2)
    assert r.stderr.startswith(
        "error: mnist: not downloaded yet: `nbengine data fetch mnist` downloads it"
    )
    assert "mnist_5k" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""
    r = run("data", "show", "fashion-mnist", "--cache-dir", str(tmp_path), code=2)
    assert f"`nbengine data fetch fashion-mnist --cache-dir {tmp_path}`" in r.stderr


def test_show_a_fetched_set_with_class_names(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in MNIST_FILES:
        n = 6 if name.startswith("train") else 3
        write_idx(
            folder / name,
            rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
            if "images" in name
            else np.full(n, 9, np.uint8),
        )
    r = run(
        "data", "show", "fashion-mnist", "--cache-dir", str(tmp_path), "--split", "test", "-i", "2"
    )
    assert (
        r.stdout.splitlines()[0] == "fashion-mnist, test split: image 2 of 3, label 9 = Ankle boot"
    )
    assert "the official split" in r.stderr


def test_show_a_kaggle_test_file_without_labels(tmp_path):
    path = tmp_path / "test.csv"
    pixels = np.random.default_rng(1).integers(0, 256, (3, 784))
    path.write_text(
        ",".join(f"pixel{i}" for i in range(784))
        + "\n"
        + "\n".join(",".join(map(str, row)) for row in pixels.tolist())
        + "\n"
    )
    r = run("data", "show", str(path), "--split", "all", "-i", "2")
    assert r.stdout.splitlines()[0] == "test.csv, all images: image 2 of 3, no label"
    assert r.stdout.splitlines()[1:] == ramp_lines(pixels[2].reshape(28, 28))
    r = run("data", "show", str(path), code=2)
    assert r.stderr.startswith(f"error: {path}: has no labels") and r.stderr.strip().endswith(
        "`--split all` shows its images"
    )


def test_show_a_bad_file_is_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(["0"] * 785) + "\n" + ",".join(["0"] * 783) + ",3\n")
    r = run("data", "show", str(path), code=2)
    assert r.stderr.strip() == f"error: {path}:2: 784 pixel values expected, found 783"
    assert r.stdout == ""


# -- fetch --------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        mirror, _, name = self.path.strip("/").partition("/")
        if mirror == "error" or name not in FILES | PTB:
            self.send_error(500 if mirror == "error" else 404)
            return
        body = (FILES | PTB)[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake_mnist(monkeypatch):
    """'mnist' made of two small files, with no published mirrors (so nothing leaves the machine)."""
    fake = dataclasses.replace(
        registry.FETCHABLE["mnist"],
        mirrors=(),
        files={name: hashlib.md5(body).hexdigest() for name, body in FILES.items()},
    )
    monkeypatch.setitem(registry.FETCHABLE, "mnist", fake)
    return fake


def test_fetch_downloads_verifies_and_then_skips(tmp_path, server, fake_mnist):
    r = run(
        "data",
        "fetch",
        "mnist",
        "--cache-dir",
        str(tmp_path),
        "--mirror",
        f"{server}/error/",
        "--mirror",
        f"{server}/good",
    )
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:5] == ["one.gz", "1.02", "kB", "MD5", "verified"]  # 1,024 bytes
    assert lines[0].endswith(f"from {server}/good/")
    assert lines[1].startswith("two.gz") and "51 bytes" in lines[1]
    assert f"Fetching mnist (about 11 MB) into {tmp_path / 'mnist'}" in r.stderr
    assert sorted(os.listdir(tmp_path / "mnist")) == ["one.gz", "two.gz"]
    assert (tmp_path / "mnist" / "one.gz").read_bytes() == FILES["one.gz"]

    again = run("data", "fetch", "mnist", "--cache-dir", str(tmp_path), "--json")
    events = json_lines(again)
    assert [e["event"] for e in events] == ["file", "file", "result"]
    assert all(e["skipped"] and e["verified"] and e["mirror"] is None for e in events[:2])
    assert events[0]["md5"] == fake_mnist.files["one.gz"] and events[0]["size"] == len(
        FILES["one.gz"]
    )
    assert events[2] == {"event": "result", "dataset": "mnist", "folder": str(tmp_path / "mnist")}
    assert (
        "already present (skipped)"
        in run("data", "fetch", "mnist", "--cache-dir", str(tmp_path)).stdout
    )


def test_fetch_json_reports_the_mirror(tmp_path, server, fake_mnist):
    events = json_lines(
        run(
            "data",
            "fetch",
            "mnist",
            "--cache-dir",
            str(tmp_path),
            "--mirror",
            f"{server}/good/",
            "--json",
            "-q",
        )
    )
    assert [e["mirror"] for e in events[:2]] == [f"{server}/good/"] * 2
    assert not any(e.get("skipped") for e in events)


def test_fetch_failure_is_one_line_and_leaves_nothing(tmp_path, server, fake_mnist):
    r = run(
        "data",
        "fetch",
        "mnist",
        "--cache-dir",
        str(tmp_path),
        "--mirror",
        f"{server}/error/",
        code=2,
    )
    assert (
        r.stderr.splitlines()[-1]
        == f"error: one.gz: could not be downloaded: {server}/error/: HTTP 500"
    )
    assert not (tmp_path / "mnist").exists()  # not even an empty folder
    (tmp_path / "there").mkdir()
    # the folders made for the download go too, not one that was there
    cache = tmp_path / "there" / "new" / "cache"
    run("data", "fetch", "mnist", "--cache-dir", str(cache), "--mirror", f"{server}/error/", code=2)
    assert os.listdir(tmp_path) == ["there"] and os.listdir(tmp_path / "there") == []


def test_fetch_refuses_a_mirror_that_is_not_a_url(tmp_path):
    r = run(
        "data",
        "fetch",
        "mnist",
        "--cache-dir",
        str(tmp_path),
        "--mirror",
        "example.org/mnist",
        code=2,
    )
    assert "'example.org/mnist' is not a URL" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "mnist").exists()  # refused before anything was tried


def test_fetch_from_a_file_url(tmp_path, fake_mnist):
    (tmp_path / "mirror").mkdir()
    for name, body in FILES.items():
        (tmp_path / "mirror" / name).write_bytes(body)
    mirror = (tmp_path / "mirror").as_uri()
    events = json_lines(
        run(
            "data",
            "fetch",
            "mnist",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--mirror",
            mirror,
            "--json",
        )
    )
    assert [e["mirror"] for e in events[:2]] == [mirror + "/"] * 2


def test_fetch_takes_only_known_names():
    assert list(FETCH_NAMES) == registry.fetchable_names()
    r = run("data", "fetch", "cifar10", code=2)
    assert "'mnist'" in r.stderr and "'fashion-mnist'" in r.stderr and "'ptb'" in r.stderr


@pytest.fixture
def fake_ptb(monkeypatch):
    """'ptb' made of three small files, with no published mirrors."""
    fake = dataclasses.replace(
        registry.FETCHABLE_TEXT["ptb"],
        mirrors=(),
        files={name: hashlib.sha256(body).hexdigest() for name, body in PTB.items()},
    )
    monkeypatch.setitem(registry.FETCHABLE_TEXT, "ptb", fake)
    return fake


def test_fetch_ptb_checks_sha256_and_then_it_loads(tmp_path, server, fake_ptb):
    r = run(
        "data",
        "fetch",
        "ptb",
        "--cache-dir",
        str(tmp_path),
        "--mirror",
        f"{server}/error/",
        "--mirror",
        f"{server}/good/",
    )
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"]
    assert all(
        "SHA-256 verified" in line and line.endswith(f"from {server}/good/") for line in lines
    )
    assert f"Fetching ptb (about 6 MB) into {tmp_path / 'ptb'}" in r.stderr
    assert "ptb is ready: try `nbengine data show ptb`" in r.stderr
    assert sorted(os.listdir(tmp_path / "ptb")) == sorted(PTB)

    events = json_lines(run("data", "fetch", "ptb", "--cache-dir", str(tmp_path), "--json"))
    assert events[0]["sha256"] == fake_ptb.files["ptb.train.txt"] and "md5" not in events[0]
    assert all(e["skipped"] for e in events[:3])

    r = run("data", "show", "ptb", "--cache-dir", str(tmp_path), "--split", "valid")
    assert r.stdout.splitlines() == [
        "ptb, valid split: words 0 to 2 of 3 (<eos> shown as a line break)",
        "the cat",
        "",
    ]
    assert (
        "ptb, words: 33 train / 3 valid / 4 test tokens, vocabulary 8 (with <unk> for tokens training never saw)"
        in r.stderr
    )


def test_fetch_ptb_failure_leaves_nothing(tmp_path, server, fake_ptb):
    r = run(
        "data", "fetch", "ptb", "--cache-dir", str(tmp_path), "--mirror", f"{server}/error/", code=2
    )
    assert (
        r.stderr.splitlines()[-1]
        == f"error: ptb.train.txt: could not be downloaded: {server}/error/: HTTP 500"
    )
    assert os.listdir(tmp_path) == []  # not even an empty folder


# -- show, text corpora -------------------------------------------------------------------------------


def test_show_a_text_corpus():
    r = run("data", "show", "shakespeare", "--index", "6")
    lines = r.stdout.splitlines()
    assert (
        lines[0]
        == "shakespeare, train split: words 6 to 205 of 1,163,068 (<eos> shown as a line break)"
    )
    assert lines[1:5] == ["act i", "", "scene i . athens . the palace of theseus .", ""]
    assert r.stderr.startswith(
        "shakespeare, words: 1,163,068 train / 64,431 valid / 60,493 test tokens"
    )
    (event,) = json_lines(run("data", "show", "toy", "--split", "test", "--json", "-i", "5"))
    assert event == {
        "event": "text",
        "data": "toy",
        "split": "test",
        "index": 5,
        "n": 8,
        "ids": [1, 5, 6],
        "tokens": ["say", "hello", "."],
    }
    assert run("data", "show", "toy", "--split", "all").stdout.splitlines()[0] == (
        "toy, all splits: words 0 to 23 of 24 (<eos> shown as a line break)"
    )
    assert set(TEXT_NAMES) == {"toy", "shakespeare", "ptb"}


def test_show_text_errors():
    r = run("data", "show", "toy", "--index", "8", code=2)
    assert "toy (train split) has 8 words (0 to 7), so 8 is out of range" in r.stderr
    r = run("data", "show", "mnist_5k", "--split", "valid", code=2)
    assert "image sets have a train and a test split (valid is for text corpora)" in r.stderr


def test_show_ptb_not_fetched(tmp_path):
    r = run("data", "show", "ptb", "--cache-dir", str(tmp_path), code=2)
    assert r.stderr.strip() == (
        f"error: ptb: not downloaded yet: `nbengine data fetch ptb --cache-dir {tmp_path}` "
        f"downloads it (6 MB) into {tmp_path / 'ptb'}; `shakespeare` ships with nbengine "
        f"and needs no download"
    )


# -- list ---------------------------------------------------------------------------------------------


def test_list_shows_shipped_and_fetchable_sets(tmp_path):
    r = run("data", "list", "--cache-dir", str(tmp_path))
    for name in [
        "breast_cancer",
        "mnist_5k",
        "mnist",
        "fashion-mnist",
        "CC BY-SA 3.0",
        "shakespeare",
        "toy",
        "ptb",
    ]:
        assert name in r.stdout
    events = json_lines(run("data", "list", "--cache-dir", str(tmp_path), "--json"))
    shipped = {e["name"]: e for e in events if e["event"] == "dataset"}
    assert set(shipped) == {"breast_cancer", "mnist_5k", "shakespeare", "toy"}
    assert shipped["mnist_5k"]["task"] == "cnn" and os.path.isfile(shipped["mnist_5k"]["path"])
    assert len(load_images(shipped["mnist_5k"]["path"])) == 5000
    assert shipped["shakespeare"]["task"] == "lm" and shipped["shakespeare"]["path"].endswith(
        "shakespeare.txt.gz"
    )
    assert os.path.isfile(shipped["shakespeare"]["path"]) and shipped["toy"]["path"] is None
    fetchable = {e["name"]: e for e in events if e["event"] == "fetchable"}
    assert set(fetchable) == {"mnist", "fashion-mnist", "ptb"}
    assert fetchable["ptb"]["task"] == "lm" and fetchable["ptb"]["missing"] == list(
        registry.PTB_FILES
    )
    assert fetchable["mnist"]["present"] is False and fetchable["mnist"]["folder"] == str(
        tmp_path / "mnist"
    )
    assert fetchable["mnist"]["missing"] == list(MNIST_FILES)

    (tmp_path / "mnist").mkdir()
    for name in MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(b"x")
    events = json_lines(run("data", "list", "--json", env={"NBENGINE_CACHE_DIR": str(tmp_path)}))
    mnist = next(e for e in events if e["name"] == "mnist")
    assert mnist["present"] is True and mnist["missing"] == []
