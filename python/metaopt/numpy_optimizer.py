"""The reference implementation in numpy: the maths of docs/optimizer-file.md, nothing else.

Per coordinate, with gradient g and the state (h_k, c_k) of every LSTM layer k (zero at the
start):

    x        = preprocess(g)                      # raw: [g]; log-sign: see `preprocess`
    z_k      = [in_k, h_k] @ lstm_k.weight + lstm_k.bias   # in_1 = x, in_k = h_{k-1}
    i, f, o  = sigmoid(z_k[:, :H]), sigmoid(z_k[:, H:2H]), sigmoid(z_k[:, 3H:])
    g        = tanh(z_k[:, 2H:3H])
    c_k      = f * c_k + i * g;   h_k = o * tanh(c_k)
    update   = output_scale * (h_K @ output.weight + output.bias);   theta += update

All coordinates of all tensors are one batch (rows), so each layer is one matrix product.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from .file import LSTMWeights, OptimizerSpec, load

State = Tuple[List[np.ndarray], List[np.ndarray]]


def _float_type(dtype) -> type:
    """``dtype`` (np.float32, np.dtype("float32"), "float32", …) as its numpy scalar type, which the
    arithmetic calls to convert constants: np.dtype objects and strings are not callable. TypeError
    for one that is not real floating point (integers ran the LSTM into NaN with a warning only)."""
    try:
        kind = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be a floating-point dtype (got {dtype!r})") from error
    if not np.issubdtype(kind, np.floating):
        raise TypeError(f"dtype must be a floating-point dtype (got {kind})")
    return kind.type


def preprocess(gradient: np.ndarray, spec: OptimizerSpec, dtype=np.float64) -> np.ndarray:
    """The LSTM's input rows for a flat gradient: shape (n, 1) for raw, (n, 2) for log-sign.

    log-sign (Appendix A of the paper, constant p): (log|g| / p, sign g) if |g| ≥ e^-p, else
    (-1, e^p · g). The cut compares |g| with e^-p rounded to float32, as the Swift engine does,
    so a gradient takes the same branch here and there. Computed in float32 at least, then
    rounded to ``dtype``: float16 holds neither the cut nor e^p (e^20 is infinite there, and
    e^p · 0 would be NaN), as the torch and optax optimizers do."""
    g = np.asarray(gradient)
    dtype = _float_type(dtype)
    if spec.preprocessing == "raw":
        return g.astype(dtype).reshape(-1, 1)
    threshold = np.float32(np.exp(-spec.p))
    # The gradient's own magnitude, not its rounding to dtype, picks the branch; an integer one
    # as a float, since np.abs of int8's −128 is −128.
    magnitude = np.abs(g.astype(np.float64) if np.issubdtype(g.dtype, np.integer) else g)
    big = magnitude >= threshold
    work = np.promote_types(dtype, np.float32).type
    gd = g.astype(work)
    # log of the clamped magnitude: the small branch never reads it, and log(0) would warn.
    logs = np.log(np.maximum(np.abs(gd), work(threshold))) / work(spec.p)
    first = np.where(big, logs, work(-1))
    second = np.where(big, np.sign(gd), work(np.exp(spec.p)) * gd)
    return np.stack([first, second], axis=1).astype(dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-|x|) in both tails, so no exp overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def lstm_update(weights: LSTMWeights, spec: OptimizerSpec, gradient: np.ndarray, state: State,
                dtype=np.float64) -> Tuple[np.ndarray, State]:
    """One step for a flat gradient (n coordinates): the update (n,) and the next state.
    ``state`` is ([h_1 … h_K], [c_1 … c_K]), each (n, H_k); it is not modified."""
    dtype = _float_type(dtype)
    wanted = [(np.size(gradient), layer.hidden) for layer in weights.layers]
    got = [np.shape(h) for h in state[0]], [np.shape(c) for c in state[1]]
    if got != (wanted, wanted):
        raise ValueError(f"the state holds h {got[0]} and c {got[1]}, the layers need {wanted} each")
    x = preprocess(gradient, spec, dtype)
    hs, cs = [], []
    for layer, h, c in zip(weights.layers, *state):
        H = layer.hidden
        z = np.concatenate([x, h], axis=1) @ layer.weight.astype(dtype) + layer.bias.astype(dtype)
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        x = h
    update = dtype(spec.output_scale) * (x @ weights.output_weight.astype(dtype) + dtype(weights.output_bias))
    return update, (hs, cs)


class LearnedOptimizer:
    """A trained metaopt-dist optimizer stepping named numpy arrays in place.

    ``source``: a path to an optimizer file or export, or an `OptimizerSpec`. ``optimizer``: the
    learned optimizer every parameter uses by default (index into the file's optimizers; the
    CNN's files hold two: 0 for convolution, 1 for fully connected parameters). ``dtype``: the
    precision of the arithmetic (float64 by default: this is the reference), a floating-point
    dtype in any form numpy reads (np.float32, np.dtype("float32"), "float32"; TypeError otherwise).

    State is kept per parameter name (h and c of every layer for each coordinate, zero at the
    start, as in the Swift engine)::

        opt = LearnedOptimizer("optimizer.json")
        for _ in range(100):
            grads = {"w": grad_w(params["w"])}
            opt.step(params, grads)          # params["w"] += update, in place
    """

    def __init__(self, source: Union[str, OptimizerSpec], optimizer: int = 0, dtype=np.float64):
        self.spec = source if isinstance(source, OptimizerSpec) else load(source)
        self.spec.checked_index(optimizer)
        self.default_optimizer = optimizer
        self.dtype = _float_type(dtype)
        self.state: Dict[str, State] = {}

    def initial_state(self, size: int) -> State:
        """Zero h and c for every layer, for ``size`` coordinates."""
        return ([np.zeros((size, h), self.dtype) for h in self.spec.hidden_sizes],
                [np.zeros((size, h), self.dtype) for h in self.spec.hidden_sizes])

    def updates(self, gradients: Mapping[str, np.ndarray],
                optimizers: Optional[Mapping[str, int]] = None) -> Dict[str, np.ndarray]:
        """The update of each named gradient (same shape), advancing that name's state. Gradients
        must be real (TypeError for complex ones). A name whose gradient changed size starts again
        from zero h and c."""
        for name, gradient in gradients.items():  # all checked before any state advances
            self.spec.checked_index((optimizers or {}).get(name, self.default_optimizer), f" (for {name!r})")
            dtype = np.asarray(gradient).dtype
            # numpy would drop a complex gradient's imaginary part with only a warning.
            if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
                raise TypeError(f"the gradient of {name!r} has dtype {dtype}: real gradients only")
        result = {}
        for name, gradient in gradients.items():
            g = np.asarray(gradient)
            index = (optimizers or {}).get(name, self.default_optimizer)
            state = self.state.get(name)
            if state is None or state[0][0].shape[0] != g.size:
                state = self.initial_state(g.size)
            update, self.state[name] = lstm_update(self.spec.optimizers[index], self.spec, g.reshape(-1), state,
                                                   self.dtype)
            result[name] = update.reshape(g.shape)
        return result

    def step(self, parameters: Mapping[str, np.ndarray], gradients: Mapping[str, np.ndarray],
             optimizers: Optional[Mapping[str, int]] = None) -> None:
        """parameters[name] += update for every name in ``gradients`` (in place, in the
        parameter's dtype; a scalar, a Python float included, is replaced in ``parameters``
        by the sum). ``optimizers`` maps names to optimizer indices where they differ from
        the default. Every parameter is checked before any is updated or any state advances: it
        must exist, be floating point, have its gradient's shape (numpy would broadcast a
        gradient of shape (4,) over a (3, 4) parameter, and round an integer's update away) and,
        if an array, be writeable (np.asarray of a jax array is not)."""
        for name, gradient in gradients.items():
            if name not in parameters:
                raise KeyError(f"no parameter {name!r} for its gradient")
            parameter = parameters[name]
            if not np.issubdtype(np.asarray(parameter).dtype, np.floating):
                raise TypeError(f"{name!r} has dtype {np.asarray(parameter).dtype}: floating-point parameters only")
            if np.shape(parameter) != np.shape(gradient):
                raise ValueError(f"the gradient of {name!r} has shape {np.shape(gradient)}, the parameter "
                                 f"{np.shape(parameter)}")
            if isinstance(parameter, np.ndarray) and not parameter.flags.writeable:
                raise ValueError(f"{name!r} is read-only: step updates the arrays in place")
        for name, update in self.updates(gradients, optimizers).items():
            # np.asarray: a Python float has no .dtype (it is float64 to numpy, as in the check).
            parameters[name] += update.astype(np.asarray(parameters[name]).dtype)

    def reset(self) -> None:
        """Forgets every state (the next step starts from zero h and c)."""
        self.state.clear()
