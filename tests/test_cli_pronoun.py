"""`train pronoun` and `eval pronoun` through the command line: the epoch table, JSON lines,
checkpoints and bad input."""

from __future__ import annotations

import pytest
from helpers import json_lines, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pronoun") / "p.npz")
    return path, run("train", "pronoun", "--epochs", "1", "--seed", "0", "--save", path, "--json")


def test_train_json_reaches_95_percent_on_held_out_pairs(trained):
    path, r = trained
    events = json_lines(r)
    start = events[0]
    assert start["event"] == "start" and start["seed"] == 0 and start["epochs"] == 1
    assert ["cat", "fish"] in start["held_out_pairs"]
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == start["steps_per_epoch"]
    assert steps[-1]["loss"] < steps[0]["loss"]
    (epoch,) = [e for e in events if e["event"] == "epoch"]
    assert epoch["held_out_accuracy"] >= 0.95 and epoch["checkpoint"] == path
    res = events[-1]
    assert res["event"] == "result" and res["held_out_accuracy"] == epoch["held_out_accuracy"]
    assert res["correct"] == round(res["held_out_accuracy"] * res["n_held_out"])


def test_train_table_and_seed_echo():
    r = run("train", "pronoun", "--epochs", "1", "--seed", "2")
    assert "held-out acc" in r.stdout and "train acc" in r.stdout
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1"]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("held-out accuracy") and float(last.split()[2]) == float(rows[0][3])
    assert "seed 2" in r.stderr


def test_same_seed_same_numbers(trained):
    _, first = trained
    again = run("train", "pronoun", "--epochs", "1", "--seed", "0", "--json")

    def numbers(r):
        return [
            (e.get("loss"), e.get("held_out_accuracy"))
            for e in json_lines(r)
            if e["event"] in ("step", "epoch")
        ]

    assert numbers(first) == numbers(again)


def test_eval_reads_the_checkpoint(trained):
    path, r = trained
    trained_acc = json_lines(r)[-1]["held_out_accuracy"]
    res = json_lines(run("eval", "pronoun", "--checkpoint", path, "--json"))[-1]
    assert res["held_out_accuracy"] == trained_acc
    assert set(res["by_pattern"]) == {"active", "passive"}
    lesson, tasty = res["examples"][:2]
    assert (
        lesson["sentence"] == "a cat ate the fish because it was hungry"
        and lesson["truth"] == "cat"
    )
    assert tasty["sentence"].endswith("tasty") and tasty["truth"] == "fish"
    assert lesson["answer"] == "cat" and lesson["attends_most_to"] == "cat"
    assert tasty["answer"] == "fish" and tasty["attends_most_to"] == "fish"
    assert len(res["examples"]) == 6
    out = run("eval", "pronoun", "--checkpoint", path, "--examples", "3").stdout
    assert out.startswith(f"held-out accuracy {trained_acc:.4f}")
    assert "a cat ate the fish because it was hungry" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    def error(*args):
        r = run(*args, code=2)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        return r.stderr

    missing = str(tmp_path / "missing.npz")
    assert missing in error("eval", "pronoun", "--checkpoint", missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 broken")
    assert str(junk) in error("eval", "pronoun", "--checkpoint", str(junk))
    nowhere = str(tmp_path / "no" / "such" / "folder" / "p.npz")
    assert "folder does not exist" in error("train", "pronoun", "--save", nowhere)
    run("train", "pronoun", "--epochs", "0", code=2)
