#!/bin/sh
# Builds custom-crm-py.wasm from app.py with componentize-py (pinned in
# plugins/toolchains/requirements.txt). Run from anywhere; OUT overrides the output path.
set -eu
cd "$(dirname "$0")"
exec componentize-py -d ../../wit/v0.1.0 -w mapper componentize \
    -p . -p ../sdk-py -p ../../schemas -p ../custom-crm \
    app -o "${OUT:-custom-crm-py.wasm}"
