"""Two methods of one `compare --csv` file, paired seed by seed (issue 25).

    python3 benches/paired.py COMPARE.csv A B

Prints, as a Markdown table: A, B and FastICA (where the file has it) as MCC mean ± sd
(min) over the seeds all have; B − A and each against FastICA as wins / ties (within
0.005) / losses and the mean difference with a bootstrap 95 % interval (10 000 resamples of
the seeds, from a fixed seed, as benches/restart_criteria.py). Pure Python.
"""
import csv
import statistics as st
import sys

from restart_criteria import paired, spread


def mcc_by_method(path):
    """A `compare --csv` file's MCC as {method: {seed: MCC}}, failed runs left out."""
    mcc = {}
    for row in csv.DictReader(open(path)):
        if row["mcc"]:
            mcc.setdefault(row["method"], {})[row["seed"]] = float(row["mcc"])
    return mcc


def main():
    path, a, b = sys.argv[1:4]
    mcc = mcc_by_method(path)
    for name in (a, b):
        if name not in mcc:
            sys.exit(f"{path}: no runs of {name} (methods: {', '.join(sorted(mcc))})")
    seeds = set(mcc[a]) & set(mcc[b])
    methods = [a, b] + (["fastica"] if "fastica" in mcc else [])
    for m in methods:
        seeds &= set(mcc[m])
    of = {m: {s: mcc[m][s] for s in seeds} for m in methods}
    print(f"{path}: {len(seeds)} seeds")
    print("| method | MCC mean ± sd (min) | against | W / T / L | Δ MCC, bootstrap 95 % |")
    print("| --- | --- | --- | --- | --- |")
    for m in methods:
        values = list(of[m].values())
        print(f"| {m} | {st.mean(values):.4f} ± {spread(values):.4f} ({min(values):.4f}) | | | |")
    pairs = [(b, a)] + ([(a, "fastica"), (b, "fastica")] if "fastica" in of else [])
    for x, y in pairs:
        wtl, mean, low, high = paired(of[x], of[y])
        print(f"| {x} | | {y} | {wtl} | {mean:+.4f} [{low:+.4f}, {high:+.4f}] |")
    print()


if __name__ == "__main__":
    main()
