"""Who does the arithmetic: engines train runs of a model under a schedule.

- :mod:`forgetlab.engines.sklearn`: any scikit-learn estimator with ``partial_fit``, one
  process per run; the reference for the tutorial's exact semantics.
- :mod:`forgetlab.engines.torch`: the tutorial's ``MLPRegressor`` batched over runs in
  PyTorch (:mod:`forgetlab.engines.mlp`, :mod:`forgetlab.engines.lbfgs`). Imported only
  when used, so that the command line starts fast.
"""

ENGINES = ("sklearn", "torch")

__all__ = ["ENGINES"]
