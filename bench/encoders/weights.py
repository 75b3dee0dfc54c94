"""ResNet-50 weights from a local file in torchvision's state-dict layout. Nothing is downloaded.

``encoder.weights`` is

- a path to a ``.pth`` file: a state dict with torchvision's names (``conv1.weight``,
  ``layer1.0.bn1.running_mean``, ...), or a checkpoint holding one under ``state_dict``
  (names prefixed ``module.``, as DataParallel saves them, are accepted): ImageNet,
  BYOL or any other ResNet-50 saved that way;
- ``imagenet``: torchvision's published ImageNet file (IMAGENET1K_V1, ``resnet50-0676ba61.pth``)
  read from torch hub's cache (``$TORCH_HOME/hub/checkpoints``), where torchvision puts it
  on a machine with internet (``pip install alignbench[vision]``, then
  ``python -c "import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V1')"``);
- null: random initialisation (torchvision's), from the run's seed.

Every parameter and buffer of the (possibly cut) network must be in the file with its
shape; the file's other entries (the classifier ``fc.*``, stages past the cut) are ignored.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from bench.errors import DataError

IMAGENET = "imagenet"
IMAGENET_FILE = "resnet50-0676ba61.pth"
IMAGENET_URL = f"https://download.pytorch.org/models/{IMAGENET_FILE}"


def imagenet_path() -> Path:
    """Where torch hub (and torchvision) cache the published ImageNet ResNet-50 file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def resolve_weights(weights: str) -> Path:
    """``encoder.weights`` -> the file to read; a missing file is a DataError with the fix."""
    if weights == IMAGENET:
        path = imagenet_path()
        if not path.is_file():
            raise DataError(f"encoder.weights=imagenet: torchvision's ImageNet file is not cached at {path}; "
                            f"on a machine with internet fetch it there ({IMAGENET_URL}, e.g. through "
                            "torchvision.models.resnet50(weights='IMAGENET1K_V1')), or set encoder.weights=PATH")
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise DataError(f"encoder.weights file {path} does not exist; point it at a ResNet-50 state dict "
                        "(.pth, torchvision layout) or use encoder.weights=null for random weights")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path`` (unwrapped from ``state_dict`` and ``module.``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as err:
        raise DataError(f"encoder.weights file {path} is not a readable torch state dict "
                        f"({type(err).__name__}); save it with torch.save(model.state_dict(), PATH)") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"encoder.weights file {path} does not hold a state dict of tensors; "
                        "save it with torch.save(model.state_dict(), PATH)")
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_weights(net: nn.Module, weights: str) -> Path:
    """Copy the weights named by ``weights`` into ``net`` (torchvision names); returns the file."""
    path = resolve_weights(weights)
    state = read_state_dict(path)
    own = net.state_dict()
    missing = [key for key in own if key not in state]
    if missing:
        example = next(iter(state), "nothing")
        raise DataError(f"encoder.weights file {path} has no '{missing[0]}' ({len(missing)} of {len(own)} entries "
                        f"missing; its first key is '{example}'); save the ResNet-50 itself in torchvision's layout")
    wrong = [key for key in own if state[key].shape != own[key].shape]
    if wrong:
        key = wrong[0]
        raise DataError(f"encoder.weights file {path}: '{key}' has shape {tuple(state[key].shape)}, ResNet-50 needs "
                        f"{tuple(own[key].shape)}; the file is not a ResNet-50")
    net.load_state_dict({key: state[key] for key in own})
    return path
