#!/usr/bin/env bash
# The project's test command: the Rust tests, then the Python package's.
#
#   ./test.sh            everything
#   ./test.sh --python   the Python tests alone (after the Rust ones built the binary)
#
# The Python tests run in a virtual environment this script makes (target/pyenv, with
# python/requirements-test.txt), against the extension built in place by maturin.
set -euo pipefail
cd "$(dirname "$0")"

if [ "${1:-}" != "--python" ]; then
  cargo test --locked
fi

python=${PYTHON:-python3}
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-test.txt

# Optimised as the Rust tests are, without the release profile's LTO (minutes longer).
VIRTUAL_ENV="$PWD/$venv" "$venv/bin/maturin" develop --quiet --locked --profile python-test \
  --manifest-path python/Cargo.toml
# The CLI the Python tests compare with: the one `cargo test` built (same numerics); with
# --python, built here if anything changed since.
if [ "${1:-}" = "--python" ] || [ ! -x target/debug/pdgc ]; then
  cargo build --locked --quiet --bin pdgc
fi
export PDGC_BIN="$PWD/target/debug/pdgc"
"$venv/bin/python" -m pytest -q python/tests
# The README's notebook-style quick start, run whole in a scratch folder.
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && PDGC_QUICKSTART_EPOCHS=100 "$root/$venv/bin/python" "$root/examples/python/quickstart.py")
