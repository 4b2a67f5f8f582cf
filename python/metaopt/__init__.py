"""metaopt: run metaopt-dist's trained LSTM optimizers from Python.

- `load` reads an optimizer file (`metaopt-dist train`) or an export (`metaopt-dist export`);
- `LearnedOptimizer`: the numpy reference, stepping named arrays;
- `TorchLearnedOptimizer` (module `metaopt.torch_optimizer`, needs torch): a torch.optim.Optimizer;
- `learned_optimizer` (module `metaopt.optax_optimizer`, needs jax and optax): an optax
  GradientTransformation.

The optional ones import their framework only when first used (``metaopt.TorchLearnedOptimizer``
or ``from metaopt import learned_optimizer``); ``from metaopt import *`` brings the numpy part
only, so that it works without torch, jax and optax.
"""
from .file import LSTMLayer, LSTMWeights, OptimizerFileError, OptimizerSpec, load
from .numpy_optimizer import LearnedOptimizer, lstm_update, preprocess

__all__ = ["load", "OptimizerSpec", "OptimizerFileError", "LSTMLayer", "LSTMWeights", "LearnedOptimizer",
           "lstm_update", "preprocess"]


def __getattr__(name):
    if name == "TorchLearnedOptimizer":
        from .torch_optimizer import TorchLearnedOptimizer
        return TorchLearnedOptimizer
    if name in ("learned_optimizer", "LearnedOptimizerState"):
        from . import optax_optimizer
        return getattr(optax_optimizer, name)
    raise AttributeError(f"module 'metaopt' has no attribute {name!r}")
