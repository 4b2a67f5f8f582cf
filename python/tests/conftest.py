"""Shared by the tests: the golden recordings that Tests/MetaOptTests/PythonGoldenTests.swift
writes (a learned optimizer, 100 recorded gradients and the θ trajectory of the Swift engine)."""
import json
import pathlib

import numpy as np
import pytest

DATA = pathlib.Path(__file__).parent / "data"
CASES = ["raw", "logsign-two"]

# |θ − θ_engine| ≤ FLOAT_TOLERANCE · (1 + |θ_engine|) over all 100 steps, for float32 arithmetic
# (torch, optax) and for the float64 reference rounded into float32 θ, against the Float engine:
# the engine's fast exp/log/sigmoid/tanh (a few ulp) and its GEMM summation order differ from
# these libraries' in the last bits, and the LSTM state carries the differences forward.
FLOAT_TOLERANCE = 5e-6
# The float64 reference against the Swift Double engine (exact elementary functions in both).
DOUBLE_TOLERANCE = 1e-12


class Golden:
    def __init__(self, name):
        with open(DATA / f"{name}.json", encoding="utf-8") as handle:
            document = json.load(handle)
        self.name = name
        self.optimizer_path = str(DATA / document["optimizerFile"])
        self.groups = [tuple(g) for g in document["groups"]]
        self.theta0 = np.asarray(document["theta0"], dtype=np.float32)
        self.gradients = np.asarray(document["gradients"], dtype=np.float32)
        self.theta = np.asarray(document["theta"], dtype=np.float32)
        self.theta_double = np.asarray(document["thetaDouble"], dtype=np.float64)
        self.kernels = document["kernels"]

    def pieces(self):
        """θ cut into named parameters: every group, the first group once more in two, so an
        optimizer serves several parameters: (name, start, end, optimizer index)."""
        result = []
        for number, (start, end, optimizer) in enumerate(self.groups):
            if number == 0:
                middle = (start + end) // 2
                result += [(f"g{number}a", start, middle, optimizer), (f"g{number}b", middle, end, optimizer)]
            else:
                result.append((f"g{number}", start, end, optimizer))
        return result

    def assemble(self, parts):
        """θ from named parts (a dict name → array)."""
        return np.concatenate([np.asarray(parts[name]).reshape(-1) for name, *_ in self.pieces()])


def relative_error(theta, recorded):
    return float(np.max(np.abs(np.asarray(theta, np.float64) - recorded) / (1 + np.abs(recorded))))


@pytest.fixture(params=CASES)
def golden(request):
    return Golden(request.param)


def file_with_p(tmp_path, p):
    """The log-sign test file with its preprocessing constant set to p (e^-20 is 0 in float16,
    e^12 · 1e-7 overflows it)."""
    document = json.loads((DATA / "logsign-two.optimizer.json").read_text(encoding="utf-8"))
    document["optimizer"]["preprocessing"]["logAndSign"]["p"] = p
    path = tmp_path / f"p{p}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def one_layer_file(tmp_path):
    """The raw test file cut to its first LSTM layer (the output head kept): an optimizer of
    another depth for the state checks."""
    document = json.loads((DATA / "raw.optimizer.json").read_text(encoding="utf-8"))
    document["optimizer"].pop("hiddenSize")
    document["optimizer"]["hiddenSizes"] = [20]
    document["phi"] = document["phi"][:(1 + 20) * 80 + 80 + 20 + 1]
    path = tmp_path / "one-layer.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# Gradients around the cut e^-p, as float16 holds them, and zero (always the small branch).
HALF_GRADIENTS = [0.0, 1e-7, -3e-5, 1e-3, -0.25]


def half_precision_run(steps=100, size=1000):
    """θ0 and ``steps`` gradients for ``size`` coordinates (float32; magnitudes 1e-4 … 1, so both
    log-sign branches) for the half-precision runs: 100 steps of the log-sign test file's
    optimizer 1 move θ by up to about 7."""
    rng = np.random.default_rng(1)
    theta0 = rng.standard_normal(size).astype(np.float32)
    gradients = (rng.standard_normal((steps, size)) * 10.0 ** rng.uniform(-4, 0, (steps, size))).astype(np.float32)
    return theta0, gradients


def half_precision_error(theta, expected, eps):
    """max |θ − θ_expected| / (eps · (1 + |θ_expected|)): the error in units of the dtype's
    rounding at θ's magnitude (one ulp of θ is between eps/2 and eps times |θ|)."""
    theta, expected = np.asarray(theta, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(theta - expected) / (eps * (1 + np.abs(expected)))))
