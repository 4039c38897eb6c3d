#!/bin/sh
# Builds plugin.wasm with componentize-py (pip install componentize-py==0.25.1).
set -eu
cd "$(dirname "$0")"
exec componentize-py -d wit/v0.1.0 -w mapper componentize -p . app -o "${OUT:-plugin.wasm}"
