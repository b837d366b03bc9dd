"""ssrl: self-supervised representation learning.

Pretrain a backbone h_θ with a pretext task on unlabeled data, transfer it to a labeled task,
and measure how much it helped against the same backbone at random init.

The public API is imported on first use, so ``import ssrl.losses`` stays light (no Lightning).
"""

import importlib

__version__ = "0.1.0"
_API = {"pretrain": "ssrl.api", "evaluate": "ssrl.transfer", "embed": "ssrl.transfer", "score": "ssrl.transfer",
        "build_method": "ssrl.api", "load_backbone": "ssrl.runs", "prepare": "ssrl.data.shards",
        "list_methods": "ssrl.pretext", "register": "ssrl.pretext", "register_backbone": "ssrl.backbones",
        "register_modality": "ssrl.modality", "write_report": "ssrl.report"}
# Not here because a module has the name: ssrl.export.export, ssrl.resolve.resolve.
__all__ = sorted(_API)


def __dir__() -> list[str]:
    """The public API (imported on first use) with the module's own names: tab completion sees it."""
    return sorted({*globals(), *_API} - {"importlib"})


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'ssrl' has no attribute {name!r}")
