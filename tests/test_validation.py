"""Declared constraints: values drawn inside are accepted, values drawn outside are refused in one line.

Every "bad" strategy here is built so that it cannot draw a valid value (by construction
or by a filter that asks the definition, never the code under test).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forgetlab.errors import InvalidParameterError
from forgetlab.validation import (
    AnyOf,
    Boolean,
    Hidden,
    Interval,
    Options,
    Satisfies,
    SequenceOf,
    check,
    is_int,
    is_real,
    validate,
)

# Values of every other kind, none of them a number, a bool or a string.
OTHER = st.one_of(
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.binary(max_size=2),
    st.just(np.array([1, 2])),
)
NUMPY_INTS = st.integers(-(2**31), 2**31 - 1).flatmap(lambda v: st.sampled_from([np.int32(v), np.int64(v)]))


def assert_refused(constraint, value, name="p", owner="Owner"):
    """``check`` refuses ``value`` with the one-line message naming the parameter."""
    assert not constraint.is_satisfied_by(value)
    with pytest.raises(InvalidParameterError) as caught:
        check(value, name, owner, constraint)
    message = str(caught.value)
    assert message == f"The {name!r} parameter of {owner} must be {constraint.describe()}; got {value!r}."
    assert "\n" not in message
    assert caught.value.parameter == name and caught.value.owner == owner


def assert_accepted(constraint, value):
    assert constraint.is_satisfied_by(value)
    assert check(value, "p", "Owner", constraint) is value


# --------------------------------------------------------------------------------------
# is_int, is_real


@given(st.one_of(st.integers(), NUMPY_INTS))
def test_integers_are_ints_and_reals(value):
    assert is_int(value) and is_real(value)


@given(st.one_of(st.booleans(), st.just(np.bool_(True)), st.floats(), st.text(max_size=3), OTHER))
def test_bools_floats_and_the_rest_are_not_ints(value):
    assert not is_int(value)


@given(st.one_of(st.booleans(), st.just(np.bool_(False)), st.text(max_size=3), OTHER))
def test_bools_and_non_numbers_are_not_reals(value):
    assert not is_real(value)


# --------------------------------------------------------------------------------------
# Interval(int, ...)

CLOSED = st.sampled_from(["both", "left", "right", "neither"])


@st.composite
def int_intervals(draw):
    """An int interval with at least one member, and its smallest and largest members (None: unbounded)."""
    low = draw(st.one_of(st.none(), st.integers(-1000, 1000)))
    high = draw(st.one_of(st.none(), st.integers(-1000, 1000).map(lambda v: v if low is None else low + 2 + abs(v))))
    closed = draw(CLOSED)
    first = None if low is None else low + (closed in ("right", "neither"))
    last = None if high is None else high - (closed in ("left", "neither"))
    return Interval(int, low, high, closed=closed), first, last


@given(st.data())
def test_an_int_interval_accepts_its_ints(data):
    constraint, first, last = data.draw(int_intervals())
    value = data.draw(st.integers(-(2**62) if first is None else first, 2**62 if last is None else last))
    assert_accepted(constraint, value)
    assert_accepted(constraint, np.int64(value))


@given(st.data())
def test_an_int_interval_refuses_ints_outside_and_every_non_int(data):
    constraint, first, last = data.draw(int_intervals())
    outside = [st.floats(), st.booleans(), st.text(max_size=3), OTHER]
    if first is not None:
        outside.append(st.integers(max_value=first - 1))
    if last is not None:
        outside.append(st.integers(min_value=last + 1))
    assert_refused(constraint, data.draw(st.one_of(outside)))


def test_int_intervals_read_as_before():
    assert Interval(int, 1, None).describe() == "an int >= 1"
    assert Interval(int, 1, 68).describe() == "an int in [1, 68]"
    assert Interval(int, 0, 2**32 - 1).describe() == "an int in [0, 4294967295]"
    assert Interval(int, 0, 5, closed="left").describe() == "an int in [0, 5)"
    assert Interval(int, None, 5, closed="neither").describe() == "an int < 5"


# --------------------------------------------------------------------------------------
# Interval(float, ...)

FINITE = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def real_intervals(draw):
    low = draw(st.one_of(st.none(), FINITE))
    high = draw(st.one_of(st.none(), FINITE.map(lambda v: v if low is None else low + 1 + abs(v))))
    closed = draw(CLOSED)
    finite = draw(st.booleans())
    return Interval(float, low, high, closed=closed, finite=finite)


@given(st.data())
def test_a_real_interval_accepts_the_numbers_inside(data):
    constraint = data.draw(real_intervals())
    low, high, closed = constraint.low, constraint.high, constraint.closed
    value = data.draw(
        st.floats(
            min_value=low,
            max_value=high,
            exclude_min=low is not None and closed in ("right", "neither"),
            exclude_max=high is not None and closed in ("left", "neither"),
            allow_nan=False,
            allow_infinity=not constraint.finite and (low is None or high is None),
        )
    )
    assert_accepted(constraint, value)
    assert_accepted(constraint, np.float64(value))
    if math.isfinite(value) and value == int(value):
        assert_accepted(constraint, int(value))


@given(st.data())
def test_a_real_interval_refuses_numbers_outside_nan_and_non_numbers(data):
    constraint = data.draw(real_intervals())
    low, high, closed = constraint.low, constraint.high, constraint.closed
    outside = [st.just(math.nan), st.booleans(), st.text(max_size=3), OTHER]
    if low is not None:
        outside.append(st.floats(max_value=low, exclude_max=closed in ("both", "left"), allow_nan=False))
    if high is not None:
        outside.append(st.floats(min_value=high, exclude_min=closed in ("both", "right"), allow_nan=False))
    if constraint.finite:
        outside.append(st.sampled_from([math.inf, -math.inf, np.float32("inf")]))
    assert_refused(constraint, data.draw(st.one_of(outside)))


def test_real_intervals_read_as_before():
    assert Interval(float, 0, None).describe() == "a number >= 0"
    assert Interval(float, 0, 1).describe() == "a number in [0, 1]"
    assert Interval(float, 0, 1, closed="neither").describe() == "a number in (0, 1)"
    assert Interval(float, np.finfo(float).tiny, None).describe() == "a number >= 2.2250738585072014e-308"
    assert Interval(float, 0, None, noun="a finite number").describe() == "a finite number >= 0"
    timeout = Interval(float, 0, None, closed="neither", finite=False, noun="a number of seconds")
    assert timeout.describe() == "a number of seconds > 0" and timeout.is_satisfied_by(math.inf)
    assert Interval(float, 0, 1, closed="neither", example=0.95).describe() == "a number in (0, 1), e.g. 0.95"


def test_an_interval_refuses_impossible_settings_and_an_empty_one_everything():
    assert Interval(int, 1, 0).describe() == "an int in [1, 0]" and not Interval(int, 1, 0).is_satisfied_by(1)
    with pytest.raises(ValueError, match="closed"):
        Interval(int, 1, 3, closed="open")
    with pytest.raises(TypeError, match="kind"):
        Interval(complex, 1, 3)


# --------------------------------------------------------------------------------------
# Options, Boolean, AnyOf, Hidden, Satisfies

# Options are names a module declares: one line each.
OPTIONS = st.lists(
    st.text(st.characters(categories=["L", "N"], include_characters="_- "), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
    unique=True,
)


@given(st.data())
def test_options_accept_their_options(data):
    options = data.draw(OPTIONS)
    assert_accepted(Options(*options), data.draw(st.sampled_from(options)))


@given(st.data())
def test_options_refuse_other_strings_and_other_kinds(data):
    options = data.draw(OPTIONS)
    value = data.draw(
        st.one_of(
            st.text(max_size=6).filter(lambda v: v not in options),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.just(list(options)),
            st.just(tuple(options[:1])),
            OTHER,
        )
    )
    assert_refused(Options(*options), value)


def test_options_compare_with_their_type():
    assert Options("float32", "float64").describe() == "one of float32, float64"
    assert not Options(1, 2).is_satisfied_by(True) and Options(1, 2).is_satisfied_by(np.int64(2))
    assert Options(True).is_satisfied_by(True) and not Options(True).is_satisfied_by(1)
    assert not Options("a").is_satisfied_by(np.array(["a", "a"]))  # no ambiguous truth value


@given(st.one_of(st.booleans(), st.booleans().map(np.bool_)))
def test_a_boolean_accepts_bools(value):
    assert_accepted(Boolean(), value)


@given(st.one_of(st.integers(), st.floats(), st.text(max_size=3), OTHER))
def test_a_boolean_refuses_everything_else(value):
    assert_refused(Boolean(), value)


COUNT_OR_NONE = AnyOf(None, Interval(int, 1, None))


@given(st.one_of(st.none(), st.integers(min_value=1)))
def test_any_of_accepts_what_one_member_accepts(value):
    assert_accepted(COUNT_OR_NONE, value)
    assert_accepted(AnyOf(Hidden(None), Interval(int, 1, None)), value)


@given(st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=3)))
def test_any_of_refuses_what_no_member_accepts(value):
    assert_refused(COUNT_OR_NONE, value)
    assert_refused(AnyOf(Hidden(None), Interval(int, 1, None)), value)


def test_any_of_reads_its_members_in_order_and_hides_the_hidden():
    assert COUNT_OR_NONE.describe() == "None or an int >= 1"
    assert AnyOf(Interval(int, 2, None), None).describe() == "an int >= 2 or None"
    assert AnyOf(Options("task", "domain", "class"), None).describe() == "one of task, domain, class or None"
    assert AnyOf(Hidden(None), Interval(int, 1, None)).describe() == "an int >= 1"


NON_EMPTY_STRING = Satisfies(lambda v: isinstance(v, str) and v != "", "a non-empty string")


@given(st.text(min_size=1))
def test_satisfies_accepts_what_its_predicate_accepts(value):
    assert_accepted(NON_EMPTY_STRING, value)


@given(st.one_of(st.just(""), st.integers(), st.floats(), OTHER))
def test_satisfies_refuses_what_its_predicate_refuses(value):
    assert_refused(NON_EMPTY_STRING, value)


# --------------------------------------------------------------------------------------
# SequenceOf

DIGIT = Interval(int, 0, 9)
BAD_DIGIT = st.one_of(st.integers(max_value=-1), st.integers(min_value=10), st.floats(), st.booleans(), st.text())


@st.composite
def sequences(draw):
    """A SequenceOf digits with random rules, and (min_size, max_size) of the valid ones."""
    kind = draw(st.sampled_from(["list", "tuple", None]))
    distinct = draw(st.booleans())
    length = draw(st.one_of(st.none(), st.integers(0, 4)))
    non_empty = draw(st.booleans()) and length != 0
    constraint = SequenceOf(DIGIT, kind=kind, length=length, non_empty=non_empty, distinct=distinct)
    if length is not None:
        return constraint, length, length
    return constraint, int(non_empty), 5


def _as(kind, items, data):
    """``items`` in a container ``kind`` accepts."""
    if kind == "tuple":
        return tuple(items)
    return data.draw(st.sampled_from([list, tuple]))(items)


@given(st.data())
def test_a_sequence_accepts_valid_items_under_its_rules(data):
    constraint, smallest, largest = data.draw(sequences())
    items = data.draw(st.lists(st.integers(0, 9), min_size=smallest, max_size=largest, unique=constraint.distinct))
    assert_accepted(constraint, _as(constraint.kind, items, data))


@given(st.data())
def test_a_sequence_refuses_a_bad_item_a_wrong_length_a_repeat_or_a_wrong_container(data):
    constraint, smallest, largest = data.draw(sequences())
    valid = st.lists(st.integers(0, 9), min_size=smallest, max_size=largest, unique=constraint.distinct)
    ways = ["bad item", "not a sequence"]
    if constraint.length is not None or constraint.non_empty:
        ways.append("wrong length")
    if constraint.distinct and largest >= 2:
        ways.append("repeat")
    if constraint.kind == "tuple":
        ways.append("a list")
    way = data.draw(st.sampled_from(ways))
    if way == "bad item":
        items = data.draw(valid.filter(bool)) if largest else []
        if not items:  # only the empty sequence is valid: any item is one too many or a bad one
            items = [data.draw(BAD_DIGIT)]
        else:
            items[data.draw(st.integers(0, len(items) - 1))] = data.draw(BAD_DIGIT)
        value = _as(constraint.kind, items, data)
    elif way == "wrong length":  # distinct valid items, too many or too few
        other_length = st.integers(0, 7).filter(lambda n: n != constraint.length)
        size = 0 if constraint.length is None else data.draw(other_length)  # None: the rule is non_empty
        value = _as(constraint.kind, list(range(size)), data)
    elif way == "repeat":
        items = data.draw(st.lists(st.integers(0, 9), min_size=max(1, smallest - 1), max_size=largest - 1))
        value = _as(constraint.kind, [*items, items[0]], data)
    elif way == "a list":
        value = data.draw(st.lists(st.integers(0, 9), min_size=smallest, max_size=largest, unique=True))
    else:
        value = data.draw(st.one_of(st.text(max_size=3), st.integers(), st.none(), st.just({1, 2}), st.just({0: 1})))
    assert_refused(constraint, value)


def test_sequences_read_as_before():
    assert (
        SequenceOf(Interval(int, 1, None), kind="tuple", length=2, note="(one per task)").describe()
        == "a tuple of 2 ints >= 1 (one per task)"
    )
    assert (
        SequenceOf(Interval(int, 0, 2**32 - 1), non_empty=True, distinct=True).describe()
        == "a non-empty list of distinct ints in [0, 4294967295]"
    )
    finite = Interval(float, None, None, noun="a finite number")
    assert SequenceOf(finite, non_empty=True, note="(degrees)").describe() == (
        "a non-empty list of finite numbers (degrees)"
    )
    assert SequenceOf(Interval(int, 1, None), kind=None, note="(one per hidden layer)").describe() == (
        "ints >= 1 (one per hidden layer)"
    )
    seasons = Options("winter", "spring", "summer", "autumn")
    assert SequenceOf(seasons).describe() == "a list of winter, spring, summer, autumn"
    per_season = AnyOf(finite, SequenceOf(finite, length=2, note="(one per season)"))
    assert per_season.describe() == "a finite number or a list of 2 finite numbers (one per season)"


def test_distinct_items_need_not_be_hashable():
    pairs = SequenceOf(Satisfies(lambda v: isinstance(v, list), "a list", plural="lists"), distinct=True)
    assert pairs.is_satisfied_by([[1], [2]]) and not pairs.is_satisfied_by([[1], [1]])


# --------------------------------------------------------------------------------------
# validate


@given(st.integers(min_value=1), st.integers(max_value=0))
def test_validate_reports_the_first_refused_value_in_table_order(good, bad):
    table = {"k": Interval(int, 1, None), "n_epochs": Interval(int, 1, None), "buffer": Options("a", "b")}
    validate("Sampling", table, {"k": good, "n_epochs": good, "buffer": "a"})
    expected = f"The 'n_epochs' parameter of Sampling must be an int >= 1; got {bad}."
    with pytest.raises(InvalidParameterError, match=f"^{re.escape(expected)}$"):
        validate("Sampling", table, {"k": good, "n_epochs": bad, "buffer": "c"})
    with pytest.raises(InvalidParameterError, match=r"^The 'k' parameter must be an int >= 1; got "):
        validate(None, table, {"k": bad, "n_epochs": bad, "buffer": "c"})


def test_a_refusal_pickles_with_its_fields():
    import pickle

    with pytest.raises(InvalidParameterError) as caught:
        check(0, "k", "Alternating", Interval(int, 1, None))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value) and (copy.parameter, copy.owner) == ("k", "Alternating")


# --------------------------------------------------------------------------------------
# Contract: every declared table names real parameters, accepts the defaults, and the
# constructor refuses what the table refuses.


def _tables():
    """(what, table, parameters with their defaults) of every declared table."""
    import dataclasses
    import importlib
    import inspect

    from forgetlab import executors, experiment, stats
    from forgetlab.schedules import SCHEDULES
    from forgetlab.strategies import STRATEGIES

    def fields(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def parameters(function):
        return {name: p.default for name, p in inspect.signature(function).parameters.items()}

    for registry in (SCHEDULES, STRATEGIES):
        for cls in registry.values():
            yield cls.__name__, cls.constraints, fields(cls)
    yield "Experiment", experiment.Experiment.constraints, fields(experiment.Experiment)
    for stem in ("digits", "friedman", "seasons", "arrays"):  # forgetlab.tasks.seasons is also a function
        module = importlib.import_module(f"forgetlab.tasks.{stem}")
        for name, table in module.CONSTRAINTS.items():
            yield name, table, parameters(getattr(module, name))
    yield "executor", executors.CONSTRAINTS, parameters(executors.executor.__wrapped__)
    yield "bootstrap_interval", stats.BOOTSTRAP_CONSTRAINTS, parameters(stats.bootstrap_interval)
    yield "compare", stats.COMPARE_CONSTRAINTS, parameters(stats.compare)


TABLES = list(_tables())


@pytest.mark.parametrize(("what", "table", "parameters"), TABLES, ids=[t[0] for t in TABLES])
def test_a_declared_table_names_parameters_and_accepts_their_defaults(what, table, parameters):
    import dataclasses
    import inspect

    assert set(table) <= set(parameters), (
        f"{what} declares constraints for no parameter: {set(table) - set(parameters)}"
    )
    for name, constraint in table.items():
        default = parameters[name]
        if default in (inspect.Parameter.empty, dataclasses.MISSING):
            continue
        if name == "seeds" and isinstance(default, tuple):
            default = list(default)
        assert constraint.is_satisfied_by(default), (what, name, default, constraint.describe())
        assert "\n" not in constraint.describe()


def _strategy_settings():
    from forgetlab.strategies import STRATEGIES

    return [(cls, name) for cls in STRATEGIES.values() for name in cls.constraints]


STRATEGY_SETTINGS = _strategy_settings()
ANY_VALUE = st.one_of(st.integers(-5, 300), st.floats(), st.booleans(), st.text(max_size=12), st.none(), OTHER)


@pytest.mark.parametrize(("cls", "name"), STRATEGY_SETTINGS, ids=[f"{c.__name__}.{n}" for c, n in STRATEGY_SETTINGS])
@given(data=st.data())
def test_a_strategy_refuses_what_its_table_refuses_and_keeps_what_it_accepts(cls, name, data):
    """The table is the specification here: values are drawn and sorted by it, the constructor is under test."""
    constraint = cls.constraints[name]
    value = data.draw(ANY_VALUE)
    if constraint.is_satisfied_by(value):
        assert getattr(cls(**{name: value}), name) is value
    else:
        with pytest.raises(InvalidParameterError) as caught:
            cls(**{name: value})
        assert str(caught.value) == (
            f"The {name!r} parameter of {cls.__name__} must be {constraint.describe()}; got {value!r}."
        )
