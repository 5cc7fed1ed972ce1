"""Where data comes from: the Task and Stream types and the stream generators.

Regression: :func:`seasons` (the tutorial's prices), :func:`friedman_drift` (a drifting
concept over 10 inputs). Classification, from scikit-learn's bundled digits:
:func:`split_digits`, :func:`permuted_digits`, :func:`rotated_digits`. Your own data:
:func:`from_arrays`.
"""

from forgetlab.tasks.arrays import from_arrays
from forgetlab.tasks.base import KINDS, SCENARIOS, Curve, Stream, Task
from forgetlab.tasks.digits import (
    digit_permutations,
    load_digit_images,
    permuted_digits,
    rotate_images,
    rotated_digits,
    split_digits,
)
from forgetlab.tasks.friedman import (
    DRIFTS,
    FRIEDMAN_ROLES,
    FRIEDMAN_WEIGHTS,
    friedman_concept,
    friedman_concepts,
    friedman_drift,
)
from forgetlab.tasks.seasons import SEASONS, day_grid, price, seasons

__all__ = [
    "DRIFTS",
    "FRIEDMAN_ROLES",
    "FRIEDMAN_WEIGHTS",
    "KINDS",
    "SCENARIOS",
    "SEASONS",
    "Curve",
    "Stream",
    "Task",
    "day_grid",
    "digit_permutations",
    "friedman_concept",
    "friedman_concepts",
    "friedman_drift",
    "from_arrays",
    "load_digit_images",
    "permuted_digits",
    "price",
    "rotate_images",
    "rotated_digits",
    "seasons",
    "split_digits",
]
