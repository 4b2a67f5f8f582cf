"""A `torch.optim.Optimizer` that runs a trained metaopt-dist optimizer (importing this module
imports torch; the rest of the package does not need it).

The maths is `numpy_optimizer.lstm_update`'s, on the parameter's device, in its dtype for
float32 and float64 parameters and in float32 for narrower ones (float16, bfloat16), as the
optimizer was trained: only the update is rounded to their dtype and added. The state of each
parameter (h and c of every LSTM layer per coordinate, zero at the start, in that compute dtype)
lives in ``optimizer.state[p]`` as tensors ``h1, c1, h2, c2, …``, so ``state_dict()`` and
``load_state_dict()`` save and restore it like any optimizer's.
"""
from __future__ import annotations

import math
import numbers
from typing import Dict, Iterable, Optional, Tuple, Union

import numpy as np
import torch

from .file import LSTMWeights, OptimizerSpec, load


class TorchLearnedOptimizer(torch.optim.Optimizer):
    """``TorchLearnedOptimizer(model.parameters(), "optimizer.json")``: θ += update each step.

    ``optimizer`` picks the learned optimizer of a file that holds several (the CNN's: 0 for
    convolution, 1 for fully connected parameters); a parameter group can override it with its
    own ``"optimizer"`` key (a whole number; checked when the group is added). Parameters must
    be float16, bfloat16, float32 or float64 (`DTYPES`); each steps on its own device. float32 and float64 parameters step in
    their own dtype, LSTM state included; float16 and bfloat16 ones (any narrower than float32)
    run the LSTM and keep its state in float32, and only the update is rounded to their dtype
    and added (as mixed-precision training keeps optimizer maths in float32: the LSTM in
    bfloat16 drifted by several of θ's roundings over 100 steps). The weights come from the file,
    not from the state dict; ``load_state_dict`` checks that the state fits the parameters and
    the file's hidden sizes. A parameter whose ``.grad`` is None is skipped, as by torch's
    optimizers.

    ``lr`` scales the learned update, θ += lr · update, per group like ``optimizer``. It is 1 by
    default, the step the optimizer was trained to take (and then the update is added as it is);
    it exists for torch's learning-rate schedulers (warm-up, decay), which set each group's
    ``"lr"``. A non-negative finite number, or a one-element real tensor holding one (torch's own
    optimizers take a tensor lr, which schedulers then update in place); checked when a group is
    added and at each step, which reads a tensor's value then."""

    def __init__(self, params: Iterable, source: Union[str, OptimizerSpec], optimizer: int = 0, lr: float = 1.0):
        self.spec = source if isinstance(source, OptimizerSpec) else load(source)
        self._weights: Dict[Tuple[int, torch.device, torch.dtype], list] = {}
        super().__init__(params, {"optimizer": optimizer, "lr": lr})  # checks each group (add_param_group)

    @staticmethod
    def checked_lr(lr) -> float:
        """``lr`` as a float if it is a non-negative finite real number (not a bool), or a
        one-element tensor of a real, non-bool dtype that holds one; ValueError otherwise. A
        negative lr would climb the loss, a NaN would wipe θ."""
        if isinstance(lr, torch.Tensor):
            if lr.numel() != 1 or lr.dtype == torch.bool or lr.is_complex():
                raise ValueError(f"lr must be a non-negative finite number or a one-element real tensor (got {lr!r})")
            value = lr.item()
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"lr must be a non-negative finite number (got {lr!r})")
            return float(value)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr must be a non-negative finite number (got {lr!r})")
        return float(lr)

    # The dtypes whose parameters step: torch has no in-place add for float8 ones.
    DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

    def add_param_group(self, param_group) -> None:
        """torch's ``add_param_group``, then checks that the group's ``optimizer`` index is one of
        the file's and that its parameters are real floating point of a dtype in `DTYPES`
        (float16, bfloat16, float32, float64); a group that fails raises ValueError or TypeError
        and is not added."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self.spec.checked_index(group["optimizer"])
            self.checked_lr(group["lr"])
            for p in group["params"]:
                # An integer parameter failed in a matrix product; a complex one was updated from
                # its gradient's real part.
                if not p.is_floating_point():
                    raise TypeError(f"TorchLearnedOptimizer updates floating-point parameters only (got {p.dtype})")
                # A float8 one failed in p.add_ at the first step, after other parameters had moved.
                if p.dtype not in self.DTYPES:
                    raise TypeError("TorchLearnedOptimizer updates float16, bfloat16, float32 and float64 parameters "
                                    f"only (got {p.dtype})")
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise

    @staticmethod
    def compute_dtype(p: torch.Tensor) -> torch.dtype:
        """The dtype of ``p``'s LSTM arithmetic and state: float32 and float64 their own, float32
        for narrower parameters (float16, bfloat16)."""
        return p.dtype if p.dtype in (torch.float32, torch.float64) else torch.float32

    def _tensors(self, index: int, like: torch.Tensor):
        """The learned optimizer's weights on ``like``'s device in its compute dtype (cached)."""
        dtype = self.compute_dtype(like)
        key = (index, like.device, dtype)
        if key not in self._weights:
            weights: LSTMWeights = self.spec.optimizers[index]
            convert = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=like.device)
            self._weights[key] = [[(convert(l.weight), convert(l.bias)) for l in weights.layers],
                                  convert(weights.output_weight), float(weights.output_bias)]
        return self._weights[key]

    def _state_problem(self, p: torch.Tensor, state) -> Optional[str]:
        """Why ``state`` is not h and c of this file's layers for ``p``'s coordinates (None if it is)."""
        expected = {f"{kind}{k}": (p.numel(), h) for k, h in enumerate(self.spec.hidden_sizes, start=1)
                    for kind in "hc"}
        if set(state) != set(expected):
            return f"holds {sorted(state)}, expected {sorted(expected)}"
        for name, shape in expected.items():
            value = state[name]
            if not torch.is_tensor(value) or tuple(value.shape) != shape:
                got = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
                return f"holds {name} of shape {got}, expected {shape}"
        return None

    def load_state_dict(self, state_dict) -> None:
        """torch's ``load_state_dict``, then a check that every group names one of the file's
        optimizers and every parameter's state is h and c of the file's layers for its
        coordinates. A state dict that does not fit (saved for parameters of other sizes, with
        a file of other hidden sizes, by another kind of optimizer) raises ValueError and leaves
        the optimizer as it was; otherwise the mismatch would surface at the next step.

        torch casts floating-point state to the parameter's dtype: the state of a float16 or
        bfloat16 parameter is taken again from ``state_dict`` in float32 (a state dict saved when
        the state was kept in the parameter's dtype loads too, its state converted; what a
        load_state_dict pre-hook changes in the state of such a parameter is not seen)."""
        previous = {"state": self.state, "param_groups": self.param_groups}
        super().load_state_dict(state_dict)
        try:
            # The parameters in the order torch matched them with the saved ids (each group's
            # params, group after group; super() checked that the counts agree).
            saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
            params = [p for group in self.param_groups for p in group["params"]]
            for saved_id, p in zip(saved_ids, params):
                dtype = self.compute_dtype(p)
                if dtype != p.dtype and p in self.state and saved_id in state_dict["state"]:
                    for name, value in state_dict["state"][saved_id].items():
                        if torch.is_tensor(value) and value.is_floating_point():
                            # copy=True: the optimizer's state must not share the caller's tensors.
                            self.state[p][name] = value.to(device=p.device, dtype=dtype, copy=True)
            number = 0
            for group_number, group in enumerate(self.param_groups):
                if "optimizer" not in group:
                    raise ValueError(f"parameter group {group_number} has no 'optimizer' index: the state dict "
                                     "comes from another kind of optimizer")
                self.spec.checked_index(group["optimizer"])
                for p in group["params"]:
                    problem = self._state_problem(p, self.state[p]) if p in self.state else None
                    if problem:
                        raise ValueError(f"the state dict does not fit: the state of parameter {number} ({p.numel()} "
                                         f"coordinates) {problem}; was it saved for other parameters or with an "
                                         f"optimizer file of other hidden sizes ({self.spec.hidden_sizes} here)?")
                    number += 1
        except ValueError:
            self.__setstate__(previous)
            raise

    def __getstate__(self):
        # torch's Optimizer pickles defaults, state and param_groups only: a deepcopy or an
        # unpickled optimizer needs the spec too (the weight cache is rebuilt on demand).
        return {**super().__getstate__(), "spec": self.spec}

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_weights", {})

    def _preprocess(self, g: torch.Tensor) -> torch.Tensor:
        """The LSTM's input rows for a flat gradient in the compute dtype (float32 at least:
        float16 holds neither the cut e^-p, e^-20 rounds to 0 and log 0 is -inf, nor e^p · g)."""
        if self.spec.preprocessing == "raw":
            return g.unsqueeze(1)
        p = self.spec.p
        threshold = float(np.float32(np.exp(-p)))  # the engine's float32 cut
        big = g.abs() >= threshold
        logs = torch.log(g.abs().clamp_min(threshold)) / p
        first = torch.where(big, logs, torch.full_like(g, -1.0))
        second = torch.where(big, torch.sign(g), g * float(np.exp(p)))
        return torch.stack([first, second], dim=1)

    def _check_step(self) -> None:
        """Raises for any group or parameter that cannot step, before `step` moves any: a group
        checked only when the step reached it left the groups before it stepped, and a retried
        step stepped them twice."""
        for group in self.param_groups:
            # Checked here too: add_param_group and load_state_dict bring groups of their own, and
            # a scheduler sets lr. A state dict saved before lr existed has none: 1.
            self.spec.checked_index(group["optimizer"])
            self.checked_lr(group.setdefault("lr", 1.0))
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("TorchLearnedOptimizer does not support sparse gradients")
                # A dtype changed since add_param_group (p.data = …): p.add_ would fail on float8.
                if p.dtype not in self.DTYPES:
                    raise TypeError("TorchLearnedOptimizer updates float16, bfloat16, float32 and float64 parameters "
                                    f"only (got {p.dtype})")
                state = self.state.get(p)
                problem = self._state_problem(p, state) if state else None
                if problem:  # else torch.cat fails on the shapes, naming no parameter
                    raise RuntimeError(f"the state of a parameter of {p.numel()} coordinates {problem}: did "
                                       "the parameter change size since its last step? (reset() forgets every state)")

    @torch.no_grad()
    def step(self, closure=None):
        """θ += lr · update for every parameter with a gradient (after ``closure``, if given, has
        computed them); every group and parameter is checked before any moves."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_step()
        sizes = self.spec.hidden_sizes
        for group in self.param_groups:
            lr = self.checked_lr(group["lr"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                layers, output_weight, output_bias = self._tensors(group["optimizer"], p)
                dtype = self.compute_dtype(p)
                state = self.state[p]
                if not state:
                    for k, h in enumerate(sizes, start=1):
                        state[f"h{k}"] = torch.zeros(p.numel(), h, dtype=dtype, device=p.device)
                        state[f"c{k}"] = torch.zeros(p.numel(), h, dtype=dtype, device=p.device)
                for name, value in state.items():
                    # The parameter changed dtype or device since its last step (model.float(),
                    # model.to(device)): its state follows, as load_state_dict converts it.
                    if value.dtype != dtype or value.device != p.device:
                        state[name] = value.to(device=p.device, dtype=dtype)
                x = self._preprocess(p.grad.reshape(-1).to(dtype))
                for k, (weight, bias) in enumerate(layers, start=1):
                    H = sizes[k - 1]
                    z = torch.cat([x, state[f"h{k}"]], dim=1) @ weight + bias
                    i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
                    g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
                    c = f * state[f"c{k}"] + i * g
                    x = o * torch.tanh(c)
                    state[f"c{k}"], state[f"h{k}"] = c, x
                update = self.spec.output_scale * (x @ output_weight + output_bias)
                if lr != 1.0:
                    update = update * lr
                # Rounded to the parameter's dtype (a no-op for float32 and float64), then added.
                p.add_(update.view_as(p).to(p.dtype))
        return loss

    def reset(self) -> None:
        """Forgets every parameter's state (the next step starts from zero h and c)."""
        self.state.clear()
