"""Build hook (the project is described in pyproject.toml): the wheel carries the migration
scripts, from the top-level ``alembic/`` folder, as ``sesame/_alembic`` — a wheel install (a
container image, a non-editable venv) can then run ``sesame db upgrade``. The source tree keeps
``alembic/`` at the top (an importable ``alembic`` package there would shadow the library)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads alembic/ from the source tree
        target = Path(self.build_lib) / "sesame" / "_alembic"
        shutil.copytree(
            Path(__file__).resolve().parent / "alembic",
            target,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )


setup(cmdclass={"build_py": BuildWithMigrations})
