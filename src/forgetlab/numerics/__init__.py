"""The arithmetic, below every trainer and strategy: MLPs and their optimisers.

- :mod:`forgetlab.numerics.spec`: :class:`~forgetlab.numerics.spec.MLPSpec`, the
  architecture, read from a scikit-learn estimator (no PyTorch);
- :mod:`forgetlab.numerics.mlp`: the multilayer perceptron batched over runs
  (scikit-learn's initialisation, forward and backward passes, losses), parameters of many
  runs as one (R, P) tensor;
- :mod:`forgetlab.numerics.sgd`: Adam and SGD with ``partial_fit``'s semantics, one state
  row per run, and the registry of optimisers;
- :mod:`forgetlab.numerics.lbfgs`: L-BFGS with SciPy's L-BFGS-B rules, batched over runs;
  its bookkeeping in :mod:`~forgetlab.numerics.lbfgs_state`, the history and two-loop
  recursion in :mod:`~forgetlab.numerics.lbfgs_step`;
- :mod:`forgetlab.numerics.morethuente`: the Moré-Thuente line search, compiled, the one
  definition both L-BFGS implementations call;
- :mod:`forgetlab.numerics.vae`: a small VAE batched over runs, generative replay's generator;
- :mod:`forgetlab.numerics.compiled_mlp` and :mod:`~forgetlab.numerics.compiled_lbfgs`: one
  run's MLP and L-BFGS in compiled loops (numba, set up by :mod:`~forgetlab.numerics.jit`).

Nothing here imports a trainer, a strategy, an experiment or a file: the engines and the
strategies build on it, never the other way round.
"""
