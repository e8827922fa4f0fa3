"""Reward-model server: `create_app(scorer, config)` (FastAPI) with a micro-batcher in front of the model.

FastAPI and uvicorn are optional (``pip install rewardlab[serve]``), so nothing here imports them at package
import time; import `rewardlab.serving.app` where a server is actually built.
"""

from rewardlab.serving.config import ServeConfig

__all__ = ["ServeConfig"]
