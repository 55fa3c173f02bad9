"""What the export commands share: the file's kind, and writing it with a
progress bar (``_`` keeps this module from being a command itself)."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from members import exports


def export_file(
    command: BaseCommand,
    opts: dict,
    *,
    headers: list[str],
    rows,
    total: int,
    unit: str,
    desc: str,
    title: str,
) -> int:
    """Write ``rows`` to ``opts["file"]`` (CSV or XLSX by its extension) with
    a progress bar; the number of rows written."""
    with tqdm(
        total=total,
        unit=unit,
        desc=desc,
        disable=opts["no_progress"],
        file=command.stderr._out,
        mininterval=0.5,
    ) as bar:
        exports.file_write(
            opts["file"], headers, rows, title=title, progress=bar.update
        )
    return bar.n


def file_kind_check(path: str) -> None:
    if not path.lower().endswith((".csv", ".xlsx")):
        raise CommandError("FILE must end in .csv or .xlsx")
