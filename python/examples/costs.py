"""What a learned optimizer costs next to Adam, and what it does with a zero gradient: the figures
python/README.md quotes ("Costs and zero gradients"). Run from the repository root:

    python python/examples/costs.py

Needs torch. Takes about half a minute on one core (three steps on a million coordinates).
"""
import resource
import time

import torch

import metaopt

torch.set_num_threads(1)

# State and time of one step on a parameter of a million coordinates.
p = torch.nn.Parameter(torch.zeros(1_000_000))
optimizer = metaopt.TorchLearnedOptimizer([p], "optimizers/mlp-p5.json")
times = []
for _ in range(3):
    p.grad = torch.randn(1_000_000)
    start = time.perf_counter()
    optimizer.step()
    times.append(time.perf_counter() - start)
state = sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v))
print(f"1,000,000 coordinates: state {state / 1e6:.0f} MB (Adam's: 8 MB), peak RSS "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB, one step {sorted(times)[1]:.2f} s "
      "(median of 3, one thread)")

# A zero gradient is an input like any other: the LSTM still proposes a step.
for name in ["mlp-p5", "mlp-p20", "quadratic"]:
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = metaopt.TorchLearnedOptimizer([p], f"optimizers/{name}.json")
    for _ in range(100):
        p.grad = torch.zeros(1)
        optimizer.step()
    print(f"{name}: θ moved {p.item():+.3f} in 100 steps with a zero gradient")
