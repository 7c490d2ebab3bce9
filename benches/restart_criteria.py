"""How well each label-free criterion picks among restarts (issue 25), from the
restarts_each.csv that benches/issue25_sweep.sh writes (PARTS=restarts).

    python3 benches/restart_criteria.py RESTARTS_EACH.csv [COMPARE.csv]

For each criterion: the mean MCC of the restart it keeps (± sd, min), how often that is
the best-recovering restart, the mean shortfall from the best, and the rank correlation
of the criterion with MCC within a seed (Spearman, averaged over seeds); beside them one
fit (restart 0, a fit with its own seed like any other) and the best restart, which only
the truth can pick. With a `compare --csv` file of the same data seeds, each is also
paired with its FastICA rows: wins / ties (within 0.005) / losses and the mean difference
with a bootstrap 95 % interval (10 000 resamples of the seeds, from a fixed seed).
Pure Python: no numpy needed.
"""
import csv
import random
import statistics as st
import sys

# criterion: (column, whether higher is better)
CRITERIA = {
    "objective (lowest)": ("objective", False),
    "independence (lowest dependence)": ("dependence", False),
    "agreement (highest)": ("agreement", True),
}


def ranks(values):
    """Ranks from 0, tied values sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            r[i] = (start + end) / 2
        start = end + 1
    return r


def score(row, column, higher):
    """A restart's criterion, the worst possible where the run recorded none (NaN)."""
    if row[column]:
        return float(row[column])
    return float("-inf") if higher else float("inf")


def spread(values):
    return st.stdev(values) if len(values) > 1 else 0.0


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = st.mean(ra), st.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else 0.0


def paired(kept, fastica):
    seeds = sorted(s for s in kept if s in fastica)
    if not seeds:
        return "no seed in common", float("nan"), float("nan"), float("nan")
    diffs = [kept[s] - fastica[s] for s in seeds]
    wins = sum(d > 0.005 for d in diffs)
    losses = sum(d < -0.005 for d in diffs)
    rng = random.Random(0)
    means = sorted(
        st.mean(rng.choice(diffs) for _ in diffs) for _ in range(10_000)
    )
    low, high = means[249], means[9749]
    return f"{wins} / {len(diffs) - wins - losses} / {losses}", st.mean(diffs), low, high


def main():
    by_seed = {}
    for row in csv.DictReader(open(sys.argv[1])):
        if row["mcc"]:
            by_seed.setdefault(row["seed"], []).append(row)
    fastica = {}
    if len(sys.argv) > 2:
        for row in csv.DictReader(open(sys.argv[2])):
            if row["method"] == "fastica" and row["mcc"]:
                fastica[row["seed"]] = float(row["mcc"])
    complete = {s: rs for s, rs in by_seed.items() if len(rs) >= 2}
    print(f"{len(complete)} seeds with at least two restarts ({sys.argv[1]})")
    choices = {}
    for name, (column, higher) in CRITERIA.items():
        kept, shortfall, best_picked, rho = {}, [], 0, []
        for seed, rows in complete.items():
            scores = [score(r, column, higher) for r in rows]
            mcc = [float(r["mcc"]) for r in rows]
            pick = (max if higher else min)(range(len(rows)), key=lambda i: scores[i])
            kept[seed] = mcc[pick]
            shortfall.append(max(mcc) - mcc[pick])
            best_picked += mcc[pick] == max(mcc)
            signed = scores if higher else [-v for v in scores]
            rho.append(spearman(signed, mcc))
        choices[name] = (kept, best_picked, st.mean(shortfall), st.mean(rho))
    first = {s: next((r for r in rs if r["restart"] == "0"), None) for s, rs in complete.items()}
    one = {s: float(r["mcc"]) for s, r in first.items() if r is not None}
    best = {s: max(float(r["mcc"]) for r in rs) for s, rs in complete.items()}
    n = len(complete)
    header = "| keep the restart with … | MCC mean ± sd (min) | picks the best | mean shortfall | rank correlation |"
    if fastica:
        header += " W / T / L against FastICA | Δ MCC, bootstrap 95 % |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))

    def line(name, kept, extra):
        values = list(kept.values())
        text = f"| {name} | {st.mean(values):.4f} ± {spread(values):.4f} ({min(values):.4f}) | {extra} |"
        if fastica:
            wtl, mean, low, high = paired(kept, fastica)
            text += f" {wtl} | {mean:+.4f} [{low:+.4f}, {high:+.4f}] |"
        print(text)

    for name, (kept, picked, short, rho) in choices.items():
        line(name, kept, f"{picked} of {n} | {short:.4f} | {rho:.2f}")
    line("one fit (restart 0)", one, " | | ")
    line("the best restart (needs the truth)", best, " | | ")
    if fastica:
        values = [fastica[s] for s in complete if s in fastica]
        print(f"FastICA on the same seeds: {st.mean(values):.4f} ± {spread(values):.4f}")


if __name__ == "__main__":
    main()
