"""pdgc as a scikit-learn transformer: `PDGC().fit(X).transform(X)` gives the posterior
means of the sources, `inverse_transform` the decoder's mean in the data's units.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from pdgc.sklearn import PDGC
    pipe = make_pipeline(StandardScaler(), PDGC(epochs=1000))
    Z = pipe.fit_transform(X)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import Fit, Model, from_bytes

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # older: the estimator's own method

    def _validate_data(estimator: Any, X: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(X, **kwargs)


__all__ = ["PDGC", "default_model"]


def default_model(observed: int) -> str:
    """The model `PDGC` fits when given none: a PDGMM-VAE with as many sources as observed
    columns (`models/nonlinear.pdg` of the repository, sized to the data)."""
    return f"""model pdgmm
observed x[{observed}]
latent   z[{observed}] ~ gmm(K = 3)
encoder  {{ dense 64 tanh; dense 64 tanh }}
decoder  {{ dense 64 tanh; dense 64 tanh }}
posterior variance per_dimension
beta 0.01
train {{ epochs 1000; lr 3e-3; batch full; seed 0 }}
"""


class PDGC(TransformerMixin, BaseEstimator):
    """A source-separation VAE as a scikit-learn transformer.

    model: a `pdgc.Model`, a `.pdg` file's path, or model text; None: `default_model`
        sized to the data.
    epochs, lr: in place of the model's `train { }` values (None: the model's).
    seed: the training seed (None: the model's).
    threads: threads for training (the result is the same on any count).

    After `fit`: `fit_` (the `pdgc.Fit`), `n_features_in_`, `feature_names_in_` (for a
    DataFrame), `n_components_`.
    """

    def __init__(
        self,
        model: Any = None,
        epochs: int | None = None,
        lr: float | None = None,
        seed: int | None = None,
        threads: int = 1,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.seed = seed
        self.threads = threads

    def _model(self, observed: int) -> Model:
        if self.model is None:
            return Model(default_model(observed), "default_model")
        if isinstance(self.model, Model):
            return self.model
        text = str(self.model)
        if os.path.exists(text) or "\n" not in text and text.endswith(".pdg"):
            return Model.from_file(text)
        return Model(text)

    def _columns(self) -> list[str] | None:
        names = getattr(self, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def fit(self, X: Any, y: Any = None) -> "PDGC":
        """Fits the model to the rows of X (y is ignored)."""
        X = _validate_data(self, X, dtype=np.float64, ensure_min_samples=2, reset=True)
        model = self._model(X.shape[1])
        self.fit_: Fit = model.fit(
            X,
            columns=self._columns(),
            epochs=self.epochs,
            lr=self.lr,
            seed=self.seed,
            threads=self.threads,
        )
        self.n_components_ = model.latents
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The posterior means of the sources of X's rows."""
        check_is_fitted(self, "fit_")
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        return self.fit_.encode(X, columns=self._columns())

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """The decoder's mean for sources Z, in the data's units."""
        check_is_fitted(self, "fit_")
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2:
            raise ValueError(f"expected a 2-D array of sources, got {Z.ndim} dimensions")
        return self.fit_.decode(Z)

    def __getstate__(self) -> dict[str, Any]:
        # A fitted estimator keeps its model as the bytes of model.safetensors.
        state = super().__getstate__()
        if "fit_" in state:
            state = dict(state)
            state["fit_"] = state["fit_"].to_bytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("fit_"), bytes):
            state = dict(state)
            state["fit_"] = from_bytes(state["fit_"])
        super().__setstate__(state)
