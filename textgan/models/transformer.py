"""Transformer generator: a `transformers` GPT-2 built from a config, with a KV cache.

Saved with `save_pretrained`, so a checkpoint folder loads with
`transformers.AutoModelForCausalLM.from_pretrained`.
"""

from __future__ import annotations


from pathlib import Path
from typing import Any

import torch
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from textgan.models.base import Generator

MODEL_TYPE = "gpt2"


class TransformerGenerator(Generator):
    """GPT-2 causal LM; the state is a `DynamicCache`."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 64, num_layers: int = 2,
                 num_heads: int = 4, dropout: float = 0.0, init_std: float = 0.0,
                 hf_config: GPT2Config | None = None) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        if hf_config is None:
            hf_config = GPT2Config(
                vocab_size=vocab_size, n_positions=max_length, n_embd=embedding_dim,
                n_layer=num_layers, n_head=num_heads, resid_pdrop=dropout, embd_pdrop=dropout,
                attn_pdrop=dropout, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id,
                initializer_range=init_std or 0.02,
            )
        self.hf_config = hf_config
        self.model = GPT2LMHeadModel(hf_config)

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if state is None:
            state = DynamicCache()
        # padding after <eos> never precedes a real token, so causal attention needs no mask;
        # passing an all-ones mask says so explicitly
        mask = tokens.new_ones(tokens.shape[0], state.get_seq_length() + tokens.shape[1])
        out = self.model(input_ids=tokens, attention_mask=mask, cache=state, use_cache=True)
        return out.logits, out.cache

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        hidden = self.model.transformer(input_ids=tokens, attention_mask=torch.ones_like(tokens),
                                        use_cache=False).last_hidden_state
        return hidden, self.model.lm_head.weight, None

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            return self.model(input_ids=tokens, attention_mask=torch.ones_like(tokens), use_cache=False).logits
        return super().forward(tokens, targets, weights)

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        return DynamicCache(ddp_cache_data=[(layer.keys[index], layer.values[index]) for layer in state.layers])

    def config_dict(self) -> dict[str, Any]:
        return self.hf_config.to_dict()

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "TransformerGenerator":
        hf_config = GPT2Config.from_dict(config)
        return cls(
            vocab_size=hf_config.vocab_size, max_length=hf_config.n_positions,
            bos_id=hf_config.bos_token_id if hf_config.bos_token_id is not None else 0,
            eos_id=hf_config.eos_token_id, pad_id=hf_config.pad_token_id, hf_config=hf_config,
        )

    def save_pretrained(self, directory: Path) -> None:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.model.save_pretrained(str(directory), safe_serialization=True)
        (Path(directory) / "generation_config.json").unlink(missing_ok=True)
