"""docs/examples/: each example runs as a user would run it, and does what it says."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def listing(root):
    """Every path below ``root``, relative, sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_train_in_memory_trains_and_writes_no_file(tmp_path):
    """The loss falls over the epochs, and nothing appears in the working folder, the home folder or
    the image cache (the loop needs no disk)."""
    cwd, home, cache = tmp_path / "cwd", tmp_path / "home", tmp_path / "cache"
    for folder in (cwd, home, cache):
        folder.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HOME": str(home),
        "MINIMTL_CACHE": str(cache),
        "MPLCONFIGDIR": str(home / ".matplotlib"),  # matplotlib would write here if it were imported
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    before = listing(tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "examples" / "train_in_memory.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    losses = [float(loss) for loss in re.findall(r"^epoch \d+: loss (\d+\.\d+)", result.stdout, re.MULTILINE)]
    assert len(losses) == 5, result.stdout
    assert losses[-1] < losses[0], result.stdout
    assert listing(tmp_path) == before == ["cache", "cwd", "home"]
