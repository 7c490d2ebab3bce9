#!/usr/bin/env bash
# pdgc side by side with what a user would run instead (../shared/anchors/): PyTorch eager,
# torch.compile and JAX jit, on the same simulated data, the same architecture, β, learning
# rate and thread count. Each program runs REPEATS times, the four alternating, so that
# drifts of a shared machine hit all of them; each is pinned with taskset to the same
# cores, as many as pdgc's --threads (0, 1, …, or the list CORES names). Prints one line
# per run, then each one's median epochs/s, median peak resident memory of the whole
# process (GNU time) and MCC, and pdgc's ratio to the fastest of the three anchors.
#
#   bash benches/anchor.sh [linear|nonlinear] [T] [EPOCHS] [REPEATS] [THREADS]
#
# Needs python3 with numpy scipy scikit-learn torch jax (../shared/anchors/README.md);
# PYTHON=path/to/python picks another interpreter, ANCHORS= another folder of anchors, and
# PDGC=binary measures a given build of pdgc. An anchor that is not installed is left out.
# On a machine with a GPU the anchors are kept on the CPU, as pdgc is.
#
# ISA=avx2 measures every program as a CPU without AVX-512 would run it, on one that has
# it: pdgc built with --no-default-features (its AVX2 path alone, in target/avx2), XLA told
# to compile for AVX2 at most, torch's ATen kernels, oneDNN and MKL held to AVX2, and
# glibc's string and math functions to their AVX2 versions. (With PDGC= given, that binary
# is measured as it was built: build it with --no-default-features for the AVX2 path.)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-nonlinear}
samples=${2:-5000}
epochs=${3:-400}
repeats=${4:-5}
threads=${5:-1}
anchors=${ANCHORS:-../shared/anchors}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case ${ISA:-native} in
  native) build=(cargo build --release --quiet) default_pdgc=target/release/pdgc ;;
  avx2)
    build=(cargo build --release --quiet --no-default-features --target-dir target/avx2)
    default_pdgc=target/avx2/release/pdgc
    export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_cpu_max_isa=AVX2"
    export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
    export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.cpu.hwcaps=-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL"
    # torch.compile's kernel cache does not tell the two apart: AVX-512 kernels found
    # in the shared cache gave NaN under the AVX2 cap (torch 2.15). Its own cache, then.
    export TORCHINDUCTOR_CACHE_DIR="${TMPDIR:-/tmp}/pdgc-anchor-inductor-avx2" ;;
  *) echo "ISA is native or avx2, not $ISA" >&2; exit 2 ;;
esac
if [ -z "${PDGC:-}" ]; then "${build[@]}"; fi
pdgc=${PDGC:-$default_pdgc}
$pdgc simulate "$scenario" --samples "$samples" --seed 0 -o "$work/sim" > /dev/null
if [ "$scenario" = linear ]; then shape=--linear-decoder; else shape=; fi
# The anchors get the model file's β and learning rate.
resolved=$($pdgc check --pdg "models/$scenario.pdg")
beta=$(echo "$resolved" | sed -n 's/^beta //p')
lr=$(echo "$resolved" | sed -n 's/.* lr \([^;]*\);.*/\1/p')
# The anchors standardise their input; a model that whitens gets it whitened beforehand
# (the same ZCA transform, C^(-1/2) of the correlation matrix, as `preprocess whiten`).
data="$work/sim/data.csv"
if echo "$resolved" | grep -q '^preprocess whiten'; then
  data="$work/whitened.csv"
  "$python" - "$work/sim/data.csv" "$data" <<'PY'
import sys, numpy as np
x = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, ndmin=2)
x = (x - x.mean(0)) / x.std(0)
w, u = np.linalg.eigh(x.T @ x / len(x))
x = x @ (u @ np.diag(w ** -0.5) @ u.T)
np.savetxt(sys.argv[2], x, delimiter=",", header=",".join(f"x{i}" for i in range(x.shape[1])), comments="")
PY
fi

cores=${CORES:-0-$((threads - 1))}
taskset -c "$cores" true || { echo "cannot run on cores $cores (set CORES)" >&2; exit 2; }
# At one thread the JAX anchor sets XLA_FLAGS itself, which would drop the AVX2 cap; a
# copy of it that adds its flags to ours is run instead (the same program otherwise).
jax_anchor=$anchors/pdgmm_jax.py
if [ "${ISA:-native}" = avx2 ] && [ -f "$jax_anchor" ]; then
  sed 's/os.environ\["XLA_FLAGS"\] = "/os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " /' \
    "$jax_anchor" > "$work/pdgmm_jax.py"
  grep -q 'os.environ.get("XLA_FLAGS"' "$work/pdgmm_jax.py" || { echo "the JAX anchor no longer sets XLA_FLAGS as anchor.sh expects" >&2; exit 1; }
  jax_anchor=$work/pdgmm_jax.py
fi
export JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES=
common=(--epochs "$epochs" --beta "$beta" --lr "$lr" --threads "$threads" $shape)
methods=(pdgc)
"$python" -c "import torch" 2> /dev/null && methods+=(torch_eager torch_compile)
"$python" -c "import jax" 2> /dev/null && methods+=(jax_jit)
[ ${#methods[@]} -gt 1 ] || echo "no anchor is installed for $python: pdgc alone" >&2

# One run of a method: writes its sources to $work/$1.csv and prints "epochs/s MiB".
run() {
  local out="$work/$1.csv" log="$work/$1.log"
  case $1 in
    pdgc)
      rm -rf "$work/fit"
      /usr/bin/time -f %M -o "$work/rss" taskset -c "$cores" $pdgc fit "models/$scenario.pdg" "$work/sim/data.csv" \
        -o "$work/fit" --epochs "$epochs" --threads "$threads" --quiet --no-plots
      cut -d, -f1-3 "$work/fit/sources.csv" > "$out"
      eps=$(grep epochs_per_second "$work/fit/run.ron" | tr -dc '0-9.\n') ;;
    torch_eager | torch_compile | jax_jit)
      local script=$anchors/pdgmm_torch.py flag=
      [ "$1" = torch_compile ] && flag=--compile
      [ "$1" = jax_jit ] && script=$jax_anchor
      /usr/bin/time -f %M -o "$work/rss" taskset -c "$cores" "$python" "$script" \
        "$data" "$out" "${common[@]}" $flag > "$log" 2>&1
      eps=$(sed -n 's/.*epochs_per_s //p' "$log") ;;
  esac
  echo "$eps $(( $(tail -1 "$work/rss") / 1024 ))"
}
mcc() { "$python" "$anchors/metrics.py" "$work/sim/truth.csv" "$work/$1.csv" | awk '{print $2}'; }

: > "$work/results"
for r in $(seq 1 "$repeats"); do
  for m in "${methods[@]}"; do
    read -r eps rss < <(run "$m")
    score=$(mcc "$m")
    echo "run $r: $m $eps epochs/s, $rss MiB, MCC $score"
    echo "$m $eps $rss $score" >> "$work/results"
  done
done
"$python" "$anchors/fastica.py" "$work/sim/data.csv" "$work/ica.csv" > /dev/null
echo "FastICA MCC $("$python" "$anchors/metrics.py" "$work/sim/truth.csv" "$work/ica.csv" | awk '{print $2}')"
"$python" - "$work/results" "$scenario" "$samples" "$threads" "${ISA:-native}" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
methods = list(dict.fromkeys(r[0] for r in rows))
med = {m: [st.median(float(r[i]) for r in rows if r[0] == m) for i in (1, 2, 3)] for m in methods}
print(f"{sys.argv[2]}, T = {sys.argv[3]}, threads {sys.argv[4]}, ISA {sys.argv[5]}: medians")
for m in methods:
    print(f"  {m:14s} {med[m][0]:8.1f} epochs/s  {med[m][1]:6.0f} MiB  MCC {med[m][2]:.3f}")
anchors = [m for m in methods if m != "pdgc"]
if anchors:
    best = max(anchors, key=lambda m: med[m][0])
    least = min(med[m][1] for m in anchors)
    print(f"  pdgc / fastest anchor ({best}): {med['pdgc'][0] / med[best][0]:.2f}x epochs/s; "
          f"peak RSS pdgc / least anchor: {med['pdgc'][1] / least:.2f}")
PY
