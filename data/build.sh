#!/usr/bin/env bash
# Rebuild data/poems.txt, data/dialogues.jsonl, data/dialogues_shakespeare.jsonl
# and the LICENSE-*.txt files.
# Needs: npm (for the chinese-poetry package), pip, Python >= 3.10 with PyYAML
# (a textgan dependency), and access to the npm registry and PyPI.
# Extra arguments go to build_corpora.py (e.g. --cache DIR, --no-shakespeare,
# --corpora dialogues to rebuild only some files, without npm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ " $* " == *" --corpora "* && " $* " != *poems* ]] || command -v npm >/dev/null || { echo "build.sh: npm not found (apt-get install npm)" >&2; exit 1; }
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$here/../.venv/bin/python" ]]; then py="$here/../.venv/bin/python"; else py=python3; fi
fi
exec "$py" "$here/build_corpora.py" --out "$here" "$@"
