"""The README's code runs as written: its Python block, executed in a fresh directory beside
the examples, prints what it promises and writes the artifact."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from tests import paths

ROOT = paths.ROOT


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_python_block_runs_as_written(tmp_path):
    [block] = _python_blocks(ROOT / "README.md")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("{'variant': 'audio2', 'chip': 'SYNS61201', 'input_channels': 12,")
    assert "fidelity (200 steps x 4 samples of the given input; metrics defined in docs/fidelity.md):" in lines
    assert any(line.startswith("  output, chip vs snntorch as exported; chip output 1 step(s) late, aligned: "
                               "decisions ") for line in lines)
    try:
        import samna  # noqa: F401
    except ImportError:
        assert lines[-1].startswith("target 'xylo': the vendor SDK 'samna' is not importable")
    assert sorted(p.name for p in (tmp_path / "out" / "xylo").iterdir()) == ["report.json", "xylo.json",
                                                                           "xylo_spec.npz"]


def test_readme_shows_the_first_commands_real_output(tmp_path):
    """The output block after "The first command prints" is what the command prints (the
    run time aside), so the README cannot drift from the compiler."""
    text = (ROOT / "README.md").read_text()
    shown = re.search(r"The first command prints[^\n]*\n\n```\n(.*?)```", text, flags=re.S).group(1)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run([sys.executable, "-m", "nircc", "examples/braille_rnn.nir", "--target", "xylo", "-o",
                           "out/xylo"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = re.sub(r" in [0-9.]+ s\n$", " in 0.12 s\n", proc.stdout)
    assert got == shown
