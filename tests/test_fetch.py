"""The downloader against a local HTTP server: never the internet.

The server holds small fake files under path prefixes that act as mirrors: /good/
serves the file, /corrupt/ other bytes, /truncated/ a body shorter than its
Content-Length, /error/ an HTTP 500, /slow/ nothing for longer than the timeout.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nbengine.data import fetch as fetch_module
from nbengine.data.fetch import (FetchError, cache_root, dataset_folder, default_cache_root, fetch, fetch_file,
                                 md5_of, missing_files)
from nbengine.data.registry import FETCHABLE, MNIST_FILES
from nbengine.errors import DataError

CONTENT = {"a.gz": b"the first file " * 100, "b.gz": b"the second file " * 50}
MD5 = {name: hashlib.md5(body).hexdigest() for name, body in CONTENT.items()}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        mirror, _, name = self.path.strip("/").partition("/")
        if name not in CONTENT or mirror not in ("good", "corrupt", "truncated", "error", "slow"):
            self.send_error(404)
            return
        body = CONTENT[name]
        if mirror == "error":
            self.send_error(500)
            return
        if mirror == "slow":
            time.sleep(1.0)
        if mirror == "corrupt":
            body = body[::-1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # /truncated/ promises the whole body but sends half, then closes the connection
        try:
            self.wfile.write(body[: len(body) // 2] if mirror == "truncated" else body)
        except (BrokenPipeError, ConnectionResetError):  # /slow/: the client has given up
            pass

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd, base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirrors(server):
    httpd, base = server
    httpd.requests.clear()
    return {m: f"{base}/{m}/" for m in ("good", "corrupt", "truncated", "error", "slow")} | {"requests": httpd.requests}


@pytest.fixture
def refused():
    """A URL where nothing listens: the connection is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# -- one file ----------------------------------------------------------------------------------------

def test_a_good_file_is_downloaded_verified_and_reported(tmp_path, mirrors):
    calls = []
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]], progress=lambda *a: calls.append(a))
    assert (tmp_path / "a.gz").read_bytes() == CONTENT["a.gz"]
    assert listing(tmp_path) == ["a.gz"]  # no temporary file left
    assert got.name == "a.gz" and got.size == len(CONTENT["a.gz"]) and got.md5 == MD5["a.gz"]
    assert got.mirror == mirrors["good"] and not got.skipped and not got.replaced
    assert calls[0] == ("a.gz", 0, 1500) and calls[-1] == ("a.gz", 1500, 1500)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_a_mirror_without_the_trailing_slash_works(tmp_path, mirrors):
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"].rstrip("/")])
    assert got.mirror == mirrors["good"] and (tmp_path / "a.gz").is_file()


def test_a_corrupted_copy_is_refused_and_the_next_mirror_tried(tmp_path, mirrors):
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["corrupt"], mirrors["error"], mirrors["good"]])
    assert got.mirror == mirrors["good"]
    assert (tmp_path / "a.gz").read_bytes() == CONTENT["a.gz"]
    assert mirrors["requests"] == ["/corrupt/a.gz", "/error/a.gz", "/good/a.gz"]
    assert listing(tmp_path) == ["a.gz"]


def test_when_every_mirror_fails_the_error_says_what_each_did(tmp_path, mirrors, refused):
    order = [mirrors["corrupt"], mirrors["truncated"], mirrors["error"], refused]
    with pytest.raises(FetchError) as err:
        fetch_file(tmp_path / "cache", "a.gz", MD5["a.gz"], order)
    message = str(err.value)
    assert message.startswith("a.gz: could not be downloaded: ") and "\n" not in message
    assert f"{mirrors['corrupt']}: MD5 mismatch (got {hashlib.md5(CONTENT['a.gz'][::-1]).hexdigest()}" in message
    assert f"{mirrors['truncated']}: truncated: got 750 of 1,500 bytes" in message
    assert f"{mirrors['error']}: HTTP 500" in message
    assert f"{refused}: connection refused" in message
    assert err.value.exit_code == 2 and len(err.value.problems) == 4
    assert listing(tmp_path / "cache") == []  # nothing partial is left behind


def test_a_mirror_that_sends_nothing_times_out(tmp_path, mirrors):
    start = time.perf_counter()
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["slow"], mirrors["good"]], timeout=0.2)
    assert got.mirror == mirrors["good"] and time.perf_counter() - start < 0.9
    with pytest.raises(FetchError, match=r"slow/: timed out \(no data for 0.2 s\)"):
        fetch_file(tmp_path / "other", "a.gz", MD5["a.gz"], [mirrors["slow"]], timeout=0.2)


def test_a_file_already_there_is_skipped_without_asking_the_server(tmp_path, mirrors):
    (tmp_path / "a.gz").write_bytes(CONTENT["a.gz"])
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]])
    assert got.skipped and got.mirror is None and got.size == 1500 and got.md5 == MD5["a.gz"]
    assert mirrors["requests"] == []


def test_a_file_there_with_the_wrong_md5_is_downloaded_again(tmp_path, mirrors):
    (tmp_path / "a.gz").write_bytes(b"half a download")
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]])
    assert got.replaced and not got.skipped
    assert md5_of(tmp_path / "a.gz") == MD5["a.gz"]


def test_a_bad_copy_already_there_stays_untouched_when_no_mirror_helps(tmp_path, mirrors):
    (tmp_path / "a.gz").write_bytes(b"old")
    with pytest.raises(FetchError):
        fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["error"]])
    assert listing(tmp_path) == ["a.gz"] and (tmp_path / "a.gz").read_bytes() == b"old"


def test_an_interrupted_download_leaves_nothing(tmp_path, mirrors):
    def interrupt(name, done, total):
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]], progress=interrupt)
    assert listing(tmp_path) == []


def test_no_mirrors_at_all(tmp_path):
    with pytest.raises(FetchError, match="no mirrors to try"):
        fetch_file(tmp_path, "a.gz", MD5["a.gz"], [])


def test_a_cache_folder_that_cannot_be_created(tmp_path, mirrors):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="the cache folder cannot be created"):
        fetch_file(blocker / "sub", "a.gz", MD5["a.gz"], [mirrors["good"]])


# -- a whole data set --------------------------------------------------------------------------------

def test_fetch_puts_a_data_set_in_its_own_folder(tmp_path, mirrors):
    got = fetch("mnist", cache_dir=tmp_path, files=MD5, mirrors=[mirrors["error"], mirrors["good"]])
    assert [g.name for g in got] == ["a.gz", "b.gz"]
    assert listing(tmp_path / "mnist") == ["a.gz", "b.gz"]
    again = fetch("mnist", cache_dir=tmp_path, files=MD5, mirrors=[mirrors["good"]])
    assert all(g.skipped for g in again)


def test_extra_mirrors_are_tried_first(tmp_path, mirrors):
    got = fetch("fashion-mnist", cache_dir=tmp_path, extra_mirrors=[mirrors["good"]], files=MD5,
                mirrors=[mirrors["error"]])
    assert {g.mirror for g in got} == {mirrors["good"]}
    assert mirrors["requests"] == ["/good/a.gz", "/good/b.gz"]


def test_unknown_data_set(tmp_path):
    with pytest.raises(DataError, match="is not a data set that can be fetched"):
        fetch("cifar10", cache_dir=tmp_path)


def test_the_published_files_and_checksums():
    assert list(FETCHABLE) == ["mnist", "fashion-mnist"]
    for spec in FETCHABLE.values():
        assert tuple(spec.files) == MNIST_FILES
        assert all(len(md5) == 32 and int(md5, 16) >= 0 for md5 in spec.files.values())
    assert FETCHABLE["mnist"].files["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert FETCHABLE["fashion-mnist"].files["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert FETCHABLE["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


# -- where the cache is ------------------------------------------------------------------------------

def test_cache_folder_explicit_then_environment_then_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "env"
    assert dataset_folder("mnist") == tmp_path / "env" / "mnist"
    monkeypatch.delenv("NBENGINE_CACHE_DIR")
    assert cache_root() == default_cache_root()


@pytest.mark.parametrize("platform,env,expected", [
    ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/nbengine"),
    ("linux", {"XDG_CACHE_HOME": "relative/is/ignored"}, "HOME/.cache/nbengine"),
    ("linux", {}, "HOME/.cache/nbengine"),
    ("darwin", {}, "HOME/Library/Caches/nbengine"),
    ("win32", {"LOCALAPPDATA": "/appdata"}, "/appdata/nbengine/Cache"),
    ("win32", {}, "HOME/AppData/Local/nbengine/Cache"),
])
def test_platform_cache_folders(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.setattr(fetch_module.sys, "platform", platform)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    for var in ("XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert default_cache_root() == Path(expected.replace("HOME", str(tmp_path)))


def test_missing_files(tmp_path):
    assert missing_files("mnist", tmp_path) == list(MNIST_FILES)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / MNIST_FILES[0]).write_bytes(b"x")
    assert missing_files("mnist", tmp_path) == list(MNIST_FILES[1:])
