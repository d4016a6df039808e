"""The architecture contracts in pyproject.toml ([tool.importlinter]): the engine is Qt-free
(it runs headless and in CI), its packages stand in layers, and no two sibling modules
import each other. ``make lint`` runs the same check; this keeps it in the test suite."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> int:
    from importlinter.cli import lint_imports

    return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_import_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert _lint(ROOT / "pyproject.toml") == 0


def test_the_layers_contract_catches_a_back_arrow(tmp_path):
    # A two-package engine whose lower package reaches up: the same kind of contract must
    # fail on it, so the pass above means something. (A subprocess: this 'engine' must not
    # meet the real one in sys.modules.)
    pkg = tmp_path / "engine"
    for name, body in {"__init__.py": "", "cli/__init__.py": "",
                       "errors.py": "import engine.cli\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    (tmp_path / "lint.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["engine"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "layers"\ntype = "layers"\n'
        'containers = ["engine"]\nlayers = ["cli", "errors"]\n')
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='lint.toml', no_cache=True, no_logo=True))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "engine.errors -> engine.cli" in done.stdout
