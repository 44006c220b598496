"""The `hf:` teacher's shared-prompt-prefix cache: a prefix's keys and values, computed once.

The system message is the same for every transaction and is most of the prompt, so `PrefixKV`
runs the model once per prefix (batch 1) and keeps its keys and values per layer, read through
the Cache ``layers`` API. `PrefixKV.forward` then runs only the short per-transaction suffixes on
top of them: one prefix is expanded over the batch as a view; several (the detailed pass asks each
row within its own primary) are left-padded to the longest. `make_cache` hands them to the model
in a `DynamicCache` without copying them.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_MAX_PREFIXES = 32  # cached system-message prefixes (primary pass + one per primary)


class PrefixKV:
    """Keys and values of prompt prefixes for one model, computed once per prefix.

    Args:
        torch: the torch module.
        model: the causal LM (its ``device`` is where the prefixes run).
        last_only: extra forward arguments (the one that keeps only the last position's logits).
    """

    def __init__(self, torch: Any, model: Any, last_only: dict[str, int]) -> None:
        self._torch = torch
        self._model = model
        self._last_only = last_only
        self.device = model.device
        self._kv: dict[tuple[int, ...], Any] = {}

    def clear(self) -> None:
        """Drop the cached prefixes."""
        self._kv.clear()

    def forward(self, ids: Any, suffix_mask: Any, prefixes: list[tuple[int, ...]]) -> Any:
        """Next-token probabilities after each (prefix, left-padded suffix) row.

        Prefixes (one, or several of different lengths) are left-padded to the longest, the
        suffixes are left-padded after them; the mask hides both paddings and each row's
        positions continue after its own prefix, so every row sees exactly its whole prompt.
        """
        torch = self._torch
        lengths = torch.tensor([len(p) for p in prefixes], device=self.device)
        widest = int(lengths.max())
        prefix_mask = torch.arange(widest, device=self.device) >= (widest - lengths)[:, None]
        mask = torch.cat([prefix_mask.to(suffix_mask.dtype), suffix_mask], dim=1)
        positions = lengths[:, None] + (suffix_mask.cumsum(-1) - 1).clamp(min=0)
        cache = make_cache(self.batch(prefixes, widest))
        with torch.inference_mode():
            out = self._model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                **self._last_only,
            )
            return torch.softmax(out.logits[:, -1].float(), dim=-1)

    def batch(self, prefixes: list[tuple[int, ...]], widest: int) -> list[tuple[Any, Any]]:
        """Per layer (keys, values) for the batch: views of one prefix, or padded copies."""
        rows: dict[tuple[int, ...], list[int]] = {}
        for i, prefix in enumerate(prefixes):
            rows.setdefault(prefix, []).append(i)
        cached = {prefix: self.get(prefix) for prefix in rows}
        batch = len(prefixes)
        if len(cached) == 1:
            (layers,) = cached.values()
            return [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in layers]
        torch = self._torch
        out = []
        for index, (k0, v0) in enumerate(next(iter(cached.values()))):
            keys = k0.new_zeros((batch, k0.shape[1], widest, k0.shape[3]))
            values = v0.new_zeros((batch, v0.shape[1], widest, v0.shape[3]))
            for prefix, members in rows.items():
                k, v = cached[prefix][index]
                where = torch.tensor(members, device=keys.device)
                keys[where, :, widest - len(prefix) :] = k.expand(len(members), -1, -1, -1)
                values[where, :, widest - len(prefix) :] = v.expand(len(members), -1, -1, -1)
            out.append((keys, values))
        return out

    def get(self, prefix: tuple[int, ...]) -> Any:
        """The prefix's keys and values per layer (batch 1), computed once per prefix."""
        layers = self._kv.get(prefix)
        if layers is None:
            torch = self._torch
            ids = torch.tensor([prefix], device=self.device)
            with torch.inference_mode():
                out = self._model(input_ids=ids, use_cache=True, **self._last_only)
            cache = out.past_key_values
            if hasattr(cache, "layers"):  # transformers >= 4.56
                layers = tuple((layer.keys, layer.values) for layer in cache.layers)
            else:
                layers = tuple((k, v) for k, v in cache)
            if len(self._kv) >= _MAX_PREFIXES:
                self._kv.pop(next(iter(self._kv)))
            self._kv[prefix] = layers
            logger.debug("cached a %d-token prompt prefix", len(prefix))
        return layers


def make_cache(layers: list[tuple[Any, Any]]) -> Any:
    """A `DynamicCache` holding these (keys, values) per layer, without copying them.

    The layers are created through the public API with empty tensors, then given the tensors:
    the forward's concatenation is then the only copy of the prefix. Checked, since it relies on
    the layers' ``keys``/``values`` attributes (transformers >= 4.56).
    """
    from transformers import DynamicCache

    cache = DynamicCache()
    for index, (keys, values) in enumerate(layers):
        cache.update(keys[:, :, :0], values[:, :, :0], index)
    for layer, (keys, values) in zip(cache.layers, layers, strict=True):
        layer.keys, layer.values = keys, values
    if cache.get_seq_length() != layers[0][0].shape[-2]:
        raise RuntimeError("this transformers version's DynamicCache cannot be pre-filled")
    return cache
