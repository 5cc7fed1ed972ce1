"""forgetlab's description of scikit-learn's MLPs (forgetlab.models) is scikit-learn's.

The parameters, their defaults and what each accepts are declared in forgetlab so that a
config needs no scikit-learn import; these tests hold the declaration to the installed
scikit-learn: the same names and defaults, every value forgetlab accepts accepted by
scikit-learn, and ordinary values (finite numbers, strings, None) judged alike. forgetlab
is stricter on purpose where scikit-learn checks late or not at all: bools as numbers,
infinite numbers, hidden layer sizes < 1 (scikit-learn refuses those only when fitting).
"""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor

from forgetlab.config import parse_config
from forgetlab.errors import InvalidParameterError
from forgetlab.experiment import Experiment
from forgetlab.models import DESCRIBED, Model, parameter_names, tutorial_model
from forgetlab.schedules import Sequential
from forgetlab.tasks import seasons

CLASSES = {"MLPRegressor": MLPRegressor, "MLPClassifier": MLPClassifier}

#: Values scikit-learn and forgetlab must judge alike, for every parameter.
ORDINARY = st.one_of(
    st.integers(-3, 300),
    st.floats(-2, 2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["auto", "adam", "sgd", "lbfgs", "relu", "tanh", "identity", "logistic", "constant", "invscaling"]),
    st.sampled_from(["adaptive", "squared_error", "poisson", "x", "", None]),
)
#: Values forgetlab may refuse where scikit-learn accepts them, never the other way round.
ANY = st.one_of(
    ORDINARY,
    st.booleans(),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), np.float32(0.5), np.int64(3), (8, 8), [4], (0,), ()]),
)


def sklearn_accepts(class_name: str, name: str, value: object) -> bool:
    try:
        CLASSES[class_name](**{name: value})._validate_params()
    except ValueError:
        return False
    return True


def forgetlab_accepts(class_name: str, name: str, value: object) -> bool:
    try:
        Model.from_params(class_name, **{name: value})
    except InvalidParameterError:
        return False
    return True


@pytest.mark.parametrize("class_name", sorted(CLASSES))
def test_the_parameters_and_defaults_are_scikit_learns(class_name):
    assert Model.from_params(class_name).get_params() == CLASSES[class_name]().get_params()
    assert parameter_names(class_name) == sorted(CLASSES[class_name]().get_params())
    assert set(DESCRIBED[class_name]) == set(CLASSES[class_name]._parameter_constraints)


@pytest.mark.parametrize("class_name", sorted(CLASSES))
@given(data=st.data())
def test_ordinary_values_are_judged_as_scikit_learn_judges_them(class_name, data):
    name = data.draw(st.sampled_from(sorted(n for n in DESCRIBED[class_name] if n != "hidden_layer_sizes")))
    value = data.draw(ORDINARY)
    assert forgetlab_accepts(class_name, name, value) == sklearn_accepts(class_name, name, value), (name, value)


@pytest.mark.parametrize("class_name", sorted(CLASSES))
@given(data=st.data())
def test_every_value_forgetlab_accepts_scikit_learn_accepts(class_name, data):
    name = data.draw(st.sampled_from(sorted(DESCRIBED[class_name])))
    value = data.draw(ANY)
    if forgetlab_accepts(class_name, name, value):
        assert sklearn_accepts(class_name, name, value), (name, value)
        built = Model.from_params(class_name, **{name: value}).to_estimator()
        assert built.get_params()[name] is value


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": True}, "The 'alpha' parameter of MLPRegressor must be a number >= 0; got True."),
        ({"learning_rate_init": float("inf")}, "'learning_rate_init' parameter of MLPRegressor must be a number > 0"),
        ({"hidden_layer_sizes": (100, 0)}, "The 'hidden_layer_sizes' parameter of MLPRegressor must be an int >= 1 or"),
        ({"solver": "newton"}, "The 'solver' parameter of MLPRegressor must be one of lbfgs, sgd, adam; got 'newton'."),
        ({"hiden_layer_sizes": (8,)}, "'hiden_layer_sizes' parameter of MLPRegressor must be one of its parameters"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_it(params, message):
    with pytest.raises(InvalidParameterError) as error:
        Model.from_params("MLPRegressor", **params)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_scikit_learn_estimator_and_its_description_make_the_same_experiment():
    described = Model.from_params("MLPRegressor", hidden_layer_sizes=(100, 100), solver="lbfgs", max_iter=10000)
    estimator = MLPRegressor(hidden_layer_sizes=(100, 100), solver="lbfgs", max_iter=10000)
    experiments = [
        Experiment(stream=seasons(), estimator=model, schedules=[Sequential()], seeds=[1])
        for model in (described, estimator)
    ]
    assert experiments[0].fingerprint() == experiments[1].fingerprint()
    assert experiments[0].manifest()["model"]["class"] == "MLPRegressor"
    assert tutorial_model().get_params() == described.get_params()
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of MLPRegressor must be a number >= 0"):
        Experiment(stream=seasons(), estimator=MLPRegressor(alpha=-1), schedules=[Sequential()], seeds=[1])


def test_other_estimators_are_described_and_checked_by_scikit_learn():
    model = Model.of(SGDRegressor(alpha=0.01))
    assert model.class_name == "SGDRegressor" and model.alpha == 0.01
    built = model.to_estimator(random_state=3)
    assert isinstance(built, SGDRegressor) and built.random_state == 3 and model.estimator.random_state is None
    with pytest.raises(InvalidParameterError, match="must be a valid SGDRegressor: The 'alpha' parameter"):
        Model.of(SGDRegressor(alpha=-1.0))
    config = parse_config(
        'seeds = [0]\n[stream]\nkind = "seasons"\n[model]\nclass = "SGDRegressor"\neta0 = 0.001\n'
        '[[schedules]]\nname = "sequential"\nepochs_per_task = [1, 1]\n'
    )
    assert config.variants[0].experiment.estimator.eta0 == 0.001
    assert config.variants[0].experiment.engine_name == "sklearn"


def test_a_model_pickles_and_reads_like_the_estimator():
    model = Model.from_params("MLPClassifier", hidden_layer_sizes=(50,), solver="sgd")
    again = pickle.loads(pickle.dumps(model))
    assert again.get_params() == model.get_params() and again.solver == "sgd"
    with pytest.raises(AttributeError, match="has no 'coefs_'"):
        _ = model.coefs_
    assert repr(model) == "Model('MLPClassifier', hidden_layer_sizes=(50,), solver='sgd')"
    assert repr(Model.of(MLPRegressor(hidden_layer_sizes=np.array([10, 10])))).endswith("=array([10, 10]))")
