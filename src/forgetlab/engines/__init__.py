"""Who does the arithmetic: engines train runs of a model under a schedule.

- :mod:`forgetlab.engines.sklearn`: any scikit-learn estimator with ``partial_fit``; the
  reference for the tutorial's exact semantics.
"""

ENGINES = ("sklearn",)

__all__ = ["ENGINES"]
