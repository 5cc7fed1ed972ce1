"""Where data comes from: the Task and Stream types and the stream generators.

Regression: :func:`seasons` (the tutorial's prices), :func:`friedman_drift` (a drifting
concept over 10 inputs). Classification, from scikit-learn's bundled digits:
:func:`split_digits`, :func:`permuted_digits`, :func:`rotated_digits`; from MNIST-1D
(generated offline): :func:`split_mnist1d`, :func:`permuted_mnist1d`. Your own data:
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
from forgetlab.tasks.mnist1d import (
    MNIST1D_TEMPLATES,
    make_mnist1d,
    mnist1d_permutations,
    mnist1d_templates,
    permuted_mnist1d,
    split_mnist1d,
)
from forgetlab.tasks.seasons import SEASONS, day_grid, price, seasons

__all__ = [
    "DRIFTS",
    "FRIEDMAN_ROLES",
    "FRIEDMAN_WEIGHTS",
    "KINDS",
    "MNIST1D_TEMPLATES",
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
    "make_mnist1d",
    "mnist1d_permutations",
    "mnist1d_templates",
    "permuted_digits",
    "permuted_mnist1d",
    "price",
    "rotate_images",
    "rotated_digits",
    "seasons",
    "split_digits",
    "split_mnist1d",
]
