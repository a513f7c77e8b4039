"""One schema for the LoRA settings: the Training form, ``jarvis-tui train`` and validation.

Each :class:`Setting` names a value (a :class:`LoRATrainingConfig` field, or a run
parameter such as ``eval_fraction``), its kind, its bounds, the default the form and
the command start from, the form's label and the command's flag. The Training pane
builds its form from :data:`FORM_SETTINGS`, the ``train`` command its flags from the
same list, and :meth:`LoRATrainingConfig.validate` checks a config's numbers with
:meth:`Setting.check`: a bound is written once, and every place says it in the same
words (``must be in [0, 1) (got 1)``).

The defaults here are the app's (sized for the workspace's tiny model on a CPU);
:class:`LoRATrainingConfig` keeps the spec's own defaults for code written against
OpenJarvis. Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

KINDS = ("int", "float", "text")


@dataclass(frozen=True)
class Setting:
    """One LoRA setting: kind, bounds, default, and how the form and the command name it."""

    name: str
    """The LoRATrainingConfig field or run parameter (``lora_rank``, ``eval_fraction``)."""
    kind: str
    """``int``, ``float`` or ``text``."""
    default: Any
    """What the form and ``jarvis-tui train`` start from."""
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    """The bound itself is refused (``learning_rate`` > 0)."""
    high_open: bool = False
    label: str = ""
    """The form's label (a few words)."""
    flag: str = ""
    """The ``train`` command's flag; empty when the command does not take it."""
    metavar: str = ""
    help: str = ""
    on_config: bool = True
    """A LoRATrainingConfig field (else a parameter of the run: data, split, model)."""
    in_form: bool = True

    # -- words ----------------------------------------------------------------

    def bound(self) -> str:
        """The accepted range in words: ``in [0, 1)``, ``at least 1``, ``greater than 0``."""
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return (f"in {'(' if self.low_open else '['}{_num(lo)}, "
                    f"{_num(hi)}{')' if self.high_open else ']'}")  # fmt: skip
        if lo is not None:
            return f"greater than {_num(lo)}" if self.low_open else f"at least {_num(lo)}"
        if hi is not None:
            return f"less than {_num(hi)}" if self.high_open else f"at most {_num(hi)}"
        return ""

    def accepts(self) -> str:
        """What a value must be, in words (the form's and the command's help)."""
        what = {"int": "a whole number", "float": "a number", "text": "text"}[self.kind]
        bound = self.bound()
        return f"{what} {bound}" if bound else what

    def show(self, value: Any) -> str:
        """*value* as the form and ``--help`` write it (``0.0005``, ``8``)."""
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    # -- checks ---------------------------------------------------------------

    def check(self, value: Any) -> Optional[str]:
        """Why *value* is refused (``must be in [0, 1) (got 1)``, without the name), or None."""
        if self.kind == "text":
            return None if isinstance(value, str) else f"must be text (got {value!r})"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"must be a whole number (got {value!r})"
        elif (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            shown = f"{value:g}" if isinstance(value, float) else repr(value)
            return f"must be a finite number (got {shown})"
        lo, hi = self.low, self.high
        bad = (lo is not None and (value <= lo if self.low_open else value < lo)) or (
            hi is not None and (value >= hi if self.high_open else value > hi)
        )
        return f"must be {self.bound()} (got {self.show(value)})" if bad else None

    def parse(self, text: str) -> tuple[Any, Optional[str]]:
        """The value typed as *text* (a form field, a flag), or why it is refused."""
        raw = text.strip()
        if self.kind == "text":
            return raw, None
        try:
            value: Any = int(raw) if self.kind == "int" else float(raw)
        except ValueError:
            what = "a whole number" if self.kind == "int" else "a number"
            return None, f"must be {what} {self.bound()} (got {raw!r})".replace("  ", " ")
        problem = self.check(value)
        return (None, problem) if problem else (value, None)


def _num(x: float) -> str:
    return f"{x:g}"


SETTINGS: tuple[Setting, ...] = (
    # The form's fields, in the form's order.
    Setting("min_quality", "float", 0.7, 0.0, 1.0, label="min quality", flag="--min-quality",
            metavar="Q", help="minimum feedback score of a trace to train on",
            on_config=False),
    Setting("max_pairs", "int", 200, 1, label="max pairs", flag="--max-pairs", metavar="N",
            help="SFT pairs to train on (the newest first)", on_config=False),
    Setting("model", "text", "", label="model", flag="--model", metavar="PATH",
            help="local Hugging Face model folder (default: the workspace's tiny LM)",
            on_config=False),
    Setting("lora_rank", "int", 8, 1, label="rank", flag="--rank", metavar="R",
            help="LoRA rank"),
    Setting("lora_alpha", "int", 16, 1, label="alpha", flag="--alpha", metavar="A",
            help="LoRA alpha (scaling: alpha / rank)"),
    Setting("lora_dropout", "float", 0.05, 0.0, 1.0, high_open=True, label="dropout",
            flag="--dropout", metavar="P", help="dropout on the LoRA layers"),
    Setting("learning_rate", "float", 5e-4, 0.0, low_open=True, label="learning rate",
            flag="--lr", metavar="LR", help="peak learning rate (warmup, then cosine)"),
    Setting("num_epochs", "int", 2, 1, label="epochs", flag="--epochs", metavar="N",
            help="passes over the training pairs"),
    Setting("batch_size", "int", 4, 1, label="batch size", flag="--batch-size", metavar="N",
            help="pairs per step (per process with --nproc)"),
    Setting("max_seq_length", "int", 256, 8, label="max length", flag="--max-length",
            metavar="TOKENS", help="tokens per pair; longer pairs are cut (and counted)"),
    Setting("eval_fraction", "float", 0.1, 0.0, 1.0, high_open=True, label="eval split",
            flag="--eval-split", metavar="F",
            help="share of the training pairs held out for an eval loss per epoch",
            on_config=False),
    # Config fields neither the form nor the command sets (checked by validate()).
    # (their labels: words for people where a run's settings are shown, as the form's)
    Setting("weight_decay", "float", 0.01, 0.0, label="weight decay", in_form=False),
    Setting("warmup_ratio", "float", 0.1, 0.0, 1.0, label="warmup share", in_form=False),
    Setting("max_grad_norm", "float", 1.0, 0.0, low_open=True, label="grad clip",
            in_form=False),
    Setting("save_every_n_epochs", "int", 1, 1, label="save every (epochs)", in_form=False),
)  # fmt: skip
"""Every LoRA setting; the form's and the command's in the form's order."""

FORM_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.in_form)
"""The Training form's fields (and the ``train`` command's setting flags)."""

CLI_SETTINGS: tuple[Setting, ...] = tuple(s for s in FORM_SETTINGS if s.flag)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The setting called *name* (KeyError for an unknown one)."""
    return BY_NAME[name]


def defaults() -> dict[str, Any]:
    """The form's (and the command's) default for every setting in the form."""
    return {s.name: s.default for s in FORM_SETTINGS}


def config_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """The LoRATrainingConfig fields among *values* (form or command values)."""
    return {k: v for k, v in values.items() if k in BY_NAME and BY_NAME[k].on_config}


__all__ = [
    "CLI_SETTINGS",
    "FORM_SETTINGS",
    "SETTINGS",
    "Setting",
    "config_kwargs",
    "defaults",
    "setting",
]
