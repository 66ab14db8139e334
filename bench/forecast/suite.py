"""The benchmark's daily cost series (deterministic: fixed seeds). Each has a known structure; `api_spend` is shaped
like real API spend (growth, a weekend dip, launches, outages, batch-job spikes)."""

import numpy as np

WEEKEND_DIP = np.array([1.1, 1.15, 1.1, 1.05, 1.0, 0.35, 0.25])  # Monday..Sunday, the ratio of a day to its week


def _weekday(n, profile=WEEKEND_DIP, first_weekday=0):
    profile = profile / profile.mean()
    return np.array([profile[(first_weekday + t) % 7] for t in range(n)])


def _noise(rng, n, sigma):
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, n))


def build():
    """{name: (first day, values in dollars)}: a dict ordered as the report lists them."""
    suite = {}
    n = 364
    t = np.arange(n)
    rng = np.random.default_rng(18)
    suite["weekly"] = 120 * _weekday(n) * _noise(rng, n, 0.10)
    suite["linear_trend"] = (40 + 0.4 * t) * _weekday(n) * _noise(rng, n, 0.10)
    suite["damped_trend"] = (40 + 90 * (1 - np.exp(-t / 80))) * _weekday(n) * _noise(rng, n, 0.10)
    level = np.where(t < 150, 80.0, 150.0) * np.where(t < 260, 1.0, 0.6)
    suite["level_shift"] = level * _weekday(n) * _noise(rng, n, 0.10)
    spiky = 90 * _weekday(n) * _noise(rng, n, 0.12)
    spikes = rng.random(n) < 0.04
    spiky[spikes] *= rng.uniform(4, 9, spikes.sum())
    suite["spikes"] = spiky
    weekdays_only = 60 * _weekday(n, np.array([1, 1, 1, 1, 1, 0, 0.0])) * _noise(rng, n, 0.15)
    weekdays_only[rng.random(n) < 0.05] = 0
    suite["zeros"] = weekdays_only
    sparse = np.zeros(150)
    active = rng.random(150 - 70) < 0.35
    sparse[70:][active] = rng.gamma(2.0, 3.0, active.sum())
    suite["sparse_new"] = sparse
    suite["noisy_weekly"] = 25 * _weekday(n) * _noise(rng, n, 0.35)
    suite["api_spend"] = _api_spend(np.random.default_rng(2026))
    return {name: ("2025-01-06", values) for name, values in suite.items()}


def _api_spend(rng, n=540):
    """Growth of ~0.3%/day with a weekend dip, launches that step spend up, two outages, nightly batch spikes."""
    t = np.arange(n)
    growth = 30 * np.exp(0.003 * t)
    launches = np.ones(n)
    for day, step in ((120, 1.35), (300, 1.25), (430, 1.4)):
        launches[day:] *= step
    values = growth * launches * _weekday(n) * _noise(rng, n, 0.13)
    for start, length in ((210, 2), (390, 3)):
        values[start : start + length] *= 0.08
    batch = rng.random(n) < 0.03
    values[batch] *= rng.uniform(2, 4, batch.sum())
    return values


def folds(suite, horizon=30, step=14, max_history=182):
    """Rolling origins a fortnight apart; the history before each is cut to what Tally reads (182 days). New scopes'
    origins start a week after their first cost."""
    out = []
    for name, (first_day, values) in suite.items():
        nonzero = np.flatnonzero(values > 0)
        earliest = max(int(nonzero[0]) + 7, 28) if name != "sparse_new" else int(nonzero[0]) + 3
        for origin in range(len(values) - horizon, earliest - 1, -step):
            lo = max(0, origin - max_history)
            out.append(dict(series=name, first_day=first_day, offset=lo, history=values[lo:origin],
                            actual=values[origin : origin + horizon]))
    return out
