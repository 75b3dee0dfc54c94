"""Mixed precision: bfloat16 autocast on CUDA when ``trainer.amp`` is on; float32 elsewhere.

One place for the rule, shared by the training loop and the feature cache (whose key
records the precision its features were computed in)."""
from __future__ import annotations

import torch


def uses_amp(device: torch.device, amp: bool) -> bool:
    """AMP runs on CUDA only; CPU runs stay float32."""
    return amp and device.type == "cuda"


def autocast(device: torch.device, amp: bool) -> torch.autocast:
    """bfloat16 autocast on CUDA when ``amp``; a disabled context elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=uses_amp(device, amp))
