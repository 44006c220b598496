"""The resumable checkpoint of a training run: weights, optimizer, scheduler and loop state.

Written after every epoch to RUN_DIR/checkpoint/ (replacing the previous one atomically: a kill
in the middle leaves the older checkpoint whole), read by `categorizer train --resume`.
Weights are safetensors; optimizer and scheduler states are plain tensors and numbers, loaded
with `weights_only=True` so no pickled code runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from training.distillation.train_config import ConfigError, TrainConfig

_STATE = "state.json"


def save_checkpoint(folder: Path, run: Any, state: dict[str, Any]) -> None:
    """Write the run's weights, optimizer, scheduler, config and loop state into `folder`."""
    import torch
    from safetensors.torch import save_file

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
    save_file(weights, str(staging / "model.safetensors"))
    torch.save(run.optimizer.state_dict(), staging / "optimizer.pt")
    torch.save(run.scheduler.state_dict(), staging / "scheduler.pt")
    payload = {"config": run.config.to_dict(), **state}
    (staging / _STATE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, run: Any, config: TrainConfig) -> dict[str, Any] | None:
    """Restore weights, optimizer and scheduler into `run`; return the loop state.

    Returns:
        The saved loop state, or None when `folder` holds no checkpoint.

    Raises:
        ConfigError: The checkpoint was made with another config (resuming it would not
            reproduce the run).
    """
    import torch
    from safetensors.torch import load_file

    if not (folder / _STATE).is_file():
        old = folder.with_name(folder.name + ".old")  # killed between the two renames
        if not (old / _STATE).is_file():
            return None
        folder = old
    state = json.loads((folder / _STATE).read_text(encoding="utf-8"))
    saved = state.pop("config")
    changed = sorted(k for k, v in config.to_dict().items() if saved.get(k) != v and k != "epochs")
    if changed:
        raise ConfigError(
            f"cannot resume {folder}: it was trained with a different config "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); "
            "use the same config, or train into a new run directory"
        )
    run.model.load_state_dict(load_file(str(folder / "model.safetensors")))
    run.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    run.scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    return state


def load_best_weights(folder: Path) -> dict[str, Any]:
    """The best epoch's weights (RUN_DIR/model), for a resumed run that kept none in memory.

    Raises:
        ValueError: The run has not finished an epoch yet.
    """
    from safetensors.torch import load_file

    path = folder / "model.safetensors"
    if not path.is_file():
        raise ValueError(f"no best checkpoint in {folder}: the run has not finished an epoch")
    return load_file(str(path))
