"""One converter per recipe dataset, and the registry mapping a source name to it (`get_source`)."""

from __future__ import annotations

from rewardlab.data.schema import DataError
from rewardlab.data.sources import (
    capybara,
    helpsteer,
    hh_rlhf,
    orca,
    pku_saferlhf,
    shp,
    ultrafeedback,
    ultrafeedback_binarized,
)
from rewardlab.data.sources.streaming import ConvertContext, SourceInfo

REGISTRY: dict[str, SourceInfo] = {
    info.name: info
    for module in (hh_rlhf, shp, helpsteer, ultrafeedback, ultrafeedback_binarized, orca, capybara, pku_saferlhf)
    for info in module.SOURCES
}


def get_source(name: str) -> SourceInfo:
    """The registered source `name`; an unknown name is an error listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown source {name!r}; known sources: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["REGISTRY", "ConvertContext", "SourceInfo", "get_source"]
