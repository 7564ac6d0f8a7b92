"""Paired blur/sharp micrographs: discovery, loading, splits by micrograph, crops, synthetic degradations.

May import: ``midnet.errors``, ``midnet.choices``, ``midnet.images``, ``midnet.models``, ``midnet.inference``."""

from .crops import sample_batch
from .pairs import Pair, find_pairs, load_pairs, split_names

__all__ = ["Pair", "find_pairs", "load_pairs", "sample_batch", "split_names"]
