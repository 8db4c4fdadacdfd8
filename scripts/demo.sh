#!/usr/bin/env bash
# The main job on the shipped defaults: filled in as the pipeline lands.
set -euo pipefail
ofa-deploy --help
