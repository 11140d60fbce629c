#!/usr/bin/env bash
# Train on your own corpus in each accepted format (see docs/corpora.md).
set -euo pipefail
out=${1:-runs/custom}
printf 'the cat sat on the mat\nthe dog ran far away\na bird sang a song\n' > /tmp/my_corpus.txt
textgan train --corpus /tmp/my_corpus.txt --tokenizer char --model lstm --epochs 2 --out "$out-txt" \
  --set data.validation_fraction=0 --set data.test_fraction=0
python - <<'PY'
import json
lines = ["the cat sat on the mat", "the dog ran far away", "a bird sang a song"]
with open("/tmp/my_corpus.jsonl", "w") as f:
    for line in lines:
        f.write(json.dumps({"sentence": line}) + "\n")
PY
textgan train --corpus /tmp/my_corpus.jsonl --text-field sentence --tokenizer bpe --model transformer \
  --epochs 2 --out "$out-jsonl" --set tokenizer.vocab_size=64 --set data.validation_fraction=0 \
  --set data.test_fraction=0 --set model.embedding_dim=32 --set model.num_heads=2
textgan sample "$out-jsonl" -n 3
