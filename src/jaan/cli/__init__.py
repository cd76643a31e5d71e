"""The code behind ``bin/``: one module per command, each with ``main(argv) -> exit code``.

This package imports nothing else at import time, so the thin ``bin/`` scripts can load it
with any ``python3`` and, when that interpreter lacks our dependencies, re-run themselves
under the checkout's virtual environment (what ``make serve`` / ``make test`` create).
"""

import importlib
import os
import sys
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[3]


def run(command: str) -> NoReturn:
    """Run ``jaan.cli.<command>.main()`` and exit with its status."""
    try:
        module = importlib.import_module(f"jaan.cli.{command}")
    except ModuleNotFoundError as missing:
        venv = ROOT / ".venv"
        python = venv / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == venv.resolve()
        if (missing.name or "").startswith("jaan") or not python.exists() or in_venv:
            raise
        os.execv(python, [str(python), sys.argv[0], *sys.argv[1:]])
    raise SystemExit(module.main())
