#!/usr/bin/env bash
# The design card's flow on the shipped defaults, as a user runs it: the demo supernet that ships
# with the package (OFA MobileNetV3 w0.5 trained on Fashion-MNIST), this machine's CPU as the target.
#   1. profile:   time the supernet's blocks on this CPU, then fit them to whole random subnets timed end
#                 to end (--method fit, the default) -> a fresh latency table (resumes if rerun)
#   2. validate:  time other random whole subnets against that table, no calibration (stored with the table)
#   3. search:    best predicted accuracy under a latency budget, on the table just measured
#   4. export:    the chosen subnet to TFLite fp32, TFLite int8 and ONNX, each verified against PyTorch
#   5. benchmark: each exported file timed on this CPU: measured vs predicted vs the budget
#   then report:  all of it as one self-contained HTML page (runs/demo/report.html)
# Steps 3-5 name no device, table, subnet or supernet: each reads what the step before recorded.
# The records live in $OFA_DEPLOY_HOME (here runs/demo/home, so the demo leaves your own alone).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/demo
export OFA_DEPLOY_HOME=${OFA_DEPLOY_HOME:-$PWD/$OUT/home}
mkdir -p $OUT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

# One resolution, two sessions of at most 50 timed runs per block: a minute on this CPU, and
# stable medians (the shipped table took the defaults: all resolutions, 3 sessions, 200 runs).
step "1/5 ofa-deploy profile --device cpu --resolutions 32 --sessions 2 --max-runs 50 -o $OUT/cpu-table"
ofa-deploy profile --device cpu --resolutions 32 --sessions 2 --max-runs 50 -o $OUT/cpu-table | tee $OUT/profile.txt
# The budget profile suggests (the middle subnet's predicted latency), unless BUDGET is given.
BUDGET=${BUDGET:-$(sed -n 's/^next: ofa-deploy search --latency //p' $OUT/profile.txt)}

step "2/5 ofa-deploy latency validate -t $OUT/cpu-table -r 32 -n 16 --sessions 2"
ofa-deploy latency validate -t $OUT/cpu-table -r 32 -n 16 --sessions 2

step "3/5 ofa-deploy search --latency $BUDGET"
ofa-deploy search --latency "$BUDGET" -o $OUT/subnet.json
ofa-deploy subnet show $OUT/subnet.json

step "4/5 ofa-deploy export (the last search's subnet and supernet): TFLite fp32, TFLite int8, ONNX"
ofa-deploy export --format tflite -o $OUT/subnet.tflite
# Full-integer int8 is verified like the others, but on this small net its accuracy drop sits at the
# 1-point limit (0.5 to 1.7 points measured on 1000 test images, depending on the subnet), so a failed
# int8 verification (exit code 1: the file is kept as *.failed.tflite) is said and the demo goes on.
int8=1
ofa-deploy export --format tflite --int8 -o $OUT/subnet.int8.tflite || { rc=$?; [ $rc = 1 ] || exit $rc; int8=0; }
ofa-deploy export --format onnx -o $OUT/subnet.onnx

step "5/5 ofa-deploy benchmark (each file; a bare \`benchmark\` times the last export)"
ofa-deploy benchmark $OUT/subnet.tflite
if [ $int8 = 1 ]; then ofa-deploy benchmark $OUT/subnet.int8.tflite
else echo "int8: not benchmarked (it did not pass verification; see $OUT/subnet.int8.failed.tflite.report.json)"; fi
ofa-deploy benchmark

step "report: ofa-deploy report (the whole flow as one HTML page, no network needed to view it)"
ofa-deploy report -o $OUT/report.html

printf '\nDone in %ss: files in %s/ (each export with its verification report, *.report.json).\n' \
  "$(( $(date +%s) - started ))" "$OUT"
printf 'Report: %s\n' "$PWD/$OUT/report.html"
