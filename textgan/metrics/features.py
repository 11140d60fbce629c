"""Sentence features for the Fréchet distance and MAUVE: mean-pooled hidden states of a language model.

Three sources, chosen by the user (`--features-from`) or by default:

* a textgan generator (a run's checkpoint): its last hidden layer over the text's tokens;
* a local Hugging Face model folder (`AutoModel`): its last hidden state, as MAUVE's authors do with
  GPT-2 (no download: the folder must hold the weights and a tokenizer);
* by default, a reference LM fitted on a training split (`reference_lm`): textgan's LSTM trained
  by MLE for a fixed budget and seed, cached on disk by a fingerprint of its rows, budget and seed.
  It knows only the corpus it was fitted on, so its figures are relative: compare runs scored with
  the same reference LM, never against published FED or MAUVE figures.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textgan.errors import ConfigError, DataError
from textgan.metrics.lm_scores import LMBudget, Vocabulary, fit_lm
from textgan.models.lstm import LSTMGenerator

__all__ = ["FeatureModel", "hidden_states", "load_hf_feature_model", "reference_lm"]

log = logging.getLogger(__name__)

FEATURE_BATCH = 256  # rows per forward pass


def hidden_states(generator: Any, rows: torch.Tensor) -> torch.Tensor:
    """(B, T, H) last hidden layer of a textgan generator over teacher-forced rows."""
    model = getattr(generator, "model", None)
    if model is not None and hasattr(model, "base_model"):  # a Transformer generator (GPT-2 style or pretrained)
        return model.base_model(input_ids=rows, attention_mask=torch.ones_like(rows), use_cache=False).last_hidden_state
    features = generator.output_features(rows)
    if features is None:
        raise ConfigError(f"a {type(generator).__name__} exposes no hidden states to take features from; pass "
                          "--features-from an LSTM or Transformer run, or a Hugging Face model folder")
    return features[0]


@dataclass
class FeatureModel:
    """A language model that turns texts (or token rows) into one vector per sentence."""

    description: str  # what the figures were computed with, stored beside them
    generator: Any = None  # a textgan generator ...
    tokenizer: Any = None  # ... and its TextTokenizer
    hf_model: Any = None  # or a transformers model ...
    hf_tokenizer: Any = None  # ... and its tokenizer

    @torch.no_grad()
    def rows(self, rows: torch.Tensor) -> np.ndarray:
        """(N, H) mean hidden state over each row's tokens up to its <eos> (padding left out)."""
        if self.generator is None:
            raise DataError("token rows need a textgan feature model; pass texts to a Hugging Face one")
        generator = self.generator.eval()
        device = next(generator.parameters()).device
        pad, eos = generator.pad_id, generator.eos_id
        out = []
        for part in torch.split(rows, FEATURE_BATCH):
            part = part.to(device)
            hidden = hidden_states(generator, generator.inputs_for(part)).float()
            keep = torch.ones_like(part, dtype=torch.bool) if pad is None else part != pad
            if eos is not None:  # the hidden state that predicts <eos> has read the whole sentence
                keep &= torch.cumsum((part == eos).long(), dim=1) - (part == eos).long() == 0
            weights = keep.unsqueeze(-1).float()
            out.append((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0))
        return torch.cat(out).cpu().double().numpy()

    @torch.no_grad()
    def texts(self, texts: list[str]) -> np.ndarray:
        """(N, H) features of sentences: encoded with the model's own tokenizer, then mean-pooled."""
        if not texts:
            raise DataError("no sentences to take features of")
        if self.generator is not None:
            length = self.generator.max_length
            ids = self.tokenizer.encode_batch(texts)
            eos = self.generator.eos_id
            pad = self.generator.pad_id if self.generator.pad_id is not None else (eos if eos is not None else 0)
            rows = torch.full((len(ids), length), pad, dtype=torch.long)
            for i, row in enumerate(ids):
                row = (row + ([eos] if eos is not None else []))[:length]
                rows[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            return self.rows(rows)
        device = next(self.hf_model.parameters()).device
        out = []
        for start in range(0, len(texts), FEATURE_BATCH):
            batch = self.hf_tokenizer(texts[start:start + FEATURE_BATCH], return_tensors="pt", padding=True,
                                      truncation=True).to(device)
            hidden = self.hf_model(**batch).last_hidden_state.float()
            weights = batch["attention_mask"].unsqueeze(-1).float()
            out.append((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0))
        return torch.cat(out).cpu().double().numpy()


def load_hf_feature_model(folder: Path, device: torch.device) -> FeatureModel:
    """A local Hugging Face model folder (config.json, weights, tokenizer) as a feature model."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--features-from {folder}: not a loadable Hugging Face model folder ({first}); pass a "
                          "folder written by save_pretrained with its tokenizer, or a textgan run") from None
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers have none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return FeatureModel(f"Hugging Face model {folder}", hf_model=model, hf_tokenizer=tokenizer)


def _cache_key(rows: torch.Tensor, vocabulary: Vocabulary, budget: LMBudget, seed: int) -> str:
    digest = hashlib.sha256(rows.contiguous().numpy().tobytes())
    digest.update(repr((tuple(rows.shape), vocabulary, budget, seed, torch.__version__)).encode())
    return digest.hexdigest()[:20]


def reference_lm(rows: torch.Tensor, vocabulary: Vocabulary, budget: LMBudget, seed: int, cache_dir: Path | None,
                 device: torch.device | str = "cpu") -> LSTMGenerator:
    """The LM fitted on (N, T) training rows (`fit_lm`), read from `cache_dir` when fitted before.

    The cache holds the weights under a fingerprint of the rows, vocabulary, budget, seed and torch
    version, so a changed corpus or budget fits afresh; a damaged cache file is refitted.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from textgan.errors import TextGanError
    from textgan.io import write_with

    rows = rows.cpu()
    path = cache_dir / "reference_lm" / f"{_cache_key(rows, vocabulary, budget, seed)}.safetensors" if cache_dir else None
    if path is not None and path.is_file():
        lm = LSTMGenerator(vocabulary.size, rows.shape[1], vocabulary.bos_id, vocabulary.eos_id, vocabulary.pad_id,
                           embedding_dim=budget.embedding_dim, hidden_dim=budget.hidden_dim)
        try:
            lm.load_state_dict(load_file(str(path)))
            return lm.to(device).eval()
        except (SafetensorError, RuntimeError, OSError) as exc:
            log.warning("reference LM cache %s unreadable (%s); fitting it again", path, exc)
    lm = fit_lm(rows, vocabulary, budget, seed, device)
    if path is not None:
        state = {k: v.detach().contiguous().cpu() for k, v in lm.state_dict().items()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_with(path, lambda temporary: save_file(state, str(temporary)))
        except (OSError, TextGanError) as exc:  # a cache that cannot be written only costs time
            log.warning("reference LM not cached at %s: %s", path, exc)
    return lm
