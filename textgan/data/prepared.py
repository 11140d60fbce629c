"""What every trainer reads: a tokenizer and the encoded splits (and, for synthetic data, the oracle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textgan.data.corpus import Splits
from textgan.data.encoding import EncodedSplit
from textgan.data.tokenizer import TextTokenizer

if TYPE_CHECKING:
    from textgan.models.oracle import OracleLSTM


@dataclass
class PreparedData:
    """A tokenizer and the encoded train/validation/test splits (plus the raw test texts).

    Synthetic data also carries the oracle that generated it, so trainers can report NLL-oracle.
    """

    tokenizer: TextTokenizer
    train: EncodedSplit
    validation: EncodedSplit
    test: EncodedSplit
    splits: Splits | None = None
    oracle: OracleLSTM | None = None
