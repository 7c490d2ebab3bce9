"""`pdgc.sklearn.PDGC` as scikit-learn expects an estimator to behave."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pdgc  # noqa: E402
from conftest import MODELS  # noqa: E402
from pdgc.sklearn import PDGC  # noqa: E402

# Checks expected to fail, with the reason.
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_methods_subset_invariance": (
        "the encoder computes in float32, and how a matrix product is blocked may depend "
        "on the number of rows: a row's sources in a batch and alone agree to float32 "
        "precision (about 5e-7), not always to the 1e-7 this check asks. It depends on "
        "the CPU's kernels: with gemm 0.19's AVX-512 path it passes (an unexpected pass "
        "is not a failure here)"
    ),
}


@parametrize_with_checks(
    [PDGC(epochs=20)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_transform_gives_the_sources_and_inverse_transform_the_data():
    x, s, _ = pdgc.simulate("linear", samples=500, seed=4)
    est = PDGC(model=str(MODELS / "linear.pdg"), epochs=200)
    z = est.fit_transform(x)
    assert z.shape == (500, 3)
    assert est.n_features_in_ == 3 and est.n_components_ == 3
    assert pdgc.mcc(s, z) > 0.7
    back = est.inverse_transform(z)
    assert back.shape == x.shape
    assert np.corrcoef(back[:, 0], x[:, 0])[0, 1] > 0.9


def test_a_dataframe_sets_feature_names_in():
    pandas = pytest.importorskip("pandas")
    x, _, _ = pdgc.simulate("linear", samples=200, seed=5)
    frame = pandas.DataFrame(x, columns=["a", "b", "c"])
    est = PDGC(epochs=5).fit(frame)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    assert est.transform(frame).shape == (200, 3)


def test_a_model_object_or_text_is_a_parameter_and_clones():
    text = (MODELS / "linear.pdg").read_text()
    for model in [pdgc.Model(text), text]:
        est = PDGC(model=model, epochs=5)
        twin = clone(est)
        assert twin.get_params()["epochs"] == 5
        x, _, _ = pdgc.simulate("linear", samples=100, seed=1)
        assert np.array_equal(twin.fit_transform(x), est.fit_transform(x))


def test_a_fitted_estimator_pickles_through_its_model_bytes():
    x, _, _ = pdgc.simulate("linear", samples=200, seed=6)
    est = PDGC(epochs=10).fit(x)
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.transform(x), est.transform(x))
    assert np.array_equal(again.inverse_transform(est.transform(x)), est.inverse_transform(est.transform(x)))


def test_in_a_pipeline_with_cross_validation():
    x, s, _ = pdgc.simulate("linear", samples=300, seed=8)
    pipe = make_pipeline(StandardScaler(), PDGC(epochs=30), LinearRegression())
    scores = cross_val_score(pipe, x, s[:, 0], cv=3)
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
