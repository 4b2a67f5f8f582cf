#!/usr/bin/env bash
# Reproduces every experiment in docs/results.md: trains the learned optimizers and evaluates them
# against grid-tuned SGD, NAG, RMSprop and Adam. Results go to docs/results/NAME/ (report.json,
# statistics.csv, loss.svg, summary.md); trained optimizers and logs to runs/NAME/.
#
#   bash launch/experiments.sh [quadratic|mlp|generalisation|sub|cnn|all]   (default: all)
#
# NP ranks (default: the number of cores) train with launch/local.sh; evaluation runs in one
# process. Wall-clock on a 2-core machine: quadratic ~4 min, mlp ~10 min, the rest ~15 min.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=.build/release/metaopt-dist
export OPENBLAS_NUM_THREADS=1
what="${1:-all}"

train() { bash launch/local.sh train --no-resume --progress-every 100 "$@"; }
evaluate() { "$bin" evaluate "$@"; }

if [[ "$what" == quadratic || "$what" == all ]]; then
    train --task quadratic --iterations 4000 --learning-rate 3e-3 --run-dir runs/quadratic
    evaluate --optimizer runs/quadratic/optimizer.json --functions 100 --steps 100 \
        --baselines sgd,nag,rmsprop,adam --out docs/results/quadratic --title "Quadratics (n = 10): 100 held-out functions"
fi
if [[ "$what" == mlp || "$what" == all ]]; then
    train --task mlp --meta-batch 2 --iterations 2500 --run-dir runs/mlp
    evaluate --optimizer runs/mlp/optimizer.json --functions 100 --steps 100 \
        --out docs/results/mlp --title "MLP 784-20-10 sigmoid, Fashion-MNIST test split"
fi
if [[ "$what" == generalisation || "$what" == all ]]; then
    evaluate --optimizer runs/mlp/optimizer.json --functions 100 --steps 200 \
        --out docs/results/mlp-200-steps --title "MLP, 200 steps (trained for 100)"
    evaluate --optimizer runs/mlp/optimizer.json --task mlp --hidden-layers 40 --functions 100 --steps 100 \
        --out docs/results/mlp-40-units --title "MLP with 40 hidden units"
    evaluate --optimizer runs/mlp/optimizer.json --task mlp --hidden-layers 20,20 --functions 100 --steps 100 \
        --out docs/results/mlp-2-layers --title "MLP with 2 hidden layers"
    evaluate --optimizer runs/mlp/optimizer.json --task mlp --activation relu --functions 100 --steps 100 \
        --out docs/results/mlp-relu --title "MLP with ReLU activations"
fi
if [[ "$what" == sub || "$what" == all ]]; then
    train --task mlp --labels 0,1,2,3,4 --meta-batch 2 --iterations 1500 --run-dir runs/mlp-sub
    evaluate --optimizer runs/mlp-sub/optimizer.json --task mlp --labels 5,6,7,8,9 --functions 100 --steps 100 \
        --out docs/results/mlp-sub --title "LSTM-sub: trained on classes 0-4, tested on 5-9"
fi
if [[ "$what" == cnn || "$what" == all ]]; then
    train --task cnn --meta-batch 2 --iterations 400 --run-dir runs/cnn
    evaluate --optimizer runs/cnn/optimizer.json --functions 20 --tuning-functions 5 --steps 100 \
        --out docs/results/cnn --title "CNN (3 conv + fc 32), Fashion-MNIST test split"
fi
