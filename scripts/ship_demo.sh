#!/usr/bin/env bash
# How the artefacts shipped in src/ofa_deploy/_data/ and latency_tables/cpu/ were made, in order.
# Each step resumes where it stopped: rerun the script after an interruption. About 2.5 h on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=src/ofa_deploy/_data
# 1. The demo supernet: progressive shrinking on Fashion-MNIST (runs/ is scratch space, not shipped).
#    Two data-parallel processes of 1 thread each, 64 of the recipe's 128 images per step each: on
#    these 2 cores that is 1.2-1.5x faster than one process of 2 threads (the net is too small for
#    intra-op threads to pay). Same recipe, same steps; only the BN batches are 64 images.
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 --no-python ofa-deploy train --recipe demo-fmnist \
  --out runs/demo-fmnist --threads 1 --resume
# 2. The paper's baselines: the largest, middle and smallest subnet trained alone (first phase's budget).
#    Largest: the first phase of step 1 is that run. The other two side by side, one process of 1 thread
#    each (these small nets gain nothing from data parallel here; BN batches are 128 images).
pids=()
for w in smallest middle; do
  ofa-deploy train --recipe demo-fmnist --from-scratch $w --out runs/scratch-$w --threads 1 --resume &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done  # fails here if either baseline failed
# 3. The report with both side by side; then the shipped files.
ofa-deploy train --recipe demo-fmnist --out runs/demo-fmnist --resume \
  --compare-scratch runs/scratch-middle --compare-scratch runs/scratch-smallest
mkdir -p $DATA/demo-fmnist/accuracy_dataset $DATA/predictors
cp runs/demo-fmnist/supernet.pt runs/demo-fmnist/report.md runs/demo-fmnist/report.json $DATA/demo-fmnist/
cp runs/demo-fmnist/log.jsonl $DATA/demo-fmnist/training_log.jsonl
# 4. Its accuracy predictor: 400 random subnets evaluated on the validation split, MLP fitted.
ofa-deploy predictor dataset --samples 400 --out runs/accuracy-demo-fmnist --threads 2
cp runs/accuracy-demo-fmnist/rows.csv runs/accuracy-demo-fmnist/meta.json $DATA/demo-fmnist/accuracy_dataset/
ofa-deploy predictor fit runs/accuracy-demo-fmnist --out $DATA/predictors/demo.npz --name "demo-fmnist accuracy predictor"
# 5. Its latency table on this machine's CPU (onnxruntime, 1 thread), validated and calibrated.
#    OFA_DEPLOY_TABLES points the user's tables folder at the repository's latency_tables/ (what ships).
export OFA_DEPLOY_TABLES=latency_tables
ofa-deploy profile --device cpu --resolutions all
ofa-deploy latency validate --device cpu --supernet $DATA/demo-fmnist/supernet.pt --samples 60 --calibrate
