"""The README's PyTorch snippet runs as written, with the quickly trained optimizer file it
names replaced by a test file (the command that trains it needs the metaopt-dist binary)."""
import pathlib
import re

import pytest

pytest.importorskip("torch")
from conftest import DATA  # noqa: E402

README = pathlib.Path(__file__).parent.parent / "README.md"


def test_pytorch_snippet_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    snippet = next(block for block in blocks if "TorchLearnedOptimizer" in block)
    assert "runs/rosenbrock-quick/optimizer.json" in snippet
    # The test φ is not trained, so only that the snippet runs and reports its losses is checked.
    snippet = snippet.replace('"runs/rosenbrock-quick/optimizer.json"',
                              repr(str(DATA / "logsign-two.optimizer.json")) + ", optimizer=1")
    exec(compile(snippet, str(README), "exec"), {})
    assert len(re.findall(r"step +\d+  loss ", capsys.readouterr().out)) == 6
