"""pdgc from Python, as a notebook would use it: simulate data, fit a model, compare it
with FastICA, and write a report. Run from anywhere:

    python examples/python/quickstart.py

(`./test.sh` runs it, with fewer epochs, in a scratch folder.)
"""

import os
import pathlib

import pdgc

MODELS = pathlib.Path(__file__).resolve().parents[2] / "models"
EPOCHS = int(os.environ.get("PDGC_QUICKSTART_EPOCHS", "300"))

# Three sources mixed by a Möbius transformation (the paper's §4.2 setting), and their truth.
X, S, _ = pdgc.simulate("moebius", samples=2000, seed=1000)

# The model is a .pdg file; fitting it is one call (the GIL is released while it trains).
model = pdgc.Model.from_file(MODELS / "homogeneous.pdg")
fit = model.fit(X, truth=S, epochs=EPOCHS, progress=True)

# Recovery: pdgc's posterior means against the truth, side by side with FastICA's.
fastica_sources, _ = pdgc.fastica(X, seed=0)
print(f"pdgc MCC {fit.recovery['mcc']:.3f}, FastICA MCC {pdgc.mcc(S, fastica_sources):.3f}")

# The fit as a browser (or a notebook cell: `fit` alone) shows it, and as a folder.
fit.report("report.html")
fit.save("quickstart-fit")
print("wrote report.html and quickstart-fit/")

# The same model and data, fitted again by pdgc.load: new rows encode the same way.
again = pdgc.load("quickstart-fit")
assert (again.encode(X[:10]) == fit.encode(X[:10])).all()
