"""Just enough DDP: the same training code on one device or under `torchrun` / `accelerate launch`.

Both launchers set WORLD_SIZE, RANK and LOCAL_RANK; with WORLD_SIZE > 1 the process group is
initialised (NCCL on CUDA, Gloo on CPU) and the model wrapped in DistributedDataParallel.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Dist:
    """Where this process runs and how it shares the work."""

    world_size: int = 1
    rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the files and shows the progress bar."""
        return self.rank == 0

    def wrap(self, model: Any) -> Any:
        """The model to call in training: DDP-wrapped when there are several processes."""
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [int(self.device.split(":")[1])] if self.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, batches: list) -> list:
        """This process's batches: every world_size-th, the same count on every rank."""
        if self.world_size == 1:
            return batches
        usable = len(batches) - len(batches) % self.world_size or len(batches)
        return batches[self.rank : usable : self.world_size]

    @contextlib.contextmanager
    def no_sync(self, model: Any, skip: bool) -> Iterator[None]:
        """Skip the gradient all-reduce on accumulation steps that do not step the optimizer."""
        if skip and self.world_size > 1:
            with model.no_sync():
                yield
        else:
            yield

    def barrier(self) -> None:
        """Wait for every process (no-op alone)."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Tear the process group down."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def setup_distributed() -> Dist:
    """Read the launcher's environment; initialise the process group when there is one."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world <= 1:
        return Dist(device="cuda" if cuda else "cpu")
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Dist(world_size=world, rank=rank, device=device)


def peak_memory_mb(device: str) -> float:
    """Peak memory of this process so far: CUDA allocations on a GPU, else the resident set."""
    if device.startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux
