"""The batched arithmetic, below every trainer and strategy: PyTorch tensors with a leading run axis.

- :mod:`forgetlab.numerics.mlp`: the multilayer perceptron (scikit-learn's initialisation,
  forward and backward passes, losses), parameters of many runs as one (R, P) tensor;
- :mod:`forgetlab.numerics.sgd`: Adam and SGD with ``partial_fit``'s semantics, one state
  row per run, and the registry of optimisers;
- :mod:`forgetlab.numerics.lbfgs`: L-BFGS with SciPy's L-BFGS-B rules and its
  Moré-Thuente line search, batched over runs.

Nothing here imports a trainer, a strategy, an experiment or a file: the engines and the
strategies build on it, never the other way round.
"""
