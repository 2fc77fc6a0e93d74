import subprocess
import sys
from pathlib import Path


def test_the_code_has_no_unused_imports_undefined_names_or_unsorted_imports():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
