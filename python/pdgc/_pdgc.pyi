# Type stubs of the Rust extension module (python/src/lib.rs).
from __future__ import annotations

from os import PathLike
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

ArrayLike = Any  # a 2-D array-like of numbers, or a pandas DataFrame
StrPath = Union[str, PathLike[str]]

class ModelError(ValueError):
    """A model that does not pass the checker; the message is `pdgc check`'s diagnostics."""

class DataError(ValueError):
    """Data that do not suit the model (a value that is not finite, a constant column,
    too few rows, a missing column); the message names the row and column."""

class FitError(RuntimeError):
    """A fit that could not be made: training diverged, or threads could not be started."""

class FolderError(ValueError):
    """A fit folder or model.safetensors file that cannot be read."""

class Model:
    """A checked model: `Model(text)` or `Model.from_file(path)`."""

    def __init__(self, text: str, name: str = "<model>") -> None: ...
    @staticmethod
    def from_file(path: StrPath) -> Model:
        """Reads and compiles the `.pdg` file at `path`."""
    @property
    def name(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def observed(self) -> list[str]: ...
    @property
    def latents(self) -> int: ...
    def to_pdg(self) -> str: ...
    def fit(
        self,
        x: ArrayLike,
        *,
        columns: Optional[Sequence[str]] = None,
        epochs: Optional[int] = None,
        lr: Optional[float] = None,
        seed: Optional[int] = None,
        threads: int = 1,
        truth: Optional[ArrayLike] = None,
        progress: bool = False,
        callback: Optional[Callable[[int, dict[str, float]], Optional[bool]]] = None,
    ) -> Fit:
        """Fits the model to the rows of `x` and returns a `Fit`."""

class Fit:
    """A fitted model: sources, priors, trace, recovery; encode, sample, decode, save."""

    @property
    def sources(self) -> npt.NDArray[np.float64]: ...
    @property
    def sources_sd(self) -> npt.NDArray[np.float64]: ...
    @property
    def priors(self) -> list[dict[str, Any]]: ...
    @property
    def trace(self) -> Any:
        """A pandas DataFrame (or, without pandas, a dict of numpy arrays)."""
    @property
    def recovery(self) -> Optional[dict[str, Any]]: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def model(self) -> Model: ...
    @property
    def columns(self) -> list[str]: ...
    @property
    def train_seconds(self) -> float: ...
    @property
    def epochs_per_second(self) -> float: ...
    def encode(
        self, x: ArrayLike, *, columns: Optional[Sequence[str]] = None, sd: bool = False
    ) -> Any:
        """Posterior means of new rows (and, with sd=True, a tuple with their sds)."""
    def sample(
        self, n: int, *, seed: int = 0
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def decode(self, z: ArrayLike) -> npt.NDArray[np.float64]: ...
    def save(self, path: StrPath) -> None: ...
    def report(self, path: StrPath) -> None: ...
    def to_bytes(self) -> bytes: ...
    def _repr_html_(self) -> str: ...

def load(path: StrPath) -> Fit:
    """Reads a fit folder, or a model.safetensors file."""

def from_bytes(bytes: bytes) -> Fit:
    """A fit from the bytes of a model.safetensors file."""

def simulate(
    scenario: str,
    *,
    samples: int = 5000,
    seed: int = 0,
    sources: Optional[int] = None,
    observed: Optional[int] = None,
    layers: Optional[int] = None,
    orthogonal: bool = False,
    noise: float = 0.0,
    marginals: Optional[Sequence[str]] = None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]
]: ...
def fastica(
    x: ArrayLike, n_sources: Optional[int] = None, *, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def recovery(s: ArrayLike, z: ArrayLike) -> dict[str, Any]: ...
def amari(a: ArrayLike, w: ArrayLike) -> float: ...
def version() -> str: ...
def _compare(
    models: Sequence[tuple[str, Model]],
    problems: Sequence[tuple[int, ArrayLike, ArrayLike, Optional[Sequence[str]]]],
    *,
    fastica: bool = True,
    jobs: int = 1,
) -> list[dict[str, Any]]: ...
def _fit_from_files(
    files: Sequence[tuple[str, bytes]], recovery: Optional[dict[str, Any]], stopped: bool
) -> Fit: ...
