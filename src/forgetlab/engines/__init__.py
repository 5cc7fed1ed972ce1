"""Who does the arithmetic: engines train runs of a model under a schedule.

- :mod:`forgetlab.engines.sklearn`: any scikit-learn estimator with ``partial_fit``, one
  process per run; the reference for the tutorial's exact semantics.
- :mod:`forgetlab.engines.torch`: ``MLPRegressor`` (lbfgs, adam or sgd) batched over runs
  in PyTorch (:mod:`forgetlab.numerics.mlp`, :mod:`forgetlab.numerics.lbfgs`,
  :mod:`forgetlab.numerics.sgd`). Imported only when used, so that the command line starts
  fast.
"""

ENGINES = ("sklearn", "torch")
#: Engine names an experiment accepts: ``"auto"`` picks torch when it can train the model.
ENGINE_CHOICES = ("auto", *ENGINES)

__all__ = ["ENGINES", "ENGINE_CHOICES"]
