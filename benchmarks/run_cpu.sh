#!/usr/bin/env sh
# The committed CPU results: the full `dsgdn bench` (about 20 minutes on two
# cores), then what each change to the sparse block bought.
set -e
cd "$(dirname "$0")/.."
dsgdn bench --device cpu "$@"
python benchmarks/paths.py
