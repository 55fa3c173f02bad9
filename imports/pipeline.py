"""Chunks of a file through two stages: parsed here, written by a writer thread.

Parsing is Python's work and writing mostly the database's: on PostgreSQL the
two overlap, so a chunk is parsed while the one before it is being written
(the writer thread has a connection of its own, closed at the end). In a dry
run, inside a caller's transaction, or on SQLite, both stages run in turn on
this thread's connection — the dry run's rollback must cover every write.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import connection

SWITCH_INTERVAL = 0.0005  # seconds


def overlap_possible(*, dry_run: bool) -> bool:
    return (
        not dry_run
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def chunks_run(
    chunks: Iterable[Any],
    *,
    parse: Callable[[Any], tuple[Any, list]],
    write: Callable[[Any], list],
    done: Callable[[list, int], None],
    overlap: bool,
) -> None:
    """``parse(chunk) -> (work, results)``, ``write(work) -> results``;
    ``done(results, rows)`` is called on this thread, chunk by chunk, in order."""
    if not overlap:
        for chunk in chunks:
            work, results = parse(chunk)
            done(results + write(work), len(chunk))
        return
    # The writer runs in this thread's context (say, with webhooks muted).
    context = contextvars.copy_context()
    # The writer waits for the database a dozen times a chunk; each time it
    # wants the interpreter back from the parser, which by default keeps it for
    # 5 ms, while the database sits idle. Hand it over sooner.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        _overlapped(chunks, parse, write, done, context)
    finally:
        sys.setswitchinterval(interval)


def _overlapped(chunks, parse, write, done, context) -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="import-writer") as writer:
        pending: tuple[Future, list, int] | None = None
        try:
            for chunk in chunks:
                work, results = parse(chunk)
                if pending:
                    _finish(pending, done)
                pending = (writer.submit(context.run, write, work), results, len(chunk))
            if pending:
                _finish(pending, done)
                pending = None
        finally:
            if pending:
                pending[0].cancel()
            writer.submit(_connection_close).result()


def _finish(pending: tuple[Future, list, int], done) -> None:
    future, results, rows = pending
    done(results + future.result(), rows)


def _connection_close() -> None:
    connection.close()  # the writer thread's own connection
