"""Training: the data miner and the LoRA trainer (torch is imported only when training)."""

from jarvis_tui.learning.training.data import TrainingDataMiner
from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig

__all__ = ["LoRATrainer", "LoRATrainingConfig", "TrainingDataMiner"]
