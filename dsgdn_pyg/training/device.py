"""Where a run computes and how it is seeded: the device asked for, the
seeds of every random generator, and a batch's move to the device."""

import random

import numpy as np
import torch

from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.errors import check_device_name


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; an unknown device, or one
    this torch cannot use, is a :class:`ValueError` naming ``--device``."""
    check_device_name("--device", name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: torch sees no CUDA device; "
                             f"use --device cpu or auto")
        if device.index is not None and \
                device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: torch sees "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return device


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch, device: torch.device):
    """Moves a batch to :obj:`device`, first noting its longest dialogue
    (read on the host, where ``ptr`` still is) so the model needs no
    host-device sync for it."""
    ptr = batch[NODE_TYPE].ptr
    batch.max_dialogue_length = int((ptr[1:] - ptr[:-1]).max()) \
        if ptr.numel() > 1 else 0
    return batch.to(device)
