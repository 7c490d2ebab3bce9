"""Shared fixtures: the repository's model files, small simulated data, and the `pdgc`
command-line binary (to check that Python and the CLI give the same numbers)."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

import pdgc

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def pdgc_bin() -> str:
    """The `pdgc` binary: $PDGC_BIN (the test command sets it), else built here."""
    path = os.environ.get("PDGC_BIN")
    if path:
        return path
    subprocess.run(["cargo", "build", "--quiet", "--bin", "pdgc"], cwd=ROOT, check=True)
    return str(ROOT / "target" / "debug" / "pdgc")


@pytest.fixture(scope="session")
def linear_model() -> pdgc.Model:
    return pdgc.Model.from_file(MODELS / "linear.pdg")


@pytest.fixture(scope="session")
def linear_data():
    x, s, a = pdgc.simulate("linear", samples=600, seed=7)
    return x, s, a


@pytest.fixture(scope="session")
def small_fit(linear_model, linear_data):
    x, s, _ = linear_data
    return linear_model.fit(x, epochs=40, truth=s)
