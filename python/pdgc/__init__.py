"""pdgc: source-separation VAEs from a short model file, fitted in Rust.

    import pdgc
    X, S, _ = pdgc.simulate("moebius", samples=5000, seed=1000)
    fit = pdgc.Model.from_file("models/homogeneous.pdg").fit(X, truth=S)
    print(fit.recovery["mcc"], pdgc.mcc(S, pdgc.fastica(X)[0]))
    fit.report("report.html")

Everything here calls the pdgc library (the crate the `pdgc` command is built on): a fit
made here and one made by `pdgc fit` with the same model, data and seed are the same.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ._pdgc import (
    DataError,
    Fit,
    FitError,
    FolderError,
    Model,
    ModelError,
    amari,
    fastica,
    from_bytes,
    load,
    recovery,
    simulate,
    version,
)
from . import _pdgc

__version__ = version()

__all__ = [
    "DataError",
    "Fit",
    "FitError",
    "FolderError",
    "Model",
    "ModelError",
    "amari",
    "compare",
    "fastica",
    "from_bytes",
    "load",
    "mcc",
    "recovery",
    "simulate",
    "version",
]


def mcc(s: Any, z: Any) -> float:
    """The mean correlation coefficient between true sources `s` and estimates `z` (both
    rows x sources): each true source matched to one estimate (the matching that maximises
    the sum of |Pearson correlation|), the mean of the matched |corr|. 1 is perfect."""
    return recovery(s, z)["mcc"]


def _model(m: Any) -> tuple[str, Model]:
    if isinstance(m, Model):
        return m.name, m
    if isinstance(m, tuple) and len(m) == 2 and isinstance(m[1], Model):
        return str(m[0]), m[1]
    model = Model.from_file(str(m))
    return model.name, model


def compare(
    models: Iterable[Any],
    X: Any = None,
    *,
    truth: Any = None,
    scenario: str | None = None,
    seeds: int | Sequence[int] = 5,
    samples: int = 5000,
    fastica: bool = True,
    jobs: int = 1,
    **simulate_options: Any,
) -> Any:
    """Fits every model, and FastICA, with every seed, and scores each fit's sources
    against the truth: what `pdgc compare` does.

    models: `pdgc.Model`s, `(name, Model)` pairs, or model file paths.
    X, truth: one data set and its true sources; each seed is then a fit seed. Or
    scenario: a simulation (`pdgc.simulate`'s scenarios, with `samples` rows and
        `simulate_options`), drawn afresh for each seed, which is both the data's seed and
        the fit's.
    seeds: how many (0, 1, ...) or which seeds.
    jobs: fits run at once, each on one thread; results do not depend on it.

    Returns one row per run (method, seed, mcc, mcc_spearman, final_loss, seconds, error):
    a pandas DataFrame when pandas is installed, else a list of dicts.
    """
    named = [_model(m) for m in models]
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if (X is None) == (scenario is None):
        raise ValueError("give either X and truth, or a scenario")
    if X is not None:
        if truth is None:
            raise ValueError("X needs its truth: the true sources of its rows")
        columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        problems = [(seed, X, truth, columns) for seed in seed_list]
    else:
        problems = []
        for seed in seed_list:
            x, s, _ = simulate(scenario, samples=samples, seed=seed, **simulate_options)
            problems.append((seed, x, s, None))
    rows = _pdgc._compare(named, problems, fastica=fastica, jobs=jobs)
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)
