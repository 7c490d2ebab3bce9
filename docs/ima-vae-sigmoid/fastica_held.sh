#!/usr/bin/env bash
# fastica_held.sh RUN_DIR: FastICA fitted on a run's training rows, its unmixing applied to the held-out rows, scored as the VAE is.
d=$1; pdgc=${PDGC:-pdgc}; python=${PYTHON:-python3}
cd $d
$pdgc fastica train_data.csv -o ica_train.csv --unmixing ica_unmixing.csv > /dev/null 2>&1
"$python" - <<'PY'
import numpy as np
W=np.loadtxt('ica_unmixing.csv',delimiter=',',skiprows=1,ndmin=2)
X=np.loadtxt('held_data.csv',delimiter=',',skiprows=1,ndmin=2)
S=(X-X.mean(0))@W.T
np.savetxt('ica_held.csv',S,delimiter=',',header=','.join(f'z{i}' for i in range(S.shape[1])),comments='')
PY
$pdgc eval held_truth.csv ica_held.csv --json | python3 -c "import json,sys; print('$d', json.load(sys.stdin)['mcc'])"
