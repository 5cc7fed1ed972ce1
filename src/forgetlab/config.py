"""Config files: a whole sweep in TOML, validated on entry.

A config names the stream, the model and its optimiser, the schedules, the strategies,
the seeds and the engine, and may add a grid over any setting::

    seeds = "0-15"                  # 42, [1, 2, 3] or "0-15"

    [stream]
    kind = "seasons"                # seasons, split_digits, permuted_digits, rotated_digits, split_mnist1d, ...
    names = ["summer", "autumn"]    # the stream function's own arguments

    [model]
    class = "MLPRegressor"          # MLPRegressor, MLPClassifier, SGDRegressor, SGDClassifier
    hidden_layer_sizes = [100, 100] # the estimator's own parameters

    [optimizer]                     # MLPs only: name is the solver, then its settings
    name = "lbfgs"
    max_iter = 10000

    [[schedules]]
    name = "interspersed"
    k = 30
    n_epochs = 50

    [grid]                          # every combination is run
    "schedules.interspersed.k" = [10, 30, 60]
    "model.alpha" = [0.0001, 0.01]

Grid keys are dotted paths. ``schedules.NAME.SETTING`` and ``strategies.NAME.SETTING``
(``NAME`` the item's name, or its position ``0, 1, ...`` when two items share a name)
turn that item into one item per value, told apart in the results by its label
(``interspersed(k=10)``). Keys into ``stream``, ``model``, ``optimizer`` or the top-level
``engine``, ``dtype``, ``threads`` make variants: whole experiments, one per
combination, named in the results' ``variant`` column (``model.alpha=0.01``).

Every error is one line that names the file, the key and what is allowed, and nothing
is trained or written before the whole config (every grid point) has been checked.

Each input is validated once: this module checks the config's structure (known keys,
with the nearest one suggested; tables where tables belong; the three forms of
``seeds``; the grid) and builds the objects; their constructors check the values (the
stream functions, :class:`~forgetlab.experiment.Experiment` for the estimator, the
seeds, the engine settings and every schedule and strategy against the stream). Their
errors are prefixed here with the file and the key they came from.

Examples
--------
>>> sweep = parse_config('''
... seeds = [0, 1]
... [stream]
... kind = "seasons"
... [model]
... class = "MLPRegressor"
... hidden_layer_sizes = [8]
... [optimizer]
... name = "lbfgs"
... max_iter = 50
... [[schedules]]
... name = "interspersed"
... n_epochs = 2
... [grid]
... "schedules.interspersed.k" = [5, 10]
... ''')
>>> sweep.variants[0].experiment.schedule_labels, sweep.n_runs
(['interspersed(k=5)', 'interspersed(k=10)'], 4)
>>> parse_config("seed = 1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
forgetlab.errors.InvalidParameterError: config: unknown key 'seed' (did you mean 'seeds'?); allowed: description, ...
"""

from __future__ import annotations

import copy
import difflib
import inspect
import itertools
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from forgetlab.errors import ForgetlabError, InvalidParameterError
from forgetlab.experiment import Experiment, parse_seeds
from forgetlab.models import ESTIMATOR_MODULES, Model, parameter_names
from forgetlab.schedules import SCHEDULES, make_schedule
from forgetlab.sweep import Sweep, Variant
from forgetlab.tasks import (
    Stream,
    friedman_drift,
    permuted_digits,
    permuted_mnist1d,
    rotated_digits,
    seasons,
    split_digits,
    split_mnist1d,
)
from forgetlab.validation import is_int

__all__ = ["MAX_RUNS", "MODELS", "OPTIMIZER_SETTINGS", "STREAMS", "build_sweep", "load_config", "parse_config"]

#: Stream functions by their ``kind`` in a config.
STREAMS: dict[str, Callable[..., Stream]] = {
    "seasons": seasons,
    "split_digits": split_digits,
    "permuted_digits": permuted_digits,
    "rotated_digits": rotated_digits,
    "split_mnist1d": split_mnist1d,
    "permuted_mnist1d": permuted_mnist1d,
    "friedman_drift": friedman_drift,
}

#: The estimator classes a config's ``[model]`` may name (:mod:`forgetlab.models` describes them).
MODELS: tuple[str, ...] = tuple(ESTIMATOR_MODULES)

#: The settings of an MLP's optimiser that ``[optimizer]`` takes (besides ``name``, the solver).
OPTIMIZER_SETTINGS = (
    "learning_rate_init",
    "learning_rate",
    "batch_size",
    "momentum",
    "nesterovs_momentum",
    "beta_1",
    "beta_2",
    "epsilon",
    "power_t",
    "max_iter",
    "max_fun",
    "tol",
    "n_iter_no_change",
    "shuffle",
)

#: The most runs a config may describe (a larger grid is a mistake, not a plan).
MAX_RUNS = 1_000_000

#: The top-level keys, with the TOML type of those whose type is the config's business
#: (None: the constructor checks the value).
TOP_LEVEL = {
    "description": str,
    "seeds": None,
    "engine": None,
    "dtype": None,
    "threads": None,
    "stream": dict,
    "model": dict,
    "optimizer": dict,
    "schedules": list,
    "strategies": list,
    "evaluation": dict,
    "grid": dict,
}
REQUIRED = ("seeds", "stream", "model", "schedules")
VARIANT_SECTIONS = ("stream", "model", "optimizer")
VARIANT_TOP_LEVEL = ("engine", "dtype", "threads")
TYPE_NAMES = {str: "a string", dict: "a table", list: "an array of tables"}

#: The config keys an :class:`Experiment` parameter comes from, to name them in its
#: errors (the first is shown; a grid point over any of them is named instead).
EXPERIMENT_KEYS = {
    "seeds": ("seeds",),
    "engine": ("engine",),
    "dtype": ("dtype",),
    "threads": ("threads",),
    "record_every": ("evaluation.every",),
    "estimator": ("model", "optimizer"),
    "schedules": ("schedules",),
    "strategies": ("strategies",),
}


def load_config(path: str | os.PathLike) -> Sweep:
    """Read and validate a TOML config file (see the module docstring for its keys).

    Raises
    ------
    InvalidParameterError
        For malformed TOML, unknown or missing keys, wrong types, values out of range or
        grids that cannot run, in one line naming the file and the key.
    ForgetlabError
        If the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ForgetlabError(f"Cannot read the config {str(path)!r}: {reason}.") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "config") -> Sweep:
    """Validate a config given as TOML text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidParameterError(f"{source}: not valid TOML: {error}.") from None
    return build_sweep(data, source=source)


def _fail(source: str, where: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(f"{source}: {where + ': ' if where else ''}{message}")


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: Mapping, allowed: Iterable[str], source: str, where: str) -> None:
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            raise _fail(source, where, f"unknown key {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}")


def _plain_settings(table: Mapping) -> dict:
    """TOML arrays as tuples (settings such as ``epochs_per_task`` are tuples)."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}


def build_sweep(data: Mapping, *, source: str = "config") -> Sweep:
    """Validate a config given as a mapping (e.g. parsed TOML) and build its sweep.

    Raises
    ------
    InvalidParameterError
        As :func:`load_config`.
    """
    if not isinstance(data, Mapping):
        raise _fail(source, "", f"a config must be a table of keys; got {type(data).__name__}")
    _check_keys(data, TOP_LEVEL, source, "")
    for key in REQUIRED:
        if key not in data:
            raise _fail(source, "", f"missing key {key!r} (required: {', '.join(REQUIRED)})")
    for key, kind in TOP_LEVEL.items():
        if kind is not None and key in data and not isinstance(data[key], kind):
            raise _fail(source, key, f"must be {TYPE_NAMES[kind]}; got {data[key]!r}")
    seeds = _seeds(data["seeds"], source)
    grid = _grid(data.get("grid", {}), data, source)
    n_runs = (
        len(seeds)
        * _count_variants(grid)
        * _count_items(data, grid, "schedules")
        * max(1, _count_items(data, grid, "strategies"))
    )
    if n_runs > MAX_RUNS:
        raise _fail(source, "grid", f"describes {n_runs:,} runs; at most {MAX_RUNS:,} are allowed")
    variants = []
    streams: dict[str, Stream] = {}
    variant_keys = [key for key in grid if key.split(".")[0] not in ("schedules", "strategies")]
    for values in itertools.product(*(grid[key] for key in variant_keys)):
        settings = dict(zip(variant_keys, values, strict=True))
        name = ", ".join(f"{key}={value}" for key, value in settings.items())
        where = f"grid point {name}" if name else ""
        point = copy.deepcopy(dict(data))
        for key, value in settings.items():
            section, _, field = key.partition(".")
            if field:
                point.setdefault(section, {})[field] = value
            else:
                point[section] = value
        stream_key = repr(sorted(point["stream"].items())) if isinstance(point["stream"], Mapping) else ""
        if stream_key not in streams:
            streams[stream_key] = _stream(point["stream"], source)
        experiment = _experiment(point, grid, seeds, streams[stream_key], source, settings, where)
        variants.append(Variant(name=name, settings=settings, experiment=experiment))
    return Sweep(variants=variants, config=dict(data))


def _seeds(value: object, source: str) -> Sequence[int]:
    """The seeds from any of their three TOML forms; :class:`Experiment` checks their values."""
    if isinstance(value, str):
        try:
            return parse_seeds(value)
        except InvalidParameterError as error:
            raise _fail(source, "seeds", str(error)) from None
    if is_int(value):
        return [value]
    if isinstance(value, list):
        return value
    raise _fail(source, "seeds", f'must be an int, an array of ints or a range like "0-15"; got {value!r}')


def _grid(grid: Mapping, data: Mapping, source: str) -> dict[str, list]:
    """The grid's keys checked against the config, each with its non-empty list of distinct values."""
    checked = {}
    for key, values in grid.items():
        where = f"grid.{key!r}" if "." in key else f"grid.{key}"
        parts = key.split(".")
        section = parts[0]
        if section in ("schedules", "strategies"):
            if len(parts) != 3:
                raise _fail(source, where, f"a {section} key is {section}.NAME.SETTING, e.g. schedules.interspersed.k")
            _item_field(data, section, parts[1], parts[2], source, where)
        elif section in VARIANT_SECTIONS:
            if len(parts) != 2:
                raise _fail(source, where, f"a {section} key is {section}.SETTING, e.g. model.alpha")
        elif section in VARIANT_TOP_LEVEL:
            if len(parts) != 1:
                raise _fail(source, where, f"{section} takes no sub-key")
        else:
            allowed = ("schedules", "strategies", *VARIANT_SECTIONS, *VARIANT_TOP_LEVEL)
            raise _fail(
                source, where, f"must start with one of {', '.join(allowed)}{_suggest(section, allowed)}; got {key!r}"
            )
        if not isinstance(values, list) or not values:
            raise _fail(source, where, f"must be a non-empty array of values; got {values!r}")
        if any(isinstance(v, dict) for v in values) or len({repr(v) for v in values}) != len(values):
            raise _fail(source, where, f"must be an array of distinct values; got {values!r}")
        checked[key] = values
    return checked


def _items(data: Mapping, section: str) -> list:
    items = data.get(section, [])
    return items if isinstance(items, list) else []


def _item_index(data: Mapping, section: str, name: str, source: str, where: str) -> int:
    """The position of the item a grid key names (by name, or by position when names repeat)."""
    items = _items(data, section)
    names = [item.get("name") if isinstance(item, Mapping) else None for item in items]
    if name.isdigit() and int(name) < len(items):
        return int(name)
    matches = [i for i, item_name in enumerate(names) if item_name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise _fail(source, where, f"{len(matches)} {section} are named {name!r}; name one by position (0, 1, ...)")
    known = [str(n) for n in names if n is not None]
    raise _fail(
        source, where, f"names no item of [[{section}]]{_suggest(name, known)}; the config has: {', '.join(known)}"
    )


def _item_field(data: Mapping, section: str, name: str, field: str, source: str, where: str) -> None:
    index = _item_index(data, section, name, source, where)
    item = data[section][index]
    registry = _registry(section)
    kind = item.get("name") if isinstance(item, Mapping) else None
    if kind in registry:
        known = [f.name for f in fields(registry[kind])]
        if field not in known:
            raise _fail(
                source, where, f"{kind} has no setting {field!r}{_suggest(field, known)}; it has: {', '.join(known)}"
            )


def _registry(section: str) -> Mapping[str, type]:
    if section == "schedules":
        return SCHEDULES
    from forgetlab.strategies import STRATEGIES

    return STRATEGIES


def _make_strategy(name: str, settings: Mapping[str, object]) -> object:
    from forgetlab.strategies import make_strategy  # imports torch: only for configs with strategies

    return make_strategy(name, settings)


def _count_variants(grid: Mapping[str, list]) -> int:
    count = 1
    for key, values in grid.items():
        if key.split(".")[0] not in ("schedules", "strategies"):
            count *= len(values)
    return count


def _count_items(data: Mapping, grid: Mapping[str, list], section: str) -> int:
    """How many items a section has once the grid has expanded them."""
    counts = [1] * len(_items(data, section))
    for key, values in grid.items():
        parts = key.split(".")
        if parts[0] == section:
            names = [item.get("name") if isinstance(item, Mapping) else None for item in _items(data, section)]
            index = int(parts[1]) if parts[1].isdigit() else names.index(parts[1])
            counts[index] *= len(values)
    return sum(counts)


def _stream(table: Mapping, source: str) -> Stream:
    if not isinstance(table, Mapping):
        raise _fail(source, "stream", f"must be a table; got {table!r}")
    if "kind" not in table:
        raise _fail(source, "stream", f"missing key 'kind' (one of {', '.join(STREAMS)})")
    kind = table["kind"]
    if not isinstance(kind, str) or kind not in STREAMS:
        raise _fail(
            source, "stream.kind", f"must be one of {', '.join(STREAMS)}{_suggest(kind, STREAMS)}; got {kind!r}"
        )
    function = STREAMS[kind]
    _check_keys(table, ["kind", *inspect.signature(function).parameters], source, f"stream ({kind})")
    settings = {key: value for key, value in table.items() if key != "kind"}
    try:
        return function(**settings)
    except (InvalidParameterError, TypeError, ValueError) as error:
        raise _fail(source, f"stream ({kind})", str(error)) from None


def _model(point: Mapping, source: str) -> tuple[str, dict]:
    """The class and parameters the ``[model]`` and ``[optimizer]`` tables name: its keys are checked, not its values.

    :meth:`Model.from_params <forgetlab.models.Model.from_params>` checks the values.
    """
    table = point["model"]
    if "class" not in table:
        raise _fail(source, "model", f"missing key 'class' (one of {', '.join(MODELS)})")
    name = table["class"]
    if not isinstance(name, str) or name not in MODELS:
        raise _fail(source, "model.class", f"must be one of {', '.join(MODELS)}{_suggest(name, MODELS)}; got {name!r}")
    known = [key for key in parameter_names(name) if key != "random_state"]
    if "random_state" in table:
        raise _fail(source, "model.random_state", "is set by each run's seed (use 'seeds')")
    _check_keys(table, ["class", *known], source, f"model ({name})")
    params = {key: value for key, value in table.items() if key != "class"}
    optimizer = point.get("optimizer", {})
    if optimizer:
        if not name.startswith("MLP"):
            raise _fail(source, "optimizer", f"is for MLPRegressor and MLPClassifier; set {name}'s in [model]")
        _check_keys(optimizer, ["name", *OPTIMIZER_SETTINGS], source, "optimizer")
        for key, value in optimizer.items():
            param = "solver" if key == "name" else key
            if param in params:
                raise _fail(source, f"optimizer.{key}", f"is also set in [model] as {param!r}; set it once")
            params[param] = value
    return name, _plain_settings(params)


def _expanded(
    point: Mapping, grid: Mapping[str, list], section: str, make: Callable, source: str
) -> list[tuple[object, str]]:
    """Every item of a section, each expanded by its grid keys: ``(item, where)`` pairs."""
    out = []
    for index, item in enumerate(_items(point, section)):
        where = f"{section}[{index}]"
        if not isinstance(item, Mapping) or "name" not in item:
            raise _fail(source, where, f"must be a table with a 'name' (one of {', '.join(_registry(section))})")
        keys = [
            key
            for key in grid
            if key.split(".")[0] == section and _item_index(point, section, key.split(".")[1], source, key) == index
        ]
        for values in itertools.product(*(grid[key] for key in keys)):
            settings = {**item, **{key.split(".")[2]: value for key, value in zip(keys, values, strict=True)}}
            label = where + "".join(
                f" with {key.split('.')[2]}={value!r}" for key, value in zip(keys, values, strict=True)
            )
            name = settings.pop("name")
            try:
                out.append((make(name, _plain_settings(settings)), label))
            except (InvalidParameterError, TypeError) as error:
                raise _fail(source, label, str(error)) from None
    return out


def _experiment(
    point: Mapping,
    grid: Mapping[str, list],
    seeds: Sequence[int],
    stream: Stream,
    source: str,
    variant: Mapping[str, object],
    where: str,
) -> Experiment:
    """The experiment of one grid point (``variant``: its settings, ``where``: its name in errors).

    Its values are checked by :class:`Experiment`; an error is prefixed with where it came from (:func:`_where`).
    """
    if not isinstance(point["model"], Mapping):
        raise _fail(source, "model", f"must be a table; got {point['model']!r}")
    if not isinstance(point.get("optimizer", {}), Mapping):
        raise _fail(source, "optimizer", f"must be a table; got {point['optimizer']!r}")
    name, params = _model(point, source)
    try:
        estimator = Model.from_params(name, **params)
    except InvalidParameterError as error:
        raise _fail(source, _located(EXPERIMENT_KEYS["estimator"], variant, where), str(error)) from None
    schedules = _expanded(point, grid, "schedules", make_schedule, source)
    strategies = _expanded(point, grid, "strategies", _make_strategy, source)
    if not schedules:
        raise _fail(source, "schedules", "must hold at least one [[schedules]] table")
    evaluation = point.get("evaluation", {})
    _check_keys(evaluation, ["every"], source, "evaluation")
    settings = {key: point[key] for key in ("engine", "dtype", "threads") if key in point}
    try:
        return Experiment(
            stream=stream,
            estimator=estimator,
            schedules=[schedule for schedule, _ in schedules],
            strategies=[strategy for strategy, _ in strategies],
            seeds=seeds,
            record_every=evaluation.get("every", 1),
            **settings,
        )
    except InvalidParameterError as error:
        labels = {"schedules": [label for _, label in schedules], "strategies": [label for _, label in strategies]}
        raise _fail(source, _where(error, labels, variant, where), str(error)) from None


def _where(
    error: InvalidParameterError, labels: Mapping[str, list[str]], variant: Mapping[str, object], point: str
) -> str:
    """Where in the config an :class:`Experiment` error comes from.

    The item it names (``schedules[1] with k=80``), else the grid ``point`` when the grid
    varies the key, else the key (``seeds``, ``model``, ``evaluation.every``), else the
    grid point or nothing.
    """
    if error.item is not None:
        section, index = error.item
        return labels[section][index]
    keys = EXPERIMENT_KEYS.get(error.parameter or "")
    return point if keys is None else _located(keys, variant, point)


def _located(keys: Sequence[str], variant: Mapping[str, object], point: str) -> str:
    """The grid ``point`` if the grid varies any of the config's ``keys`` (``model``...), else the first key."""
    varied = any(name == key or name.startswith(f"{key}.") for name in variant for key in keys)
    return point if varied else keys[0]
