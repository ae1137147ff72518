"""Importing the runtime must not pull in the compiler's dependencies."""

import os
import subprocess
import sys
from pathlib import Path


def test_runtime_import_does_not_load_compiler_dependencies():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    code = (
        "import sys, eqxdsl.runtime\n"
        "loaded = sorted(n for n in ('lark', 'jinja2', 'black') if n in sys.modules)\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "none"
