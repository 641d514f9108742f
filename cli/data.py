"""`nbengine data ...`: the data sets that ship with the package."""

from __future__ import annotations

import click
from rich.table import Table

from nbengine_cli.output import Output, json_options


@click.command("list")
@json_options
def data_list(json_mode, quiet):
    """List the shipped data sets, with their sources and licences."""
    from nbengine.data.registry import SHIPPED, shipped_path

    out = Output(json_mode, quiet)
    t = Table()
    for col in ("name", "for", "what", "source", "licence"):
        t.add_column(col, overflow="fold")
    for s in SHIPPED.values():
        t.add_row(s.name, s.task, s.title, s.source, s.licence)
        out.emit("dataset", name=s.name, task=s.task, title=s.title, source=s.source, licence=s.licence,
                 path=shipped_path(s.name))
    out.show(t)
