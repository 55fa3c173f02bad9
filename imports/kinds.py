"""What can be imported: one entry per kind of file, for the commands and the admin page.

Each kind names its fields, the header aliases it recognises, the fields a
file must have, and the function that runs it::

    run(path, *, dry_run=False, location=None, mapping=None, actor=None,
        progress=None) -> reading.ImportSummary

``progress(n)`` is called as rows are done (``n`` rows at a time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Kind:
    name: str
    label: str | Promise
    module: str  # the importer's module: FIELDS, HEADER_ALIASES, REQUIRED, run

    def _module(self):
        return importlib.import_module(self.module)

    @property
    def fields(self) -> tuple[str, ...]:
        return self._module().FIELDS

    @property
    def aliases(self) -> dict[str, str]:
        return self._module().HEADER_ALIASES

    @property
    def required(self) -> tuple[str, ...]:
        return self._module().REQUIRED

    @property
    def run(self) -> Callable:
        return self._module().run


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in [
        Kind("members", _("Members"), "imports.members"),
        Kind("visits", _("Visits"), "imports.visits"),
    ]
}
