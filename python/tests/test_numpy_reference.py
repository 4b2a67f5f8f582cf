import json

import numpy as np
import pytest

import metaopt
from conftest import DATA, DOUBLE_TOLERANCE, FLOAT_TOLERANCE, relative_error


def run_numpy(golden, theta_dtype):
    optimizer = metaopt.LearnedOptimizer(golden.optimizer_path)
    pieces = golden.pieces()
    params = {name: golden.theta0[start:end].astype(theta_dtype) for name, start, end, _ in pieces}
    indices = {name: index for name, _, _, index in pieces}
    trajectory = []
    for gradient in golden.gradients:
        optimizer.step(params, {name: gradient[start:end] for name, start, end, _ in pieces}, indices)
        trajectory.append(golden.assemble(params))
    return np.asarray(trajectory), optimizer


def test_matches_the_float_engine_over_100_steps(golden):
    trajectory, _ = run_numpy(golden, np.float32)
    assert trajectory.shape == golden.theta.shape == (100, golden.theta0.size)
    assert relative_error(trajectory, golden.theta) <= FLOAT_TOLERANCE


def test_matches_the_double_engine_over_100_steps(golden):
    trajectory, _ = run_numpy(golden, np.float64)
    assert relative_error(trajectory, golden.theta_double) <= DOUBLE_TOLERANCE


def test_the_trajectory_moves(golden):
    # Not a fixed point: the recording would not test much if θ stayed at θ₀.
    assert relative_error(golden.theta[-1], golden.theta0.astype(np.float64)) > 1e-2


def test_one_state_per_parameter(golden):
    _, optimizer = run_numpy(golden, np.float32)
    assert sorted(optimizer.state) == sorted(name for name, *_ in golden.pieces())
    for name, start, end, _ in golden.pieces():
        hs, cs = optimizer.state[name]
        assert [h.shape for h in hs] == [(end - start, size) for size in optimizer.spec.hidden_sizes]
        assert [c.shape for c in cs] == [(end - start, size) for size in optimizer.spec.hidden_sizes]
    optimizer.reset()
    assert optimizer.state == {}


def test_export_reads_the_same_as_the_optimizer_file(golden):
    from_file = metaopt.load(golden.optimizer_path)
    from_export = metaopt.load(DATA / f"{golden.name}.export.json")
    assert from_file.hidden_sizes == from_export.hidden_sizes
    assert (from_file.preprocessing, from_file.p, from_file.output_scale) == (
        from_export.preprocessing, from_export.p, from_export.output_scale)
    for a, b in zip(from_file.optimizers, from_export.optimizers):
        for la, lb in zip(a.layers, b.layers):
            assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.bias, lb.bias)
        assert np.array_equal(a.output_weight, b.output_weight) and a.output_bias == b.output_bias


def test_preprocessing_branches():
    spec = metaopt.load(DATA / "logsign-two.optimizer.json")
    threshold = np.float32(np.exp(-10))
    g = np.array([2.0, -0.5, threshold, np.nextafter(threshold, np.float32(0)), 0.0, -1e-40], dtype=np.float32)
    x = metaopt.preprocess(g, spec)
    assert x[0].tolist() == pytest.approx([np.log(2.0) / 10, 1.0])
    assert x[1].tolist() == pytest.approx([np.log(0.5) / 10, -1.0])
    assert x[2, 1] == 1.0 and x[2, 0] == pytest.approx(-1.0, abs=1e-7)  # the cut itself takes the log branch
    assert x[3, 0] == -1.0 and x[3, 1] == pytest.approx(np.exp(10) * float(np.nextafter(threshold, np.float32(0))))
    assert x[4].tolist() == [-1.0, 0.0]
    assert x[5, 0] == -1.0 and x[5, 1] == pytest.approx(np.exp(10) * -1e-40)


def three_layer_file(tmp_path):
    """A file of another depth ([3, 4, 2], stated with hiddenSizes), φ drawn here."""
    sizes, inputs = [3, 4, 2], 2
    rng = np.random.default_rng(0)
    count = 0
    rows = inputs
    for h in sizes:
        count += (rows + h) * 4 * h + 4 * h
        rows = h
    count += sizes[-1] + 1
    document = {"format": "metaopt-dist.optimizer", "version": 1, "iteration": 0, "tensors": [],
                "optimizer": {"hiddenSizes": sizes, "preprocessing": {"logAndSign": {"p": 5}},
                              "outputScale": 0.1, "optimizerCount": 1},
                "phi": rng.uniform(-0.5, 0.5, count).astype(np.float32).tolist()}
    path = tmp_path / "three.json"
    path.write_text(json.dumps(document))
    return path


def test_any_depth_and_errors(tmp_path):
    spec = metaopt.load(three_layer_file(tmp_path))
    assert spec.hidden_sizes == [3, 4, 2]
    assert [l.weight.shape for l in spec.optimizers[0].layers] == [(5, 12), (7, 16), (6, 8)]
    params = {"w": np.ones((4, 5), np.float32)}
    metaopt.LearnedOptimizer(spec).step(params, {"w": np.full((4, 5), 0.3, np.float32)})
    assert not np.allclose(params["w"], 1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else", "version": 1}))
    with pytest.raises(metaopt.OptimizerFileError, match="not a metaopt-dist optimizer file"):
        metaopt.load(bad)
    document = json.loads(three_layer_file(tmp_path).read_text())
    document["phi"] = document["phi"][:-1]
    bad.write_text(json.dumps(document))
    with pytest.raises(metaopt.OptimizerFileError, match="needs"):
        metaopt.load(bad)


def test_files_the_binary_refuses_are_refused(tmp_path):
    """load() checks what the Swift reader checks and raises OptimizerFileError for every bad file,
    never a KeyError, TypeError or UnicodeDecodeError."""
    good = json.loads(three_layer_file(tmp_path).read_text())
    bad = tmp_path / "bad.json"

    def refused(edit, match):
        document = json.loads(json.dumps(good))
        edit(document)
        bad.write_text(json.dumps(document))
        with pytest.raises(metaopt.OptimizerFileError, match=match):
            metaopt.load(bad)

    refused(lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=0), "p must be positive and finite")
    refused(lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=-10), "p must be positive and finite")
    refused(lambda d: d["optimizer"].update(outputScale=0), "outputScale must be positive and finite")
    refused(lambda d: d["optimizer"].update(outputScale=-0.1), "outputScale must be positive and finite")
    # Past float32's range the engines would compute with infinity; Swift refuses it too.
    refused(lambda d: d["optimizer"].update(outputScale=1e39), "outputScale must be positive and finite as a 32-bit float")
    refused(lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=1e39), "p must be positive and finite as a 32-bit float")
    refused(lambda d: d["optimizer"].update(hiddenSizes=[3, 4.5, 2]), "4.5 is not a whole number")
    refused(lambda d: d["optimizer"].update(hiddenSizes=[3, True, 2]), "True is not a whole number")
    refused(lambda d: d.pop("phi"), "has no field phi$")
    refused(lambda d: d["optimizer"].pop("outputScale"), r"has no field optimizer\.outputScale$")
    refused(lambda d: d["phi"].__setitem__(3, "x"), "is malformed")
    bad.write_text(json.dumps(good).replace('"outputScale": 0.1', '"outputScale": NaN'))
    with pytest.raises(metaopt.OptimizerFileError, match="outputScale must be positive and finite"):
        metaopt.load(bad)
    bad.write_text(json.dumps(good).replace('"hiddenSizes": [3, 4, 2]', '"hiddenSizes": [3, Infinity, 2]'))
    with pytest.raises(metaopt.OptimizerFileError, match="inf is not a whole number"):
        metaopt.load(bad)
    bad.write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(metaopt.OptimizerFileError, match="is not valid JSON"):
        metaopt.load(bad)


def test_an_optimizer_index_is_checked_where_it_is_used():
    optimizer = metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json")
    params = {"w": np.ones(3, np.float32)}
    for index in (-1, 2):
        with pytest.raises(ValueError, match=f"optimizer {index} \\(for 'w'\\) does not exist"):
            optimizer.step(params, {"w": np.ones(3, np.float32)}, {"w": index})
    assert np.array_equal(params["w"], np.ones(3, np.float32))


def test_star_import_needs_no_framework():
    namespace = {}
    exec("from metaopt import *", namespace)
    assert "LearnedOptimizer" in namespace and "TorchLearnedOptimizer" not in namespace


@pytest.mark.parametrize("index", [0.5, True])
def test_an_optimizer_index_must_be_a_whole_number(index):
    """0.5 failed as a list index; True chose optimizer 1."""
    with pytest.raises(ValueError, match="must be a whole number"):
        metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json", optimizer=index)
    optimizer = metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json")
    with pytest.raises(ValueError, match="must be a whole number"):
        optimizer.updates({"w": np.ones(2)}, {"w": index})


def test_step_checks_every_parameter_before_it_updates_any():
    """A gradient of shape (4,) for a (3, 4) parameter was broadcast over its rows; an integer
    parameter took the update rounded to 0; a missing parameter raised KeyError after the state
    had advanced."""
    optimizer = metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json")
    params = {"w": np.zeros((3, 4), np.float32), "n": np.zeros(2, np.int64)}
    with pytest.raises(ValueError, match=r"the gradient of 'w' has shape \(4,\), the parameter \(3, 4\)"):
        optimizer.step(params, {"w": np.ones(4)})
    with pytest.raises(TypeError, match="'n' has dtype int64: floating-point parameters only"):
        optimizer.step(params, {"n": np.ones(2)})
    with pytest.raises(KeyError, match="no parameter 'v'"):
        optimizer.step(params, {"w": np.ones((3, 4)), "v": np.ones(1)})
    assert optimizer.state == {} and not params["w"].any()


def test_complex_gradients_are_refused():
    """Their imaginary part was dropped with only a ComplexWarning."""
    with pytest.raises(TypeError, match="'w' has dtype complex128: real gradients only"):
        metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json").updates({"w": np.ones(2) * (1 + 1j)})


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), "float32"])
def test_a_dtype_may_be_given_as_numpy_accepts_it(dtype):
    """np.dtype("float32") and "float32" failed at the first step with "object is not callable"
    (the arithmetic called dtype(p)); they now compute as np.float32 does."""
    path = DATA / "logsign-two.optimizer.json"
    gradients = np.asarray([0.5, -1e-7, 3e-3], np.float32)
    expected = metaopt.LearnedOptimizer(path, dtype=np.float32).updates({"w": gradients})["w"]
    got = metaopt.LearnedOptimizer(path, dtype=dtype).updates({"w": gradients})["w"]
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    spec = metaopt.load(path)
    assert np.array_equal(metaopt.preprocess(gradients, spec, dtype), metaopt.preprocess(gradients, spec, np.float32))


@pytest.mark.parametrize("dtype", [np.int64, "complex128", bool])
def test_a_dtype_that_is_not_real_floating_point_is_refused(dtype):
    """An integer dtype ran the LSTM in integers and returned NaN updates with only a RuntimeWarning."""
    with pytest.raises(TypeError, match="floating-point dtype"):
        metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json", dtype=dtype)


def test_a_python_float_parameter_steps_as_a_float64_scalar():
    """The check passed a Python float (np.asarray gives it a float64 dtype), then the addition
    read its .dtype: AttributeError, after the state had advanced."""
    path = DATA / "logsign-two.optimizer.json"
    plain, scalar = {"w": 1.0}, {"w": np.float64(1.0)}
    a, b = metaopt.LearnedOptimizer(path), metaopt.LearnedOptimizer(path)
    for _ in range(2):
        a.step(plain, {"w": 0.5})
        b.step(scalar, {"w": 0.5})
    assert plain["w"] == scalar["w"] != 1.0


def test_a_read_only_parameter_is_refused_before_any_moves():
    """np.asarray of a jax array is read-only: += raised "output array is read-only" after the
    state of every parameter had advanced and the parameters before it had moved."""
    optimizer = metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json")
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    params = {"w": np.zeros(3), "frozen": frozen}
    with pytest.raises(ValueError, match="'frozen' is read-only"):
        optimizer.step(params, {"w": np.ones(3), "frozen": np.ones(2)})
    assert optimizer.state == {} and not params["w"].any()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_an_integer_gradient_at_its_minimum_takes_the_log_branch(dtype):
    """np.abs of int8's -128 is -128: the most negative integer gradient took the small branch,
    (-1, e^p · g), and its update was wrong without a warning."""
    spec = metaopt.load(DATA / "logsign-two.optimizer.json")
    for value in (np.iinfo(dtype).min, -1, 1, 0):
        gradient = np.array([value], dtype)
        assert np.array_equal(metaopt.preprocess(gradient, spec), metaopt.preprocess(gradient.astype(np.float64), spec))
    reference = metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json")
    minimum = np.array([np.iinfo(dtype).min], dtype)
    assert np.array_equal(reference.updates({"w": minimum})["w"],
                          metaopt.LearnedOptimizer(DATA / "logsign-two.optimizer.json").updates({"w": minimum.astype(np.float64)})["w"])


@pytest.mark.parametrize("p", [12, 20])
def test_float16_arithmetic_holds_the_preprocessing(tmp_path, p):
    """e^20 is infinite in float16, and e^p · 0 was NaN: with dtype=np.float16 a zero gradient
    gave a NaN update under p = 20. The preprocessing runs in float32 at least, as in torch and
    optax, and only its result is rounded to float16."""
    from conftest import HALF_GRADIENTS, file_with_p
    path = file_with_p(tmp_path, p)
    spec = metaopt.load(path)
    gradients = np.asarray(HALF_GRADIENTS, np.float32)
    rows = metaopt.preprocess(gradients, spec, np.float16)
    assert rows.dtype == np.float16 and np.array_equal(rows, metaopt.preprocess(gradients, spec, np.float32).astype(np.float16))
    with np.errstate(over="raise", invalid="raise"):  # no overflow, no inf · 0 on the way
        got = metaopt.LearnedOptimizer(path, optimizer=1, dtype=np.float16).updates({"w": gradients})["w"]
    expected = metaopt.LearnedOptimizer(path, optimizer=1).updates({"w": gradients})["w"]
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - expected) / (1e-3 + np.abs(expected))) < 0.05, (got, expected)


def test_lstm_update_refuses_a_state_of_another_depth(tmp_path):
    """lstm_update zipped the layers with the state: a state of one layer for a file of two ran
    the first layer only, with no error."""
    from conftest import one_layer_file
    spec = metaopt.load(DATA / "raw.optimizer.json")
    gradient = np.full(3, 0.1)
    zeros = lambda sizes: ([np.zeros((3, h)) for h in sizes], [np.zeros((3, h)) for h in sizes])
    update, _ = metaopt.lstm_update(spec.optimizers[0], spec, gradient, zeros([20, 20]))
    assert np.all(np.isfinite(update))
    # A scalar or a 2-d gradient counts its coordinates as np.size does.
    one = ([np.zeros((1, 20))] * 2, [np.zeros((1, 20))] * 2)
    for scalar in [0.1, np.array(0.1)]:
        assert np.all(np.isfinite(metaopt.lstm_update(spec.optimizers[0], spec, scalar, one)[0]))
    two = ([np.zeros((2, 20))] * 2, [np.zeros((2, 20))] * 2)
    assert np.all(np.isfinite(metaopt.lstm_update(spec.optimizers[0], spec, np.array([[0.1, 0.2]]), two)[0]))
    for sizes in ([20], [20, 20, 20], [20, 8]):
        with pytest.raises(ValueError, match=r"the layers need \[\(3, 20\), \(3, 20\)\] each"):
            metaopt.lstm_update(spec.optimizers[0], spec, gradient, zeros(sizes))
    shallow = metaopt.load(one_layer_file(tmp_path))
    with pytest.raises(ValueError, match=r"holds h \[\(3, 20\), \(3, 20\)\]"):
        metaopt.lstm_update(shallow.optimizers[0], shallow, gradient, zeros([20, 20]))
