// Generated from recipes/*.json: do not edit. RunSettingsTests.testRecipeFilesEqualTheBuiltInCopies
// fails when this file and the recipes differ; run it with METAOPT_UPDATE_RECIPES=1 to rewrite this file.

/// The named recipes of `train --recipe NAME`: the files recipes/NAME.json of the repository,
/// built into the library as text so that an installed binary, with no repository next to it,
/// has them too.
package enum TrainingRecipes {
    /// Each recipe's name and its file's text, by name.
    package static let files: [(name: String, json: String)] = [
        ("cnn", #"""
            {
              "description": "CNN on Fashion-MNIST, paper-text settings, 400 meta-steps",
              "task": "cnn",
              "conv-channels": "8,8,8",
              "fc-layers": "32",
              "dataset": "fashion-mnist",
              "minibatch": 128,
              "hidden-size": 20,
              "preprocessing": "log-sign",
              "p": 10,
              "output-scale": 0.1,
              "meta-batch": 2,
              "block-size": 1,
              "unroll": 20,
              "horizon": 100,
              "iterations": 400,
              "learning-rate": 1e-3,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/cnn"
            }

            """#),
        ("mlp-p20", #"""
            {
              "description": "MLP with p = 20 and early stopping: also works on a 2-layer MLP",
              "task": "mlp",
              "hidden-layers": "20",
              "activation": "sigmoid",
              "dataset": "fashion-mnist",
              "minibatch": 128,
              "hidden-size": 20,
              "preprocessing": "log-sign",
              "p": 20,
              "output-scale": 0.01,
              "meta-batch": 2,
              "block-size": 1,
              "unroll": 20,
              "horizon": 100,
              "iterations": 6000,
              "validate-every": 1000,
              "validation-functions": 50,
              "learning-rate": 3e-3,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/mlp-p20"
            }

            """#),
        ("mlp-p5", #"""
            {
              "description": "MLP with p = 5, output scale 0.01: best on the training MLP; a run may stall (train warns)",
              "task": "mlp",
              "hidden-layers": "20",
              "activation": "sigmoid",
              "dataset": "fashion-mnist",
              "minibatch": 128,
              "hidden-size": 20,
              "preprocessing": "log-sign",
              "p": 5,
              "output-scale": 0.01,
              "meta-batch": 2,
              "block-size": 1,
              "unroll": 20,
              "horizon": 100,
              "iterations": 6000,
              "learning-rate": 3e-3,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/mlp-p5"
            }

            """#),
        ("mlp-p50", #"""
            {
              "description": "MLP with p = 50 and early stopping: also works on a 2-layer MLP",
              "task": "mlp",
              "hidden-layers": "20",
              "activation": "sigmoid",
              "dataset": "fashion-mnist",
              "minibatch": 128,
              "hidden-size": 20,
              "preprocessing": "log-sign",
              "p": 50,
              "output-scale": 0.01,
              "meta-batch": 2,
              "block-size": 1,
              "unroll": 20,
              "horizon": 100,
              "iterations": 6000,
              "validate-every": 1000,
              "validation-functions": 50,
              "learning-rate": 3e-3,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/mlp-p50"
            }

            """#),
        ("mlp-sub", #"""
            {
              "description": "MLP on classes 0-4 (LSTM-sub), p = 20 and early stopping; evaluate best-optimizer.json with --task mlp --labels 5,6,7,8,9",
              "task": "mlp",
              "hidden-layers": "20",
              "activation": "sigmoid",
              "dataset": "fashion-mnist",
              "labels": "0,1,2,3,4",
              "minibatch": 128,
              "hidden-size": 20,
              "preprocessing": "log-sign",
              "p": 20,
              "output-scale": 0.01,
              "meta-batch": 2,
              "block-size": 1,
              "unroll": 20,
              "horizon": 100,
              "iterations": 6000,
              "validate-every": 1000,
              "validation-functions": 50,
              "learning-rate": 3e-3,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/mlp-sub"
            }

            """#),
        ("quadratic", #"""
            {
              "description": "The default job: 10-dimensional quadratics, 4000 meta-steps",
              "task": "quadratic",
              "dimension": 10,
              "hidden-size": 20,
              "preprocessing": "raw",
              "output-scale": 1,
              "meta-batch": 128,
              "block-size": 16,
              "unroll": 20,
              "horizon": 100,
              "iterations": 4000,
              "learning-rate": 3e-3,
              "validate-every": 500,
              "mode": "first-order",
              "seed": 0,
              "run-dir": "runs/quadratic"
            }

            """#),
    ]
}
