"""An optax `GradientTransformation` that runs a trained metaopt-dist optimizer (importing this
module imports jax and optax).

``init`` and ``update`` are pure functions of arrays, so they run under ``jax.jit``. The state
holds, for every leaf of the parameter tree, h and c of every LSTM layer per coordinate (zero at
the start), in the leaf's dtype for float32 and float64 leaves and in float32 for narrower ones
(float16, bfloat16), from ``init`` on; the LSTM runs in the state's dtype. The updates it returns,
in the gradients' dtype, are added to the parameters (``optax.apply_updates``), as the Swift
engine adds them: θ += update.
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .file import OptimizerSpec, load


class LearnedOptimizerState(NamedTuple):
    """Per leaf of the parameter tree (in ``jax.tree_util`` leaf order): a tuple of h per layer
    and a tuple of c per layer, each (leaf size, H_k), float32 for float16 and bfloat16 leaves."""

    hidden: Tuple[Tuple[jax.Array, ...], ...]
    cell: Tuple[Tuple[jax.Array, ...], ...]


def _compute_dtype(dtype) -> jnp.dtype:
    """The dtype of the LSTM's arithmetic and state for a leaf of ``dtype``: its own for float32
    and float64, float32 for narrower ones (float16, bfloat16), as the optimizer was trained."""
    dtype = jnp.dtype(dtype)
    return dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)


def learned_optimizer(source: Union[str, OptimizerSpec], optimizer: Any = 0) -> optax.GradientTransformation:
    """The learned optimizer in ``source`` (an optimizer file or export path, or an
    `OptimizerSpec`) as an optax transformation.

    ``optimizer``: which of the file's learned optimizers updates each leaf: one index for all,
    or a tree of indices with the parameters' structure (the CNN's files: 0 for convolution, 1
    for fully connected parameters; None where the parameters have None). The indices are
    checked here, the tree's structure against the parameters' in ``init`` and ``update``
    (ValueError). Under ``optax.masked``, which hands on a tree of another structure, give one
    index, or one transformation per index with ``optax.multi_transform``.

    Leaves must be real floating point (a Python float is one; TypeError otherwise). float32 and
    float64 leaves are updated in their own dtype; for float16 and bfloat16 leaves (any narrower
    than float32) the LSTM runs and keeps its state in float32, and only the update is rounded
    to the leaf's dtype (as mixed-precision training keeps optimizer maths in float32). The
    state's dtypes are fixed by ``init`` and kept by ``update``, so the state can be a
    ``lax.scan`` carry; a state of float16 or bfloat16 (made before this rule) is computed
    with, and returned, in float32. ``update`` checks that its leaves fit the state ``init``
    made (ValueError naming the leaf)."""
    spec = source if isinstance(source, OptimizerSpec) else load(source)
    weights = [([(jnp.asarray(l.weight), jnp.asarray(l.bias)) for l in w.layers],
                jnp.asarray(w.output_weight), float(w.output_bias)) for w in spec.optimizers]
    sizes = spec.hidden_sizes
    threshold = float(np.float32(np.exp(-spec.p))) if spec.preprocessing == "log-sign" else 0.0

    single = isinstance(optimizer, numbers.Integral) and not isinstance(optimizer, bool)
    # Checked once, where the transformation is made: int(0.7) would have chosen optimizer 0.
    chosen = [spec.checked_index(optimizer)] if single else [
        spec.checked_index(index) for index in jax.tree_util.tree_leaves(optimizer)]

    def indices(tree):
        if single:
            return chosen * len(jax.tree_util.tree_leaves(tree))
        # By structure, not by count: another dict of as many leaves would match by position.
        wanted, got = jax.tree_util.tree_structure(tree), jax.tree_util.tree_structure(optimizer)
        if wanted != got:
            raise ValueError(f"the optimizer tree must have the parameters' structure: {got} is not {wanted}")
        return chosen

    def preprocess(g):
        """The LSTM's input rows for a flat gradient in the compute dtype (float32 at least:
        float16 holds neither the cut e^-p, e^-20 rounds to 0 and log 0 is -inf, nor e^p · g)."""
        if spec.preprocessing == "raw":
            return g[:, None]
        a = jnp.abs(g)
        big = a >= threshold
        logs = jnp.log(jnp.maximum(a, threshold)) / spec.p
        first = jnp.where(big, logs, -1.0).astype(g.dtype)
        second = jnp.where(big, jnp.sign(g), g * float(np.exp(spec.p))).astype(g.dtype)
        return jnp.stack([first, second], axis=1)

    def step_leaf(index, gradient, hs, cs):
        layers, output_weight, output_bias = weights[index]
        # The state's dtype, which init chose (widened: a float16 state made before float32 was
        # the rule for narrow leaves is computed, and returned, in float32).
        dtype = _compute_dtype(hs[0].dtype)
        x = preprocess(gradient.reshape(-1).astype(dtype))
        new_h, new_c = [], []
        for (weight, bias), h, c, H in zip(layers, hs, cs, sizes):
            z = jnp.concatenate([x, h], axis=1) @ weight.astype(dtype) + bias.astype(dtype)
            i, f = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H:2 * H])
            g, o = jnp.tanh(z[:, 2 * H:3 * H]), jax.nn.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            x = o * jnp.tanh(c)
            new_h.append(x)
            new_c.append(c)
        update = spec.output_scale * (x @ output_weight.astype(dtype) + output_bias)
        return update.reshape(gradient.shape).astype(gradient.dtype), tuple(new_h), tuple(new_c)

    def arrays(tree):
        """The leaves as arrays (a Python float is a leaf too) with their paths, and the tree's
        structure; TypeError for a leaf that is not real floating point."""
        paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
        leaves = []
        for path, leaf in paths:
            leaf = jnp.asarray(leaf)
            # An integer leaf failed in jnp.finfo; a complex one ran through |g| and g/|g|.
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                raise TypeError(f"learned_optimizer updates floating-point leaves only: "
                                f"{jax.tree_util.keystr(path)} has dtype {leaf.dtype}")
            leaves.append((jax.tree_util.keystr(path), leaf))
        return leaves, treedef

    def init_fn(params):
        leaves = [leaf for _, leaf in arrays(params)[0]]
        indices(params)  # checks the indices once, outside any jit
        zeros = lambda leaf: tuple(jnp.zeros((leaf.size, h), _compute_dtype(leaf.dtype)) for h in sizes)
        return LearnedOptimizerState(hidden=tuple(zeros(l) for l in leaves), cell=tuple(zeros(l) for l in leaves))

    def update_fn(updates, state, params=None):
        del params
        named, treedef = arrays(updates)
        # Shapes are static under jit: these checks run once, when the step is traced.
        if len(named) != len(state.hidden) or len(named) != len(state.cell):
            raise ValueError(f"the updates have {len(named)} leaves, the state {len(state.hidden)} (h) and "
                             f"{len(state.cell)} (c): init was given other parameters")
        for (name, gradient), hs, cs in zip(named, state.hidden, state.cell):
            if hs and hs[0].shape[0] != gradient.size:
                raise ValueError(f"the leaf {name} has {gradient.size} coordinates, its state {hs[0].shape[0]}: "
                                 "init was given other parameters")
            # A state of another depth ran zip's shorter count of layers: wrong updates, no error.
            wanted = [(gradient.size, h) for h in sizes]
            got = [tuple(a.shape) for a in hs], [tuple(a.shape) for a in cs]
            if got != (wanted, wanted):
                raise ValueError(f"the state of leaf {name} holds h {got[0]} and c {got[1]}, this optimizer's layers "
                                 f"need {wanted} each: init was made by another optimizer file")
        leaves = [gradient for _, gradient in named]
        results, hidden, cell = [], [], []
        for index, gradient, hs, cs in zip(indices(updates), leaves, state.hidden, state.cell):
            update, h, c = step_leaf(index, gradient, hs, cs)
            results.append(update)
            hidden.append(h)
            cell.append(c)
        return jax.tree_util.tree_unflatten(treedef, results), LearnedOptimizerState(tuple(hidden), tuple(cell))

    return optax.GradientTransformation(init_fn, update_fn)
