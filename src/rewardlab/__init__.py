"""rewardlab: train, evaluate and serve reward models for RLHF.

Importing the package is cheap: heavy modules (torch, transformers) load only when a verb needs them.
"""

__version__ = "0.1.0"

from rewardlab.data.schema import PreferencePair  # noqa: E402  (light: standard library only)

__all__ = ["PreferencePair", "__version__"]
