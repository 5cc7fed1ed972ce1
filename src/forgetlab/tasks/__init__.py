"""Where data comes from: the Task and Stream types and the stream generators."""

from forgetlab.tasks.base import Curve, Stream, Task
from forgetlab.tasks.seasons import SEASONS, day_grid, price, seasons

__all__ = ["SEASONS", "Curve", "Stream", "Task", "day_grid", "price", "seasons"]
