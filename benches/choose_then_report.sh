#!/usr/bin/env bash
# Issue 25's choose-then-report in one command, for a machine that runs it unattended:
# the reference and its candidates on data seeds 0–19 (benches/candidates.sh), the
# candidate with the highest mean MCC there picked by a script, not a person, then the
# reference and that candidate on seeds 1000–1019, which nothing was chosen on.
#
#   bash benches/choose_then_report.sh OUT JOBS SCENARIO=REF.pdg,CAND.pdg[,…]
#
# Writes OUT/seeds-0-19/, OUT/seeds-1000-1019/ (candidates.sh's files) and OUT/choice.txt:
# each candidate's mean MCC on seeds 0–19 less the reference's, the one picked, and
# whether it clears the rule's +0.01 (docs/nonlinear-choice/RULE.md). PDGC and PYTHON are
# passed on to candidates.sh. One scenario a call: each has its own pick.
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
out=$1; jobs=$2; group=$3
python=${PYTHON:-python3}
here=$(dirname "$0")
bash "$here/candidates.sh" "$out/seeds-0-19" 0 20 "$jobs" "$group"
scenario=${group%%=*}
IFS=, read -r -a files <<< "${group#*=}"
# The picked candidate's file, its line in OUT/choice.txt saying why.
chosen=$("$python" - "$here" "$out/seeds-0-19/$scenario.csv" "$out/choice.txt" "${files[@]}" <<'PY'
import os, statistics, sys
here, path, report, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path.insert(0, here)
from paired import mcc_by_method

by_stem = {os.path.basename(f)[: -len(".pdg")]: f for f in files}
ref, *candidates = by_stem
mcc = mcc_by_method(path)
lines = [f"{path}: reference {ref}, mean MCC {statistics.mean(mcc[ref].values()):.4f} over {len(mcc[ref])} seeds"]
gains = {}
for s in candidates:
    # A candidate that failed on some seed is compared where both ran, and says so.
    both = set(mcc[ref]) & set(mcc.get(s, {}))
    gains[s] = statistics.mean(mcc[s][k] - mcc[ref][k] for k in both) if both else float("-inf")
    lines.append(f"{s}: {gains[s]:+.4f} against {ref} over {len(both)} seeds")
best = max(gains, key=gains.get)
verdict = "clears" if gains[best] >= 0.01 else "does not clear"
lines.append(f"picked {best} ({gains[best]:+.4f}), which {verdict} the rule's +0.01")
open(report, "w").write("\n".join(lines) + "\n")
print(by_stem[best])
PY
)
echo "picked $chosen"
bash "$here/candidates.sh" "$out/seeds-1000-1019" 1000 20 "$jobs" "$scenario=${files[0]},$chosen"
cat "$out/choice.txt"
