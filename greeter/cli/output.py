"""How commands print: tables and JSON on stdout, progress and problems on stderr."""

import json
import sys
from typing import Any, Iterable, Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from greeter.names import escaped


def stdout_console() -> Console:
    # Created per call so it writes to whatever sys.stdout is now (click's CliRunner swaps it).
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table on stdout. Cells are plain text, never rich markup ("Kim [she/her]" keeps its
    brackets), each on one line (`escaped`); a list or tuple is a cell of several lines."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    stdout_console().print(table)


def _cell(value: Any) -> Text:
    lines = value if isinstance(value, (list, tuple)) else ["" if value is None else value]
    return Text("\n".join(escaped(str(line)) for line in lines))


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def problem(text: str) -> None:
    """One line on stderr naming the file and the reason (compose it with `escaped` parts)."""
    click.echo(text, err=True)
