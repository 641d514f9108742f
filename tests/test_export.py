"""--svg and --html write what the terminal showed; train --plot draws the epochs. Each test
opens the files and finds in them the numbers the JSON lines of the same run carry."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from helpers import json_lines, run
from test_tutorial_runner import readme_tutorial


def text_of_svg(path) -> str:
    """The text Rich drew in an SVG export (it writes spaces as no-break spaces)."""
    root = ET.parse(path).getroot()  # a well-formed SVG
    return "".join(root.itertext()).replace("\xa0", " ")


def text_of_html(path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_trace_svg_and_html_hold_the_windows_sums(tmp_path):
    svg, page = tmp_path / "conv.svg", tmp_path / "conv.html"
    shown = run("trace", "conv", "--svg", str(svg), "--html", str(page)).stdout
    sums = [w["sum"] for w in json_lines(run("trace", "conv", "--json")) if w["event"] == "window"]
    assert sums[:4] == [7, 6, 10, 7]
    for text in (text_of_svg(svg), text_of_html(page)):
        found = [float(s) for s in re.findall(r"sum = (-?\d+)", text)]
        assert found == sums
        assert "1·1 + 0·0 + 2·0 + 0·2 + 2·1 + 1·3 + 0·0 + 2·0 + 1·1 = 7" in text
    assert "sum = 7" in shown  # the terminal still shows it


def test_json_mode_keeps_stdout_json_and_still_exports_the_picture(tmp_path):
    svg = tmp_path / "attention.svg"
    events = json_lines(run("trace", "attention", "--example", "--json", "--svg", str(svg)))
    weights = next(e for e in events if e["event"] == "trace" and e["name"] == "weights")["data"][0]
    text = text_of_svg(svg)
    assert f"{weights[0]:.4f}" in text and f"{weights[1]:.4f}" in text


def test_train_plot_draws_every_epochs_loss_and_accuracy(tmp_path):
    chart, page = tmp_path / "curves.svg", tmp_path / "train.html"
    epochs = [
        e
        for e in json_lines(
            run(
                "train",
                "logreg",
                "--epochs",
                "3",
                "--json",
                "--plot",
                str(chart),
                "--html",
                str(page),
            )
        )
        if e["event"] == "epoch"
    ]
    root = ET.parse(chart).getroot()
    points = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    for e in epochs:
        for key in ("loss", "train_accuracy", "test_accuracy"):
            assert f"epoch {e['epoch']}: {key} {e[key]:.4f}" in points
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 3
    table = text_of_html(page)  # the table the terminal would have shown, though stdout was JSON
    assert f"{epochs[-1]['loss']:.4f}" in table and f"{epochs[-1]['test_accuracy']:.4f}" in table


def test_bench_html(tmp_path):
    page = tmp_path / "bench.html"
    rows = json_lines(
        run("bench", "logreg", "--rounds", "1", "--min-round", "0", "--json", "--html", str(page))
    )
    text = " ".join(text_of_html(page).split())
    cases = [r["case"] for r in rows if r["event"] == "bench"]
    assert cases and all(case.split(",")[0] in text for case in cases)
    assert "logistic regression" in text


def test_tutorial_run_svg_holds_its_steps_numbers(tmp_path):
    own = tmp_path / "softmax.toml"
    own.write_text(readme_tutorial(), encoding="utf-8")
    svg = tmp_path / "tutorial.svg"
    run("tutorial", "run", str(own), "--svg", str(svg))
    text = text_of_svg(svg)
    for number in ("13.75", "11.25", "0.9045", "0.0742"):
        assert number in text


def test_plot_must_be_svg_and_a_failed_run_writes_nothing(tmp_path):
    result = run("train", "logreg", "--plot", str(tmp_path / "curves.png"), code=2)
    assert "SVG" in result.stderr
    svg = tmp_path / "t.svg"
    run("trace", "cnn", "--index", "999999", "--svg", str(svg), code=2)
    assert not svg.exists() and list(tmp_path.iterdir()) == []
