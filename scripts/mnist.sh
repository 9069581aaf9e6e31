#!/usr/bin/env bash
# The main job, from a fresh clone: install, start the three servers on this machine, upload
# MNIST as secret shares, train network A on the shares, predict the test set, print results.
#
#   ./scripts/mnist.sh                 # 2 epochs (~97% test accuracy)
#   EPOCHS=10 ./scripts/mnist.sh       # the full run
#
# Environment: EPOCHS (2), MODEL (configs/models/mnist_a.toml), SPP_MNIST_DIR (the IDX files;
# default: shared/data/mnist in a parent directory), SPP_RUN_DIR (run/mnist), KEEP=1 leaves
# the cluster running. Rerunning resumes an interrupted training after its last epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
spp=.venv/bin/spp
EPOCHS="${EPOCHS:-2}"
MODEL="${MODEL:-configs/models/mnist_a.toml}"
export SPP_RUN_DIR="${SPP_RUN_DIR:-$PWD/run/mnist}"
MNIST="${SPP_MNIST_DIR:-$(.venv/bin/python -c 'from spp_runtime.data.mnist import default_mnist_dir; print(default_mnist_dir())')}"
mkdir -p out

$spp cluster up
[ "${KEEP:-0}" = 1 ] || trap '$spp cluster down' EXIT

upload() {  # NAME IMAGES LABELS (skipped when the servers already hold NAME)
  if $spp datasets show "$1" >/dev/null 2>&1; then
    echo "dataset $1 is already stored; not uploading it again"
  else
    $spp upload --dataset "$1" --labels "$3" --scale 1/255 "$2"
  fi
}
upload mnist-train "$MNIST/train-images-idx3-ubyte.gz" "$MNIST/train-labels-idx1-ubyte.gz"
upload mnist-test "$MNIST/t10k-images-idx3-ubyte.gz" "$MNIST/t10k-labels-idx1-ubyte.gz"

$spp train --model "$MODEL" --dataset mnist-train --test-dataset mnist-test --report-accuracy \
  --epochs "$EPOCHS" --out out/mnist_model.npz
$spp infer --model out/mnist_model.npz --dataset mnist-test --out out/mnist_predictions.npy
