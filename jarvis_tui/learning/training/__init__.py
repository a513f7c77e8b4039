"""Training: the data miner (no heavy imports) and, lazily, the LoRA trainer."""

from jarvis_tui.learning.training.data import TrainingDataMiner

__all__ = ["TrainingDataMiner"]
