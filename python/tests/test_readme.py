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


def test_optax_snippet_runs(capsys):
    pytest.importorskip("optax")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    snippet = next(block for block in blocks if "learned_optimizer" in block)
    assert "runs/rosenbrock-quick/optimizer.json" in snippet
    snippet = snippet.replace('learned_optimizer("runs/rosenbrock-quick/optimizer.json")',
                              f"learned_optimizer({str(DATA / 'logsign-two.optimizer.json')!r}, optimizer=1)")
    exec(compile(snippet, str(README), "exec"), {})
    losses = [float(v) for v in re.findall(r"step +\d+  loss (\S+)", capsys.readouterr().out)]
    assert len(losses) == 6 and all(v == v for v in losses)


FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
REPOSITORY = pathlib.Path(__file__).parent.parent.parent


def test_top_level_readme_trains_a_pytorch_model_with_the_shipped_optimizer(capsys, monkeypatch):
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    readme = REPOSITORY / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    snippet = next(block for block in blocks if "optimizers/mlp-p5.json" in block)
    monkeypatch.chdir(REPOSITORY)  # the snippet runs from the checkout, as the README says
    exec(compile(snippet, str(readme), "exec"), {})
    printed = capsys.readouterr().out
    match = re.search(r"learned (\d+\.\d+), Adam (\d+\.\d+)", printed)
    assert match, printed
    learned, adam = float(match.group(1)), float(match.group(2))
    # The shipped optimizer was meta-trained on this problem; it must beat tuned Adam clearly.
    assert learned < adam - 0.05, printed
