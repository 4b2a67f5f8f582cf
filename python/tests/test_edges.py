"""Behaviours at the edges that no other test pinned down (found by mutating the package: each
test fails on a plausible bug that the rest of the suite let through)."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metaopt
from conftest import DATA, file_with_p


def document(name="raw.optimizer.json"):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def written(tmp_path, value, name="f.json"):
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


# The file's limits, each at its edge, as the Swift reader draws them.

def test_the_smallest_p_itself_loads(tmp_path):
    assert metaopt.load(file_with_p(tmp_path, 1e-36)).p == 1e-36


def test_sixty_four_layers_load(tmp_path):
    value = document()
    value["optimizer"].pop("hiddenSize")
    value["optimizer"]["hiddenSizes"] = [1] * 64
    value["phi"] = [0.0] * ((1 + 1) * 4 + 4 + 63 * ((1 + 1) * 4 + 4) + 1 + 1)
    assert len(metaopt.load(written(tmp_path, value)).hidden_sizes) == 64


def test_zero_optimizers_are_refused(tmp_path):
    value = document()
    value["optimizer"]["optimizerCount"] = 0
    value["phi"] = []
    with pytest.raises(metaopt.OptimizerFileError, match="states 0 optimizers"):
        metaopt.load(written(tmp_path, value))


def test_a_file_of_exactly_the_size_limit_is_read(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(metaopt.file.MAX_FILE_BYTES)  # sparse: NUL bytes, not JSON
    with pytest.raises(metaopt.OptimizerFileError) as error:
        metaopt.load(path)
    assert "too large" not in str(error.value)


def test_a_phi_longer_than_its_architecture_is_refused(tmp_path):
    value = document()
    value["phi"].append(0.0)
    with pytest.raises(metaopt.OptimizerFileError, match="holds 5062 parameters, but its architecture needs 5061"):
        metaopt.load(written(tmp_path, value))


def test_nan_under_a_key_nothing_reads_is_refused(tmp_path):
    """json reads NaN and Infinity anywhere; JSON and the Swift reader have neither, so a file with
    one under a key nothing reads loaded here and was refused there."""
    for constant in ("NaN", "-Infinity"):
        path = tmp_path / "f.json"
        path.write_text((DATA / "raw.optimizer.json").read_text(encoding="utf-8").replace("{", '{"note": [' + constant + "],", 1),
                        encoding="utf-8")
        with pytest.raises(metaopt.OptimizerFileError, match="holds NaN or an infinity"):
            metaopt.load(path)


def test_nesting_past_the_swift_readers_limit_is_refused(tmp_path):
    text = (DATA / "raw.optimizer.json").read_text(encoding="utf-8")
    for depth, refused in ((20, False), (metaopt.file.MAX_NESTING, True)):
        path = tmp_path / "f.json"  # the note at `depth` inside the file's outermost object
        path.write_text(text.replace("{", '{"note": ' + "[" * depth + "]" * depth + ",", 1), encoding="utf-8")
        if refused:
            with pytest.raises(metaopt.OptimizerFileError, match="nests arrays and objects more than 512 deep"):
                metaopt.load(path)
        else:
            metaopt.load(path)


# The preprocessing's cut |g| >= e^-p is taken in float32, as the engine takes it, for float64
# gradients too: 4.5399930e-05 lies between e^-10 and float32(e^-10).

def test_numpy_cuts_a_float64_gradient_at_the_float32_threshold():
    spec = metaopt.load(DATA / "logsign-two.optimizer.json")  # p = 10
    assert metaopt.preprocess(np.array([4.5399930e-05]), spec)[0, 0] == -1.0


def test_torch_cuts_a_float64_gradient_at_the_float32_threshold():
    import torch
    from metaopt.torch_optimizer import TorchLearnedOptimizer
    weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = TorchLearnedOptimizer([weight], DATA / "logsign-two.optimizer.json")
    assert optimizer._preprocess(torch.tensor([4.5399930e-05], dtype=torch.float64))[0, 0].item() == -1.0


def test_torch_takes_the_log_branch_at_the_threshold_itself(tmp_path):
    """At p = 6 the two branches differ in the last bit at g = float32(e^-6): the log branch gives
    the sign 1 exactly, e^p·g 1.0000001."""
    import torch
    from metaopt.torch_optimizer import TorchLearnedOptimizer
    optimizer = TorchLearnedOptimizer([torch.nn.Parameter(torch.zeros(1))], file_with_p(tmp_path, 6))
    assert optimizer._preprocess(torch.tensor([float(np.float32(np.exp(-6.0)))]))[0, 1].item() == 1.0


def test_optax_float64_leaves_take_the_float32_threshold(tmp_path):
    """Under jax_enable_x64 (its own process: the setting is global), a float64 leaf at and just
    above the threshold against the float64 numpy reference, for p = 6 (at the cut) and p = 11
    (between the float64 and float32 cuts)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(DATA.parent)!r})
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import numpy as np
        import metaopt
        from metaopt.numpy_optimizer import lstm_update
        from metaopt.optax_optimizer import learned_optimizer
        from conftest import file_with_p
        import pathlib
        for p in (6.0, 11.0):
            path = file_with_p(pathlib.Path({str(tmp_path)!r}), p)
            spec = metaopt.load(path)
            g = np.array([float(np.float32(np.exp(-p))), np.exp(-p) * (1 + 1e-9)], np.float64)
            transform = learned_optimizer(path, optimizer=1)
            update, _ = transform.update(jnp.asarray(g), transform.init(jnp.asarray(g)))
            zeros = [np.zeros((2, h)) for h in spec.hidden_sizes]
            reference, _ = lstm_update(spec.optimizers[1], spec, g, (zeros, list(zeros)), np.float64)
            np.testing.assert_allclose(np.asarray(update), reference, rtol=1e-12, atol=1e-15)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


# What the optimizers promise about state.

def test_numpy_restarts_a_gradient_whose_size_changed():
    optimizer = metaopt.LearnedOptimizer(DATA / "raw.optimizer.json")
    optimizer.updates({"w": np.ones(3)})
    fresh = metaopt.LearnedOptimizer(DATA / "raw.optimizer.json").updates({"w": np.ones(5)})["w"]
    np.testing.assert_array_equal(optimizer.updates({"w": np.ones(5)})["w"], fresh)


def test_numpy_refuses_a_transposed_gradient_before_any_state_moves():
    optimizer = metaopt.LearnedOptimizer(DATA / "raw.optimizer.json")
    with pytest.raises(ValueError):
        optimizer.step({"w": np.zeros((3, 4))}, {"w": np.ones((4, 3))})
    assert optimizer.state == {}


def test_torch_leaves_a_parameter_without_gradient_alone():
    import torch
    from metaopt.torch_optimizer import TorchLearnedOptimizer
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    optimizer = TorchLearnedOptimizer([a, b], DATA / "raw.optimizer.json")
    a.grad = torch.full((3,), 0.1)
    optimizer.step()
    assert torch.equal(b, torch.ones(2)) and b not in optimizer.state and a in optimizer.state
