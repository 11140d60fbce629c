"""Char, word and BPE tokenizers built with the `tokenizers` library, saved as tokenizer.json.

The saved file loads with `tokenizers.Tokenizer.from_file` and with
`transformers.PreTrainedTokenizerFast(tokenizer_file=...)`. Special tokens have fixed ids so a
checkpoint can check that a tokenizer matches it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from textgan.config import TokenizerConfig
from textgan.errors import CheckpointError, DataError

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK, SEP = "<pad>", "<bos>", "<eos>", "<unk>", "<sep>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, SEP]
# role -> token string; a pretrained model's tokenizer brings its own (GPT-2: <|endoftext|>)
DEFAULT_SPECIALS = {"pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK, "sep": SEP}
PRETRAINED = "pretrained"  # the kind of a tokenizer that came with a Hugging Face model
CHARS_PER_TOKEN = 8  # first guess of how many characters hold one token (a window grows if not)
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)


def _nltk_words(text: str) -> str:
    from nltk.tokenize import NLTKWordTokenizer

    return " ".join(NLTKWordTokenizer().tokenize(text))


class TextTokenizer:
    """A `tokenizers.Tokenizer` plus the textgan conventions (special ids, word-split mode)."""

    def __init__(self, tokenizer: Tokenizer, kind: str, word_split: str = "whitespace",
                 specials: dict[str, str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.kind = kind
        self.word_split = word_split
        self.specials = dict(DEFAULT_SPECIALS if specials is None else specials)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def special_id(self, role: str) -> int | None:
        """Id of the special token playing `role` (pad, bos, eos, unk, sep), None without one."""
        token = self.specials.get(role)
        return None if token is None else self.token_id(token)

    @property
    def pad_id(self) -> int | None:
        return self.special_id("pad")

    @property
    def bos_id(self) -> int:
        bos = self.special_id("bos")
        return 0 if bos is None else bos  # vocabularies without <bos> (the oracle) start from id 0

    @property
    def eos_id(self) -> int | None:
        return self.special_id("eos")

    @property
    def sep_id(self) -> int | None:
        return self.special_id("sep")

    @property
    def unk_id(self) -> int | None:
        return self.special_id("unk")

    def _prepare(self, text: str) -> str:
        return _nltk_words(text) if self.kind == "word" and self.word_split == "nltk" else text

    def encode(self, text: str) -> list[int]:
        """Token ids of a text, without special tokens."""
        return self.tokenizer.encode(self._prepare(text), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of many texts (the Rust tokenizer uses every core)."""
        prepared = [self._prepare(t) for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(prepared, add_special_tokens=False)]

    def encode_capped(self, texts: list[str], limit: int) -> list[list[int]]:
        """Token ids of many texts, at most `limit` + 1 each: a text longer than `limit` tokens
        gives its first `limit` + 1 ids, so callers see that it overflows.

        Only a window of each text is tokenised (about CHARS_PER_TOKEN characters a token, cut
        at whitespace, widened until it yields enough tokens), so one huge line costs memory in
        proportion to `limit`, not to the line.
        """
        out: list[list[int]] = [[] for _ in texts]
        pending, window = list(range(len(texts))), CHARS_PER_TOKEN * (limit + 2)
        while pending:
            pieces = [_window(texts[i], window) for i in pending]
            widen = []
            for i, piece, ids in zip(pending, pieces, self.encode_batch(pieces)):
                # a cut piece may end inside a token: trust it only beyond one token of margin
                if len(piece) == len(texts[i]) or len(ids) > limit + 1:
                    out[i] = ids[: limit + 1]
                else:
                    widen.append(i)
            pending, window = widen, window * 4
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids, stopping at the end token and skipping padding and other specials."""
        kept: list[int] = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            kept.append(i)
        return self.tokenizer.decode(kept, skip_special_tokens=True)

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """Token strings up to the end token (for BLEU on token level); for a pretrained model's
        subword tokenizer, the whitespace-separated words of the decoded text (BLEU on words)."""
        if self.kind == PRETRAINED:
            return self.decode(ids).split()
        out = []
        specials = {self.pad_id, self.bos_id if self.special_id("bos") is not None else None, self.sep_id}
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in specials:
                continue
            out.append(self.tokenizer.id_to_token(i))
        return out

    def unknown_characters(self, text: str) -> list[str]:
        """Pieces of `text` that map to the unknown token (for clear prompt errors)."""
        encoding = self.tokenizer.encode(self._prepare(text), add_special_tokens=False)
        return [text[a:b] for (a, b), i in zip(encoding.offsets, encoding.ids) if i == self.unk_id]

    def fingerprint(self) -> str:
        """Hash of the vocabulary, to check that a tokenizer matches a checkpoint."""
        vocab = sorted(self.tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        """Write tokenizer.json (textgan's settings ride along in the file's own fields)."""
        from textgan.io import atomic_write_text

        data = json.loads(self.tokenizer.to_str())
        data.setdefault("model", {})
        atomic_write_text(Path(path), json.dumps(data, ensure_ascii=False))
        settings = {"textgan_kind": self.kind, "textgan_word_split": self.word_split,
                    "tokenizer_class": "PreTrainedTokenizerFast"}
        settings.update({f"{role}_token": token for role, token in self.specials.items()})
        atomic_write_text(Path(path).with_name("tokenizer_config.json"), json.dumps(settings, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "TextTokenizer":
        """Read a tokenizer.json written by `save` (with its tokenizer_config.json beside it)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"tokenizer file {path} not found; the checkpoint is incomplete")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception:
            raise CheckpointError(f"tokenizer file {path} is corrupt; retrain or restore it") from None
        kind, word_split, specials = "word", "whitespace", dict(DEFAULT_SPECIALS)
        settings = path.with_name("tokenizer_config.json")
        if settings.is_file():
            from textgan.io import read_json_object

            data = read_json_object(settings, "restore it with its tokenizer.json from the same checkpoint")
            kind = data.get("textgan_kind", kind)
            word_split = data.get("textgan_word_split", word_split)
            if kind == PRETRAINED:  # only the roles the model's tokenizer has
                specials = {role: data[f"{role}_token"] for role in DEFAULT_SPECIALS if data.get(f"{role}_token")}
        return cls(tokenizer, kind, word_split, specials)


def _window(text: str, size: int) -> str:
    """The text itself when it holds at most `size` characters, else its first `size`, cut back
    to the last whitespace in their second half if there is one (tokens before such a cut are
    those of the whole text)."""
    if len(text) <= size:
        return text
    head = text[:size]
    spaced = _UP_TO_LAST_SPACE.match(head, size // 2)
    return head[: spaced.end()] if spaced else head


def build_tokenizer(texts: Iterable[str], cfg: TokenizerConfig) -> TextTokenizer:
    """Train a char, word or BPE tokenizer on the given texts (a list or a stream)."""
    if cfg.kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
            special_tokens=SPECIAL_TOKENS, show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        if cfg.kind == "char":
            tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
            tokenizer.decoder = decoders.Fuse()
        else:
            tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(
            min_frequency=cfg.min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    if cfg.lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    wrapper = TextTokenizer(tokenizer, cfg.kind, cfg.word_split)
    prepared = (wrapper._prepare(t) for t in texts)
    tokenizer.train_from_iterator(prepared, trainer=trainer)
    if wrapper.vocab_size <= len(SPECIAL_TOKENS):
        raise DataError("the corpus yields no tokens; check that it holds text")
    log.info("%s tokenizer: %d tokens", cfg.kind, wrapper.vocab_size)
    return wrapper


def vocabulary_tokenizer(vocab_size: int) -> TextTokenizer:
    """A word-level tokenizer whose tokens are the ids themselves ("0".."V-1"), for synthetic data."""
    vocab = {str(i): i for i in range(vocab_size)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return TextTokenizer(tokenizer, "word", "whitespace")
