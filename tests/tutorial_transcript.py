"""The tutorial's code, transcribed literally from ../shared/seed (exercises filled in).

Kept as close to the notebook as possible (global NumPy RNG, ``set_seed``, ``fit`` then
``partial_fit``, ``model.score``) so that tests can compare forgetlab against it. The
only additions: no plotting, no progress bars, and the number of epochs is a parameter so
tests can stop early.
"""

import random

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor


def set_seed(seed=None):
    if seed is None:
        seed = np.random.choice(2**32)
    random.seed(seed)
    np.random.seed(seed)


set_seed(seed=42)

# define variables
A = 0.005
B = 0.1
phi = 0
C = 1
# define days (observe that those are not 1, ..., 365 but proxy ones to make model function neat)
days = np.arange(-26, 26 + 1 / 7, 1 / 7)
prices = A * days**2 + B * np.sin(np.pi * days + phi) + C
# take only summer data for intro-training
summer_days = np.expand_dims(days[151:243], 1)
summer_prices = prices[151:243]
# take autumn data for further training
autumn_days = np.expand_dims(days[243:334], 1)
autumn_prices = prices[243:334]
# divide summer data into train and test sets
summer_days_train, summer_days_test, summer_prices_train, summer_prices_test = train_test_split(
    summer_days, summer_prices, random_state=42
)
# divide autumn data into train and test sets
autumn_days_train, autumn_days_test, autumn_prices_train, autumn_prices_test = train_test_split(
    autumn_days, autumn_prices, random_state=42
)

# apply normalization for days (we take parameters for whole summer-autumn period)
days_mean, days_std = np.mean(days[151:334]), np.std(days[151:334])
summer_days_train_norm = (summer_days_train - days_mean) / days_std
summer_days_test_norm = (summer_days_test - days_mean) / days_std
autumn_days_train_norm = (autumn_days_train - days_mean) / days_std
autumn_days_test_norm = (autumn_days_test - days_mean) / days_std


def exercise_1(num_epochs=10):
    """Base model fit on summer, then partial_fit on autumn; R² lists (Coding Exercise 1)."""
    base_model = MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=10000, random_state=42, solver="lbfgs")
    base_model.fit(summer_days_train_norm, summer_prices_train)
    summer_r_squared = [base_model.score(summer_days_test_norm, summer_prices_test)]
    autumn_r_squared = [base_model.score(autumn_days_test_norm, autumn_prices_test)]
    for _ in range(num_epochs - 1):
        base_model.partial_fit(autumn_days_train_norm, autumn_prices_train)
        summer_r_squared.append(base_model.score(summer_days_test_norm, summer_prices_test))
        autumn_r_squared.append(base_model.score(autumn_days_test_norm, autumn_prices_test))
    return base_model, summer_r_squared, autumn_r_squared


def sequential_training(K: int, num_epochs: int):
    """Coding Exercise 2a, filled in."""
    model = MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=10000, random_state=42, solver="lbfgs")
    summer_r_squared = []
    autumn_r_squared = []
    for _ in range(num_epochs // 2):
        sampled_summer_indices = np.random.choice(np.arange(summer_days_train_norm.shape[0]), size=K, replace=False)
        sampled_autumn_indices = np.random.choice(np.arange(autumn_days_train_norm.shape[0]), size=K, replace=False)
        model.partial_fit(summer_days_train_norm[sampled_summer_indices], summer_prices_train[sampled_summer_indices])
        summer_r_squared.append(model.score(summer_days_test_norm, summer_prices_test))
        autumn_r_squared.append(model.score(autumn_days_test_norm, autumn_prices_test))
        model.partial_fit(autumn_days_train_norm[sampled_autumn_indices], autumn_prices_train[sampled_autumn_indices])
        summer_r_squared.append(model.score(summer_days_test_norm, summer_prices_test))
        autumn_r_squared.append(model.score(autumn_days_test_norm, autumn_prices_test))
    return model, summer_r_squared, autumn_r_squared


def interspersed_training(K: int, num_epochs: int):
    """Coding Exercise 2b, filled in."""
    model = MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=10000, random_state=42, solver="lbfgs")
    summer_r_squared = []
    autumn_r_squared = []
    for _ in range(num_epochs):
        sampled_summer_indices = np.random.choice(np.arange(summer_days_train_norm.shape[0]), size=K, replace=False)
        sampled_autumn_indices = np.random.choice(np.arange(autumn_days_train_norm.shape[0]), size=K, replace=False)
        mixed_days_train = np.expand_dims(
            np.append(autumn_days_train_norm[sampled_autumn_indices], summer_days_train_norm[sampled_summer_indices]),
            1,
        )
        mixed_prices_train = np.append(
            autumn_prices_train[sampled_autumn_indices], summer_prices_train[sampled_summer_indices]
        )
        model.partial_fit(mixed_days_train, mixed_prices_train)
        summer_r_squared.append(model.score(summer_days_test_norm, summer_prices_test))
        autumn_r_squared.append(model.score(autumn_days_test_norm, autumn_prices_test))
    return model, summer_r_squared, autumn_r_squared
