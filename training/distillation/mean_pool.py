"""A sequence classifier that mean-pools the encoder's tokens: the student's default head.

Hugging Face's *ForSequenceClassification heads read the [CLS] token through BERT's pooler.
all-MiniLM-L6-v2 was trained as a sentence encoder with mean pooling, so its [CLS] vector carries
little: on 4,000 synthetic transactions, 125 steps reached 46% accuracy through [CLS] and 74%
through the mean of the token vectors (same model, optimiser and data). Mean pooling over the
attention mask is also what serving reproduces exactly in the exported graph.

The folder layout is Hugging Face's (config.json + model.safetensors + tokenizer files); the
config carries ``categorizer_pooling: "mean"`` so loaders know to build this class.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig
from transformers.modeling_outputs import SequenceClassifierOutput

POOLING_KEY = "categorizer_pooling"


class MeanPoolClassifier(nn.Module):
    """encoder → mean over unmasked tokens → dropout → linear, one logit per label."""

    def __init__(self, encoder: nn.Module, labels: list[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config: PretrainedConfig = encoder.config
        self.config.num_labels = len(labels)
        self.config.id2label = dict(enumerate(labels))
        self.config.label2id = {label: i for i, label in enumerate(labels)}
        setattr(self.config, POOLING_KEY, "mean")
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.config.hidden_size, len(labels))

    @property
    def base_model(self) -> nn.Module:
        """The encoder, where `truncate_layers` finds the layers (as on Hugging Face models)."""
        return self.encoder

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Logits of a padded batch; padding never changes a row's result."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))

    def save_pretrained(self, folder: str | Path) -> None:
        """config.json and model.safetensors (the whole module), like a Hugging Face model."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(folder)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def from_folder(cls, folder: str | Path) -> MeanPoolClassifier:
        """Rebuild a saved student (architecture from config.json, then its weights)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        model = cls(encoder_without_pooler(AutoModel.from_config, config), labels)
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model


def is_mean_pool_folder(folder: str | Path) -> bool:
    """Whether a folder holds a MeanPoolClassifier saved by `save_pretrained`."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get(POOLING_KEY) == "mean"


def encoder_without_pooler(factory, *args, **kwargs) -> nn.Module:
    """`factory(*args, add_pooling_layer=False)` where the architecture has a pooler to drop.

    An unused pooler would get no gradients, which DDP treats as an error.
    """
    try:
        return factory(*args, add_pooling_layer=False, **kwargs)
    except TypeError:  # architectures without a pooler (DistilBERT) do not take the argument
        return factory(*args, **kwargs)
