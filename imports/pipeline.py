"""Chunks of a file through two stages: read and parsed, then written.

Parsing is Python's work and writing mostly the database's, so the two
overlap where they can:

* **a reader process** (large files, where ``fork`` is available and this is
  not a daemonic process such as a Celery prefork child): a forked child reads
  and parses the chunks ahead into a bounded queue, this process writes them
  on its own connection — in a dry run too, and on SQLite. The child never
  touches the database (it inherits the parent's connection and leaves it
  alone, and ends with ``os._exit``); the queue holds two chunks, so memory
  stays bounded;
* **writer threads** (PostgreSQL, a real run, no caller's transaction):
  ``WRITERS`` threads, each with a connection of its own, write chunks side by side
  while the next ones are parsed — the database's own work (indexes, foreign
  keys) then runs on every core (three writers: 6 % faster than two, 17 % than
  one, on 2 cores). Two chunks never hold one booking, and what
  they may both touch is settled by the unique keys (the loser looks again)
  and by taking row locks in id order;
* else the chunks are written in turn on this thread's connection.
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from queue import Empty
from typing import Any

from django.db import connection, transaction

from imports.reading import ImportSummary, Outcome
from webhooks.services import events_muted

SWITCH_INTERVAL = 0.0005  # seconds
WRITERS = 3
# Files at least this large get a reader process (smaller ones are done before
# the process would have paid for itself).
READER_PROCESS_MIN_BYTES = 4 * 1024 * 1024
QUEUE_CHUNKS = 2


def reader_process_possible(size: int) -> bool:
    return (
        size >= READER_PROCESS_MIN_BYTES
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def overlap_possible(*, dry_run: bool) -> bool:
    return (
        not dry_run
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


class _DryRun(Exception):
    pass


def import_run(
    chunks: Iterable[Any],
    *,
    path,
    parse,
    write,
    summary: ImportSummary,
    column_names: dict[str, str],
    progress: Callable[[int], None] | None,
    dry_run: bool,
) -> None:
    """Run an importer's stages over ``chunks`` of the file at ``path``,
    counting each row's result into ``summary`` (the problems under the
    file's own column names).

    A real run commits chunk by chunk; a dry run nests the chunks'
    transactions (as savepoints) in one that is rolled back at the end, so it
    counts what the real run would. Imports send no webhooks: a million
    ``member.created`` help no one (the bulk writes emit nothing anyway; this
    covers the rows done one by one through the services).
    """

    def done(results: list, rows: int) -> None:
        for line, result in results:
            summary.counts[result.outcome] += 1
            if result.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                column = column_names.get(result.column, result.column)
                summary.problems.append((line, column, result.reason))
        if progress:
            progress(rows)

    try:
        with (
            events_muted(),
            transaction.atomic() if dry_run else contextlib.nullcontext(),
        ):
            chunks_run(
                chunks,
                parse=parse,
                write=write,
                done=done,
                overlap=overlap_possible(dry_run=dry_run),
                reader_process=reader_process_possible(os.stat(path).st_size),
            )
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    summary.problems.sort()


def chunks_run(
    chunks: Iterable[Any],
    *,
    parse: Callable[[Any], tuple[Any, list]],
    write: Callable[[Any], list],
    done: Callable[[list, int], None],
    overlap: bool,
    reader_process: bool = False,
) -> None:
    """``parse(chunk) -> (work, results)``, ``write(work) -> results``;
    ``done(results, rows)`` is called on this thread, chunk by chunk, in order."""
    writers = _Writers(write, done, WRITERS if overlap else 0)
    # The writers wait for the database a dozen times a chunk; each time one
    # wants the interpreter back from the parser, which by default keeps it
    # for 5 ms while the database sits idle. Hand it over sooner.
    interval = sys.getswitchinterval()
    if overlap:
        sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        if reader_process:
            _with_reader(chunks, parse, writers)
        else:
            for chunk in chunks:
                work, results = parse(chunk)
                writers.submit(work, results, len(chunk))
        writers.drain()
    finally:
        writers.close()
        sys.setswitchinterval(interval)


class _Writers:
    """Writes parsed chunks: on this thread (``count`` 0), or in ``count``
    threads with connections of their own, at most ``count`` chunks in flight;
    ``done`` always on this thread, in the chunks' order."""

    def __init__(self, write, done, count: int):
        self.write, self.done, self.count = write, done, count
        self.inflight: deque[tuple[Future, list, int]] = deque()
        self.pool = None
        if count:
            # The writers run in this thread's context (say, webhooks muted).
            self.context = contextvars.copy_context()
            self.pool = ThreadPoolExecutor(count, thread_name_prefix="import-writer")

    def submit(self, work, results: list, rows: int) -> None:
        if self.pool is None:
            self.done(results + self.write(work), rows)
            return
        while len(self.inflight) >= self.count:
            self._finish()
        future = self.pool.submit(self.context.copy().run, self.write, work)
        self.inflight.append((future, results, rows))

    def drain(self) -> None:
        while self.inflight:
            self._finish()

    def _finish(self) -> None:
        future, results, rows = self.inflight.popleft()
        self.done(results + future.result(), rows)

    def close(self) -> None:
        if self.pool is None:
            return
        for future, _results, _rows in self.inflight:
            future.cancel()
        wait([future for future, _r, _n in self.inflight])
        # One close on each thread: each waits at the barrier until all have
        # taken one, so no thread takes two.
        barrier = threading.Barrier(self.count)
        closes = [
            self.pool.submit(_connection_close, barrier) for _ in range(self.count)
        ]
        wait(closes)
        self.pool.shutdown()


def _connection_close(barrier: threading.Barrier) -> None:
    connection.close()  # the writer thread's own connection
    barrier.wait(timeout=30)


class _ReaderFailed(Exception):
    pass


def _with_reader(chunks, parse, writers: _Writers) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=QUEUE_CHUNKS)
    reader = context.Process(
        target=_read, args=(chunks, parse, queue), name="import-reader", daemon=True
    )
    reader.start()
    try:
        while True:
            try:
                item = queue.get(timeout=5)
            except Empty:
                if reader.is_alive():
                    continue
                raise _ReaderFailed("The reader process ended unexpectedly.") from None
            if item is None:
                break
            if isinstance(item, str):
                raise _ReaderFailed(item)
            work, results, rows = item
            writers.submit(work, results, rows)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        queue.close()


def _read(chunks, parse, queue) -> None:
    """The reader process: parse every chunk into the queue, then ``None``;
    a failure goes as its traceback (a string)."""
    try:
        for chunk in chunks:
            work, results = parse(chunk)
            queue.put((work, results, len(chunk)))
        queue.put(None)
    except BaseException:  # noqa: BLE001 — reported to the parent, which raises
        queue.put(traceback.format_exc())
    finally:
        queue.close()
        queue.join_thread()
        # Not a normal exit: the inherited database connection must not be
        # closed (that would end the parent's session), nor anything flushed.
        os._exit(0)
