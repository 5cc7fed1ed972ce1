"""The compiled arithmetic: scikit-learn's MLP exactly, SciPy's L-BFGS-B step for step (line search: elsewhere)."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.utils import check_random_state

from forgetlab.numerics.compiled_lbfgs import (
    CONVERGED_GRADIENT,
    CONVERGED_REDUCTION,
    LINE_SEARCH_FAILURE,
    MAX_FUN,
    MAX_ITER,
    minimize,
)
from forgetlab.numerics.compiled_mlp import init_params, loss_and_grad, predict, units_of
from forgetlab.numerics.spec import ACTIVATIONS, MLPSpec
from forgetlab.tasks import seasons

SCIPY_STATUS = {CONVERGED_GRADIENT: 0, CONVERGED_REDUCTION: 0, MAX_ITER: 1, MAX_FUN: 1, LINE_SEARCH_FAILURE: 2}


def summer_arrays(dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    summer = seasons().tasks[0]
    return summer.x_train.astype(dtype), summer.y_train.reshape(-1, 1).astype(dtype)


def fitted(activation: str, hidden: tuple[int, ...] = (7, 5)) -> MLPRegressor:
    """A fitted model (30 iterations): weights away from the initialisation."""
    x, y = summer_arrays()
    model = MLPRegressor(
        hidden_layer_sizes=hidden, activation=activation, solver="lbfgs", max_iter=30, alpha=0.01, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y[:, 0])


def packed(model: MLPRegressor) -> np.ndarray:
    return np.concatenate([c.ravel() for c in model.coefs_] + list(model.intercepts_))


# --- the MLP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 3, 42])
@pytest.mark.parametrize(("hidden", "activation"), [((7, 5), "relu"), ((100, 100), "relu"), ((3,), "logistic")])
def test_initial_weights_are_scikit_learns(seed, hidden, activation):
    model = MLPRegressor(hidden_layer_sizes=hidden, activation=activation, random_state=seed)
    model._random_state = check_random_state(seed)
    units = [2, *hidden, 1]
    model._initialize(np.zeros((4, 1)), units, np.float64)
    spec = MLPSpec(layer_units=tuple(units), activation=activation)
    np.testing.assert_array_equal(init_params(spec, seed, dtype=np.float64), packed(model))
    np.testing.assert_array_equal(init_params(spec, seed), packed(model).astype(np.float32))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_gradient_equal_scikit_learns(activation):
    model = fitted(activation)
    x, y = summer_arrays()
    spec = MLPSpec.from_estimator(model, n_features=1)
    units, code = units_of(spec)
    loss, grad = loss_and_grad(packed(model), x, y, units, code, spec.alpha)
    activations = [x] + [np.empty((len(x), u)) for u in spec.layer_units[1:]]
    deltas = [np.empty_like(a) for a in activations[1:]]
    coef_grads = [np.empty_like(c) for c in model.coefs_]
    intercept_grads = [np.empty_like(b) for b in model.intercepts_]
    expected_loss, expected_grad = model._loss_grad_lbfgs(
        packed(model), x, y, None, activations, deltas, coef_grads, intercept_grads
    )
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)
    ours = predict(packed(model), summer_arrays()[0], units, code)[:, 0]
    np.testing.assert_allclose(ours, model.predict(x), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_equals_finite_differences(activation):
    rng = np.random.RandomState(0)
    spec = MLPSpec(layer_units=(2, 4, 3, 2), activation=activation, alpha=0.3)
    units, code = units_of(spec)
    params = init_params(spec, 1, dtype=np.float64)
    x, y = rng.randn(6, 2), rng.randn(6, 2)
    _, grad = loss_and_grad(params, x, y, units, code, spec.alpha)
    step = 1e-6
    for i in range(spec.n_params):
        bump = np.zeros_like(params)
        bump[i] = step
        numeric = (loss_and_grad(params + bump, x, y, units, code, spec.alpha)[0] - loss_and_grad(
            params - bump, x, y, units, code, spec.alpha
        )[0]) / (2 * step)  # fmt: skip
        assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_float32_loss_and_gradient_are_float32_roundings_of_float64():
    model = fitted("tanh")
    spec = MLPSpec.from_estimator(model, n_features=1)
    units, code = units_of(spec)
    loss64, grad64 = loss_and_grad(packed(model), *summer_arrays(), units, code, spec.alpha)
    loss32, grad32 = loss_and_grad(packed(model).astype(np.float32), *summer_arrays(np.float32), units, code, 0.01)
    assert grad32.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-3, atol=1e-5 * np.abs(grad64).max())


# --- L-BFGS against SciPy ---------------------------------------------------------------------------


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    return float(scipy.optimize.rosen(x)), scipy.optimize.rosen_der(x)


def quadratic(n: int, condition: float, seed: int):
    rng = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rng.randn(n, n))
    a = (q * np.logspace(0, np.log10(condition), n)) @ q.T
    b = rng.randn(n)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        ax = a @ x
        return float(0.5 * x @ ax - b @ x), ax - b

    return fun


def mlp_objective(seed: int):
    x, y = summer_arrays()
    spec = MLPSpec(layer_units=(1, 8, 1))
    units, code = units_of(spec)
    return (lambda p: loss_and_grad(p, x, y, units, code, 1e-4)), init_params(spec, seed, dtype=np.float64)


def assert_same_as_scipy(fun, x0: np.ndarray, atol: float, **options) -> None:
    """The same counts and stop as SciPy, and the same point up to ``atol``."""
    names = {"max_iter": "maxiter", "max_fun": "maxfun", "max_line_search": "maxls", "gtol": "gtol"}
    ours = minimize(fun, x0, **options)
    scipy_options = {names[k]: v for k, v in options.items()}
    sp = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-5, **scipy_options})
    assert (ours.n_iter, ours.n_fun) == (sp.nit, sp.nfev)
    assert SCIPY_STATUS[ours.status] == sp.status
    np.testing.assert_allclose(ours.x, sp.x, rtol=0, atol=atol)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_rosenbrock_matches_scipy(n):
    for seed in range(3):
        assert_same_as_scipy(rosenbrock, np.random.RandomState(seed).uniform(-2, 2, n), atol=1e-8)


@pytest.mark.parametrize(("n", "condition"), [(5, 1e1), (5, 1e3), (5, 1e5), (20, 1e1), (100, 1e1)])
def test_quadratic_matches_scipy(n, condition):
    assert_same_as_scipy(quadratic(n, condition, 0), np.zeros(n), atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_least_squares_matches_scipy_for_30_iterations(seed):
    fun, x0 = mlp_objective(seed)
    assert_same_as_scipy(fun, x0, atol=1e-8, max_iter=30)


@pytest.mark.parametrize("max_line_search", [1, 2, 3])
def test_line_search_limits_and_failures_match_scipy(max_line_search):
    for seed in range(3):
        x0 = np.random.RandomState(seed).uniform(-2, 2, 4)
        assert_same_as_scipy(rosenbrock, x0, atol=1e-8, max_line_search=max_line_search, max_iter=200)


@pytest.mark.parametrize("options", [{"max_iter": 7}, {"max_fun": 9}, {"gtol": 1e-2}])
def test_options_match_scipy(options):
    assert_same_as_scipy(rosenbrock, np.array([-1.2, 1.0, 0.5]), atol=1e-10, **options)


def test_float32_converges_to_the_optimum():
    fun = quadratic(10, 1e2, 1)
    exact = minimize(fun, np.zeros(10)).x
    ours = minimize(
        lambda x: (lambda f, g: (f, g.astype(np.float32)))(*fun(x.astype(np.float64))), np.zeros(10, np.float32)
    )
    assert ours.x.dtype == np.float32
    np.testing.assert_allclose(ours.x, exact, atol=1e-3)


def test_non_finite_objective_stops_at_the_last_accepted_point():
    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = rosenbrock(x)
        return (np.nan, g) if x[0] > 0.5 else (f, g)

    result = minimize(fun, np.array([-1.2, 1.0]))
    assert result.status == 5 and np.isfinite(result.f) and result.x[0] <= 0.5


def test_a_changed_kernel_source_drops_every_cached_kernel(monkeypatch, tmp_path):
    """numba checks a kernel's own file only; the digest of all kernel sources catches a change in a callee."""
    import numba

    from forgetlab.numerics import jit

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    location = jit._cache_location()
    assert location.parent == tmp_path and location.name.startswith("numerics_")
    jit.drop_stale_cache()  # a stamp for today's sources
    cached = [location / "compiled_lbfgs.fit-1.py311.nbi", location / "morethuente.dcsrch-9.py311.1.nbc"]
    other = location / "someone_else.f-1.py311.nbi"
    for path in (*cached, other):
        path.write_bytes(b"machine code")
    assert not jit.drop_stale_cache(), "unchanged sources keep the cache"
    assert all(path.exists() for path in cached)
    (location / "forgetlab-kernels.sha256").write_text("the digest of older sources")
    assert jit.drop_stale_cache()
    assert not any(path.exists() for path in cached) and other.exists()
    assert not jit.drop_stale_cache()
