"""`nbengine data ...`: the data sets that ship with the package, fetching the full
MNIST, Fashion-MNIST and the Penn Treebank, and looking at one image or a passage of
a text corpus in the terminal.

The engine is imported inside each command, so `nbengine --help` stays instant.
"""

from __future__ import annotations

import functools
import os

import click
from rich.markup import escape
from rich.table import Table

from nbengine.i18n import N_, _, shown
from nbengine_cli.options import Float, cache_dir_option, check_index, json_options, split_options
from nbengine_cli.output import Bar, Output

# The data sets `data fetch` knows (nbengine.data.registry.FETCHABLE and FETCHABLE_TEXT,
# spelled out here so that building the command line does not import the engine and NumPy).
FETCH_NAMES = ("mnist", "fashion-mnist", "ptb")
# The text corpora known by name (nbengine.data.text.load_corpus).
TEXT_NAMES = ("toy", "shakespeare", "ptb")


def _mirror_urls(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """--mirror values, each an http://, https:// or file:// URL (checked before any download)."""
    from urllib.parse import urlsplit

    for url in values:
        if urlsplit(url).scheme.lower() not in ("http", "https", "file"):
            raise click.BadParameter(
                _(
                    "{url} is not a URL: give the address of the folder holding the files, "
                    "such as https://example.org/mnist/ (http://, https:// or file://)"
                ).format(url=repr(url))
            )
    return values


# -- list ----------------------------------------------------------------------------------------


@click.command("list", short_help="The shipped data sets, and the ones `data fetch` downloads.")
@cache_dir_option
@json_options
def data_list(cache_dir, json_mode, quiet):
    """List the shipped data sets, and the ones `nbengine data fetch` downloads."""
    from nbengine.data.fetch import fetchable_sets
    from nbengine.data.registry import shipped_sets

    out = Output(json_mode, quiet)
    t = table(_("shipped with nbengine"), _("name"), _("for"), _("what"), _("source"), _("licence"))
    row = out.gather(lambda cells: t.add_row(*cells))
    for d in shipped_sets():
        row(
            [d["name"], shown(d["task"]), shown(d["title"]), d["source"], d["licence"] or "-"],
            "dataset",
            **d,
        )
    out.show(t)

    t = table(
        _("downloaded by `nbengine data fetch NAME`"),
        _("name"),
        _("for"),
        _("what"),
        _("size"),
        _("source"),
        _("licence"),
        _("in the cache"),
    )
    row = out.gather(lambda cells: t.add_row(*cells))
    for d in fetchable_sets(cache_dir):
        where = (_("yes, {folder}") if d["present"] else _("no (would go to {folder})")).format(
            folder=d["folder"]
        )
        row(
            [
                d["name"],
                shown(d["task"]),
                shown(d["title"]),
                d["size"],
                d["source"],
                d["licence"],
                where,
            ],
            "fetchable",
            **d,
        )
    out.show(t)


def table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    return t


# -- fetch ---------------------------------------------------------------------------------------


@click.command(
    "fetch", short_help="Download MNIST, Fashion-MNIST or the Penn Treebank, checking each file."
)
@click.argument("name", type=click.Choice(FETCH_NAMES))
@cache_dir_option
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="URL",
    callback=_mirror_urls,
    help="A mirror to try before the published ones: the URL of the folder holding the data "
    "set's files. Repeatable.",
)
@click.option(
    "--timeout",
    type=Float(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds without data before a mirror is given up.",
)
@json_options
def data_fetch(name, cache_dir, mirrors, timeout, json_mode, quiet):
    """Download a data set's files into the cache folder: the four IDX files of mnist or
    fashion-mnist (checked by their published MD5), or ptb.train.txt, ptb.valid.txt and
    ptb.test.txt (checked by SHA-256).

    Each file comes from the first mirror that gives a complete copy with the
    published digest; it is written to a temporary file and renamed into place only
    then, so an interrupted download leaves nothing behind. Files already there
    with the right digest are skipped; a file with another digest is downloaded again.
    """
    from nbengine.data.fetch import dataset_folder, fetch_iter
    from nbengine.data.files import size_text
    from nbengine.data.registry import fetchable

    out = Output(json_mode, quiet)
    folder = dataset_folder(name, cache_dir)
    out.status(
        _("Fetching {name} (about {size}) into {folder}").format(
            name=name, size=fetchable(name).size, folder=folder
        )
    )
    bar, got = Bar(out, in_bytes=True), {}

    def progress(file: str, done: int, total: int | None) -> None:  # a bar per file
        bar.open(file, total)
        bar.advance(done - got.get(file, 0))
        got[file] = done

    try:
        for f in fetch_iter(name, cache_dir, mirrors, progress, timeout):
            bar.close()
            if f.skipped:
                how = _("already present (skipped)")
            elif f.replaced:
                how = _("from {mirror} (replaced a copy with another {hash})").format(
                    mirror=f.mirror, hash=f.hash_name
                )
            else:
                how = _("from {mirror}").format(mirror=f.mirror)
            verified = _("{hash} verified").format(hash=f.hash_name)
            out.fact(
                "file",
                escape(f"{f.name:<28}{size_text(f.size):>9}   {verified}   {how}"),
                dataset=name,
                name=f.name,
                path=f.path,
                size=f.size,
                **{f.algorithm: f.digest},
                verified=True,
                mirror=f.mirror,
                skipped=f.skipped,
                replaced=f.replaced,
            )
    finally:
        bar.close()
    out.status(_("{name} is ready: try `nbengine data show {name}`").format(name=name))
    out.fact("result", dataset=name, folder=str(folder))


# -- show ----------------------------------------------------------------------------------------

TEXT_TOKENS = 200  # words a text corpus shows from --index on


def show_text(out: Output, data: str, index: int, split: str, cache_dir) -> None:
    """`data show` of a text corpus: its description, then TEXT_TOKENS words of a split from --index."""
    import numpy as np

    from nbengine.data.text import load_corpus

    corpus = load_corpus(data, "word", cache_dir=cache_dir)
    out.status(shown(corpus.description))
    ids = (
        np.concatenate([corpus.train, corpus.valid, corpus.test])
        if split == "all"
        else getattr(corpus, split)
    )
    part = _("all splits") if split == "all" else _("{split} split").format(split=split)
    n = len(ids)
    check_index(index, n, f"{data} ({part})", _("words"))
    words = ids[index : index + TEXT_TOKENS]
    head = _("{data}, {part}: words {first} to {last} of {n} (<eos> shown as a line break)").format(
        data=data, part=part, first=f"{index:,}", last=f"{index + len(words) - 1:,}", n=f"{n:,}"
    )
    out.fact(
        "text",
        [escape(head), escape(corpus.join(words))],
        data=data,
        split=split,
        index=index,
        n=n,
        ids=words.tolist(),
        tokens=corpus.vocab.decode(words),
    )


@click.command(
    "show", short_help="Draw one image of a data set, or show a passage of a text corpus."
)
@click.argument("data", default="mnist_5k", metavar="[NAME|PATH]")
@click.option(
    "--index",
    "-i",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which image of the split, counting from 0 (for a text corpus, the first word shown).",
)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test", "all"]),
    default="train",
    show_default=True,
    help="The training or test part (as the CNN is trained and tested on), or every image in file order; "
    "text corpora also have a valid part.",
)
@functools.partial(split_options, when=N_("sets without an official split"))
@cache_dir_option
@json_options
def data_show(data, index, split, split_seed, test_fraction, cache_dir, json_mode, quiet):
    """Draw one image at full 28×28 resolution, with its label.

    NAME|PATH is mnist_5k (the default, shipped), mnist or fashion-mnist (once fetched),
    a CSV file (Kaggle's train.csv or test.csv, or 784 pixels then the label), an IDX
    images file, or a folder of the four MNIST files. In colour each character is two
    pixels (▀ with grey foreground and background); with NO_COLOR, or when the output
    is not a terminal, a character ramp is drawn instead.

    For a text corpus (toy, shakespeare, or ptb once fetched) it shows 200 words of
    a split from --index on, as the language models read them.
    """
    from nbengine.data.images import UnlabelledError, load_images, load_split
    from nbengine.errors import DataError
    from nbengine.i18n import Msg
    from nbengine_cli.render.heatmap import heatmap

    out = Output(json_mode, quiet)
    if data in TEXT_NAMES and not os.path.exists(data):
        show_text(out, data, index, split, cache_dir)
        return
    if split == "valid":
        raise click.BadParameter(
            _("image sets have a train and a test split (valid is for text corpora)"),
            param_hint="'--split'",
        )
    if split == "all":
        images = load_images(data, cache_dir)
        name, part = os.path.basename(os.path.normpath(data)), _("all images")
    else:
        try:
            parts = load_split(data, split_seed, test_fraction, cache_dir)
        except UnlabelledError as e:
            raise DataError(
                e.path, Msg("{problem}; `--split all` shows its images", problem=e.problem)
            ) from None
        images = parts.part(split)
        name, part = parts.name, _("{split} split").format(split=split)
        out.status(shown(parts.description))
    n = len(images)
    check_index(index, n, f"{name} ({part})", _("images"))
    pixels = images.pixels[index]
    label = None if images.labels is None else int(images.labels[index])
    class_name = None if label is None else images.class_names[label]

    if label is None:
        about = _("no label")
    elif class_name == str(label):
        about = _("label {label}").format(label=label)
    else:
        about = _("label {label} = {class_name}").format(label=label, class_name=class_name)
    # in colour, two pixels a character
    picture = heatmap(pixels, palette="grey", scale=(0, 255), legend=False)
    head = _("{name}, {part}: image {index} of {n}, {about}").format(
        name=name, part=part, index=index, n=f"{n:,}", about=about
    )
    out.fact(
        "image",
        [escape(head), picture],
        data=name,
        split=split,
        index=index,
        n=n,
        label=label,
        class_name=class_name,
        pixels=pixels.tolist(),
    )
