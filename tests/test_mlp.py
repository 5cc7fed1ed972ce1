"""The batched MLP: scikit-learn's initialisation and loss, true gradients, batch invariance."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from forgetlab import InvalidParameterError
from forgetlab.numerics.mlp import ACTIVATIONS, MLPSpec, init_params, loss_and_grad, non_finite_rows, predict
from forgetlab.tasks import seasons


def packed(model: MLPRegressor) -> torch.Tensor:
    """scikit-learn's parameters in its packing order, as one run (1, P)."""
    flat = np.concatenate([c.ravel() for c in model.coefs_] + list(model.intercepts_))
    return torch.from_numpy(flat)[None]


def fitted(activation: str, max_iter: int) -> MLPRegressor:
    summer = seasons().tasks[0]
    model = MLPRegressor(
        hidden_layer_sizes=(7, 5), activation=activation, solver="lbfgs", max_iter=max_iter, alpha=0.01, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(summer.x_train, summer.y_train)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_initialisation_is_scikit_learns_exactly(activation):
    # an L-BFGS run of 0 iterations is impossible in scikit-learn; its first evaluation point
    # is the initialisation, which a max_iter=1 fit moves: compare with a fresh draw instead
    spec = MLPSpec(layer_units=(1, 7, 5, 1), activation=activation)
    rng = np.random.RandomState(3)
    factor = 2.0 if activation == "logistic" else 6.0
    expected_w, expected_b = [], []
    for fan_in, fan_out in spec.shapes:
        bound = np.sqrt(factor / (fan_in + fan_out))
        expected_w.append(rng.uniform(-bound, bound, (fan_in, fan_out)).ravel())
        expected_b.append(rng.uniform(-bound, bound, fan_out))
    ours = init_params(spec, [3], dtype=torch.float64)[0].numpy()
    np.testing.assert_array_equal(ours, np.concatenate(expected_w + expected_b))


def test_initialisation_matches_a_fitted_model_started_from_it():
    """partial_fit from our initial weights with max_iter=1 equals scikit-learn's own first step."""
    summer = seasons().tasks[0]
    spec = MLPSpec(layer_units=(1, 7, 5, 1))
    model = MLPRegressor(hidden_layer_sizes=(7, 5), solver="lbfgs", max_iter=1, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(summer.x_train, summer.y_train)
    start = init_params(spec, [3], dtype=torch.float64)
    # one L-BFGS iteration moves every parameter along -g from the same start: same sign
    moved = (packed(model) - start)[0]
    _, grad = loss_and_grad(spec, start, torch.from_numpy(summer.x_train)[None], torch.from_numpy(summer.y_train)[None])
    assert (torch.sign(moved) == -torch.sign(grad[0]))[grad[0].abs() > 1e-12].all()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_predictions_equal_scikit_learns(activation):
    model = fitted(activation, max_iter=30)
    summer = seasons().tasks[0]
    spec = MLPSpec(layer_units=(1, 7, 5, 1), activation=activation, alpha=0.01)
    loss, _ = loss_and_grad(
        spec, packed(model), torch.from_numpy(summer.x_train)[None], torch.from_numpy(summer.y_train)[None]
    )
    assert float(loss[0]) == pytest.approx(model.loss_, rel=1e-12)
    ours = predict(spec, packed(model), torch.from_numpy(summer.x_test))[0].numpy()
    np.testing.assert_allclose(ours, model.predict(summer.x_test), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_equals_finite_differences(activation):
    torch.manual_seed(0)
    spec = MLPSpec(layer_units=(2, 4, 3, 2), activation=activation, alpha=0.3)
    params = init_params(spec, [0, 1], dtype=torch.float64)
    x, y = torch.randn(2, 6, 2, dtype=torch.float64), torch.randn(2, 6, 2, dtype=torch.float64)
    _, grad = loss_and_grad(spec, params, x, y)
    step = 1e-6
    for r in range(2):
        for i in range(spec.n_params):
            bump = torch.zeros_like(params)
            bump[r, i] = step
            up, _ = loss_and_grad(spec, params + bump, x, y)
            down, _ = loss_and_grad(spec, params - bump, x, y)
            numeric = (up[r] - down[r]) / (2 * step)
            assert float(grad[r, i]) == pytest.approx(float(numeric), rel=1e-6, abs=1e-9)


def test_gradient_equals_autograd():
    spec = MLPSpec(layer_units=(1, 100, 100, 1), alpha=1e-4)
    params = init_params(spec, [0, 1, 2], dtype=torch.float64).requires_grad_(True)
    x, y = torch.randn(3, 69, 1, dtype=torch.float64), torch.randn(3, 69, dtype=torch.float64)
    weights, biases = spec.views(params)
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w + b[:, None, :]
        h = torch.relu(h) if layer < 2 else h
    autograd_loss = 0.5 * ((h.squeeze(-1) - y) ** 2).mean(1) + 0.5e-4 * sum((w**2).sum((1, 2)) for w in weights) / 69
    (expected,) = torch.autograd.grad(autograd_loss.sum(), params)
    loss, grad = loss_and_grad(spec, params.detach(), x, y)
    torch.testing.assert_close(loss, autograd_loss.detach(), rtol=1e-13, atol=0)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-14)


def batch_and_alone(hidden, activation, n_runs, n_samples, n_features, dtype):
    """(loss, grad, outputs) of the whole batch, and of each run alone, and of the batch minus its first run."""
    spec = MLPSpec(layer_units=(n_features, *hidden, 1), activation=activation)
    generator = torch.Generator().manual_seed(n_runs * 1000 + n_samples)
    params = init_params(spec, list(range(n_runs)), dtype=dtype)
    x = torch.randn(n_runs, n_samples, n_features, generator=generator, dtype=dtype)
    y = torch.randn(n_runs, n_samples, generator=generator, dtype=dtype)
    whole = (*loss_and_grad(spec, params, x, y), predict(spec, params, x[0]))
    alone = []
    for r in range(n_runs):
        one = slice(r, r + 1)
        # fresh copies, as the optimiser's compaction makes: other memory alignment
        p, xs, ys = params[one].clone(), x[one].clone(), y[one].clone()
        alone.append((*loss_and_grad(spec, p, xs, ys), predict(spec, p, x[0])))
    alone = tuple(torch.cat(parts) for parts in zip(*alone, strict=True))
    p, xs, ys = params[1:].clone(), x[1:].clone(), y[1:].clone()
    tail = (*loss_and_grad(spec, p, xs, ys), predict(spec, p, x[0]))
    return whole, alone, tail


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.sampled_from([23, 30, 60, 68, 69, 137]), st.sampled_from([torch.float32, torch.float64]))
def test_a_tutorial_runs_numbers_do_not_depend_on_its_batch(n_runs, n_samples, dtype):
    """The tutorial's MLP: each run alone, and any slice of runs, gives bit-identical numbers."""
    whole, alone, tail = batch_and_alone([100, 100], "relu", n_runs, n_samples, 1, dtype)
    for ours, theirs in zip(whole, alone, strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(whole, tail, strict=True):
        assert torch.equal(ours[1:], theirs)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=3),
    st.sampled_from(ACTIVATIONS),
    st.integers(2, 6),
    st.integers(1, 12),
    st.integers(1, 3),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_otherwise_a_run_depends_on_its_batch_at_rounding_level_only(
    hidden, activation, n_runs, n_samples, n_features, dtype
):
    """Other architectures may differ in the last bits between batches.

    Measured causes: MKL's batched matrix product gives different last bits for identical
    matrices at different memory alignments (a (2, 5, 9) @ (2, 9, 9) product differs
    between its two slots), and tanh and logistic use SIMD code for most elements and
    scalar code for a tensor's tail, whose position depends on the batch.
    """
    whole, alone, _ = batch_and_alone(hidden, activation, n_runs, n_samples, n_features, dtype)
    for ours, theirs in zip(whole, alone, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6)


def test_tutorial_model_size_and_flops():
    spec = MLPSpec(layer_units=(1, 100, 100, 1))
    assert spec.n_params == 10401  # 10,200 weights and 201 biases
    # forward 2*(100 + 10000 + 100), weight gradients the same, errors back through 2 layers
    assert spec.flops_per_sample() == 2 * 20400 + 2 * 10100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"layer_units": (1,)}, "'layer_units'"), ({"activation": "gelu"}, "'activation'"), ({"alpha": -1.0}, "'alpha'")],
)
def test_bad_specs_name_the_field(kwargs, field):
    with pytest.raises(InvalidParameterError, match=field):
        MLPSpec(**{"layer_units": (1, 3, 1), **kwargs})


#: Values a diverging run's parameters take: ordinary, huge (their row sums overflow), infinite, NaN.
_ENTRIES = st.sampled_from([0.0, -1.5, 2.0, 3e38, -3e38, 1e308, float("inf"), float("-inf"), float("nan")])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_ENTRIES, min_size=1, max_size=9), min_size=1, max_size=6).filter(
        lambda rows: len({len(row) for row in rows}) == 1
    ),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_non_finite_rows_is_exactly_the_element_wise_check(rows, dtype):
    t = torch.tensor(rows, dtype=torch.float64).to(dtype)  # 1e308 is infinite in float32
    assert non_finite_rows(t).tolist() == (~torch.isfinite(t).all(dim=1)).tolist()
