"""Build step of the wheel: the project's templates and translations travel
inside the ``config`` package, so an installed Regulars finds them without the
repository (``pyproject.toml`` names this class as setuptools' ``build_py``).

A checkout keeps them at the top (``templates/``, ``locale/``); the settings
look in ``config/`` first, where only an installed wheel has them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("templates", "locale")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for folder in SHIPPED:
            # A missing folder (an sdist without it) must fail the build, not
            # make a wheel whose admin has no templates.
            target = Path(self.build_lib) / "config" / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                ROOT / folder,
                target,
                ignore=shutil.ignore_patterns(".*", "*~", "__pycache__"),
            )
