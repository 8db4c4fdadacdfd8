#!/usr/bin/env bash
# The main job on the shipped defaults, as a user runs it: the demo supernet that ships with the
# package (OFA MobileNetV3 w0.5 trained on Fashion-MNIST), this machine's CPU as the target.
#   1. profile: time the supernet's blocks on this CPU (a fresh table in runs/demo/; resumes if rerun)
#   2. search:  best predicted accuracy under a latency budget (shipped calibrated CPU table + predictor)
#   3. export:  the chosen subnet to TFLite (fp32 and int8) and ONNX, each verified against PyTorch
#   4. benchmark: the exported file timed on this CPU, next to the table's prediction
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/demo
BUDGET=${BUDGET:-0.35ms}
mkdir -p $OUT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/4 ofa-deploy profile --device cpu --resolutions 32 --out $OUT/cpu-table"
ofa-deploy profile --device cpu --resolutions 32 --out $OUT/cpu-table

step "2/4 ofa-deploy search --device cpu --latency $BUDGET"
ofa-deploy search --device cpu --latency "$BUDGET" --out $OUT/subnet.json
ofa-deploy subnet show $OUT/subnet.json

step "3/4 ofa-deploy export (the last search's subnet): TFLite fp32, TFLite int8, ONNX"
ofa-deploy export --format tflite --out $OUT/subnet.tflite
ofa-deploy export --format tflite --int8 --out $OUT/subnet.int8.tflite
ofa-deploy export --format onnx --out $OUT/subnet.onnx

step "4/4 ofa-deploy benchmark $OUT/subnet.onnx --device cpu"
ofa-deploy benchmark $OUT/subnet.onnx --device cpu

printf '\nDone: files in %s/ (each with its verification report, *.report.json).\n' "$OUT"
