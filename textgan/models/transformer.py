"""Transformer generator: any `transformers` causal LM (a GPT-2 built from a config, or a
pretrained model loaded with `AutoModelForCausalLM`), decoding with its KV cache.

Saved with `save_pretrained`, so a checkpoint folder loads with
`transformers.AutoModelForCausalLM.from_pretrained`.
"""

from __future__ import annotations


from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, DynamicCache, GPT2Config, PretrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.utils import logging as hf_logging

from textgan.models.base import Generator

MODEL_TYPE = "gpt2"
# config.json field holding textgan's sequence length (a pretrained model's context is longer);
# Hugging Face keeps unknown config fields and ignores them
MAX_LENGTH_FIELD = "textgan_max_length"


def context_length(config: PretrainedConfig) -> int | None:
    """The most positions a causal LM attends over, from its config (None: not stated)."""
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class TransformerGenerator(Generator):
    """A Hugging Face causal LM behind the Generator interface; the state is a `DynamicCache`."""

    def __init__(self, vocab_size: int, max_length: int, bos_id: int = 0, eos_id: int | None = None,
                 pad_id: int | None = None, embedding_dim: int = 64, num_layers: int = 2,
                 num_heads: int = 4, dropout: float = 0.0, init_std: float = 0.0,
                 hf_config: PretrainedConfig | None = None, hf_model: PreTrainedModel | None = None) -> None:
        super().__init__(vocab_size, max_length, bos_id, eos_id, pad_id)
        if hf_model is None:
            if hf_config is None:
                hf_config = GPT2Config(
                    vocab_size=vocab_size, n_positions=max_length, n_embd=embedding_dim,
                    n_layer=num_layers, n_head=num_heads, resid_pdrop=dropout, embd_pdrop=dropout,
                    attn_pdrop=dropout, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id,
                    initializer_range=init_std or 0.02,
                )
            hf_model = AutoModelForCausalLM.from_config(hf_config)
        self.model = hf_model
        self.hf_config = hf_model.config
        setattr(self.hf_config, MAX_LENGTH_FIELD, max_length)
        # GPT-2's hidden states feed its bias-free output layer directly: the fused loss applies
        self.fused_loss = self.hf_config.model_type == "gpt2"

    def logits(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if state is None:
            state = DynamicCache()
        # padding after <eos> never precedes a real token, so causal attention needs no mask;
        # passing an all-ones mask says so explicitly
        mask = tokens.new_ones(tokens.shape[0], state.get_seq_length() + tokens.shape[1])
        out = self.model(input_ids=tokens, attention_mask=mask, cache=state, use_cache=True)
        return out.logits, out.cache

    def output_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None] | None:
        if not self.fused_loss:
            return None
        hidden = self.model.base_model(input_ids=tokens, attention_mask=torch.ones_like(tokens),
                                       use_cache=False).last_hidden_state
        return hidden, self.model.get_output_embeddings().weight, None

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            return self.model(input_ids=tokens, attention_mask=torch.ones_like(tokens), use_cache=False).logits
        return super().forward(tokens, targets, weights)

    @torch.no_grad()
    def generate_rows(self, n: int, max_len: int, prefix: list[int], temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, greedy: bool = False, repetition_penalty: float = 1.0,
                 seed: int = 0) -> torch.Tensor:
        """(n, max_len) rows as `sample` returns them (one `prefix` for every row), decoded by
        `transformers`' own `generate` and its logits processors, seeded by `seed`."""
        from transformers import GenerationConfig

        fill = self.pad_id if self.pad_id is not None else (self.eos_id or 0)
        inputs = torch.tensor([[self.bos_id, *prefix]] * n, dtype=torch.long, device=self.device)
        config = GenerationConfig(
            do_sample=not greedy, temperature=None if greedy else temperature, top_k=None if greedy else top_k,
            top_p=None if greedy else top_p, repetition_penalty=repetition_penalty,
            max_new_tokens=max_len - len(prefix), eos_token_id=self.eos_id, pad_token_id=fill,
            bos_token_id=self.bos_id,
        )
        hf_logging.set_verbosity_error()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = self.model.generate(inputs, attention_mask=torch.ones_like(inputs), generation_config=config)
        rows = torch.full((n, max_len), fill, dtype=torch.long, device=self.device)
        rows[:, : out.shape[1] - 1] = out[:, 1:]  # without <bos>; generate pads rows after <eos>
        return rows

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        return DynamicCache(ddp_cache_data=[(layer.keys[index], layer.values[index]) for layer in state.layers])

    def config_dict(self) -> dict[str, Any]:
        return self.hf_config.to_dict()

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "TransformerGenerator":
        config_class = CONFIG_MAPPING[config["model_type"]]
        hf_config = config_class.from_dict({k: v for k, v in config.items() if k != "model_type"})
        max_length = getattr(hf_config, MAX_LENGTH_FIELD, None) or context_length(hf_config)
        bos_id = hf_config.bos_token_id
        return cls(
            vocab_size=hf_config.vocab_size, max_length=max_length, bos_id=bos_id if bos_id is not None else 0,
            eos_id=hf_config.eos_token_id, pad_id=hf_config.pad_token_id, hf_config=hf_config,
        )

    @classmethod
    def from_pretrained_model(cls, model: PreTrainedModel, max_length: int, bos_id: int, eos_id: int | None,
                              pad_id: int | None) -> "TransformerGenerator":
        """Wrap a loaded causal LM, recording the tokenizer's special ids in its config."""
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = bos_id, eos_id, pad_id
        return cls(vocab_size=model.get_input_embeddings().num_embeddings, max_length=max_length,
                   bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, hf_model=model)

    def save_pretrained(self, directory: Path) -> None:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.model.save_pretrained(str(directory), safe_serialization=True)
        (Path(directory) / "generation_config.json").unlink(missing_ok=True)
