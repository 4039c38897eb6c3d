#!/usr/bin/env bash
# Installs the pinned Python and JavaScript plugin toolchains where the tests
# and `dialsync plugin new` projects look for them:
#   .toolchains/py  — a venv with componentize-py   (requirements.txt)
#   .toolchains/js  — node_modules with componentize-js and rolldown (package-lock.json)
# Needs python3 (with venv) and node/npm. Idempotent; run by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${DIALSYNC_PLUGIN_TOOLCHAINS:-$(cd "$here/../.." && pwd)/.toolchains}"
mkdir -p "$root/js"
if [ ! -x "$root/py/bin/python" ]; then
    python3 -m venv "$root/py"
fi
"$root/py/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/package.json" "$here/package-lock.json" "$root/js/"
(cd "$root/js" && npm ci --no-audit --no-fund --silent)
echo "plugin toolchains ready in $root"
