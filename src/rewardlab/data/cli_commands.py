"""The `rewardlab data` verbs as plain functions (the CLI parses arguments and calls these).

- ``rewardlab data build <recipe.yaml> --out DIR [--key value ...]`` -> `build_command`
- ``rewardlab data stats DIR`` -> `stats_command`
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from rewardlab.data.mixtures import DataBuildConfig, build_mixture, load_config, mixture_stats, named_tokenizer
from rewardlab.data.schema import DataError
from rewardlab.data.stats import stats_markdown


def build_command(
    recipe_path: str | Path,
    out_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    tokenizer: Any | None = None,
    overwrite: bool = False,
    load_tokenizer: Callable[[str], Any] | None = None,
) -> int:
    """Build a mixture recipe into `out_dir`; print the statistics table. Returns the exit code.

    `overrides` are dotted keys (``seed``, ``tokenizer``, ``sources.shp.path``,
    ``sources.shp.options.max_pairs_per_prompt``) with YAML-scalar values. `load_tokenizer` (name -> tokenizer)
    loads a tokenizer the recipe names when no `tokenizer` object is given.
    """
    try:
        cfg = load_config(recipe_path, overrides or {})
        stats = build_mixture(cfg, out_dir, tokenizer=tokenizer, overwrite=overwrite, load_tokenizer=load_tokenizer)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(stats_markdown(stats))
    print(f"wrote {stats['total']['pairs']} pairs to {out_dir}")
    return 0


def stats_command(dataset_dir: str | Path, tokenizer: Any | None = None,
                  load_tokenizer: Callable[[str], Any] | None = None) -> int:
    """Print the statistics table of a built mixture folder, recomputing it from the rows.

    The tokenizer and the published comparisons come from the folder's ``build.json``; token lengths are
    read from the folder's token cache when the build left one. A folder without ``build.json`` (any
    `save_to_disk` folder of pair records) gets pair counts per source.
    """
    folder = Path(dataset_dir)
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as e:  # datasets raises several types for a folder that is not a dataset
        print(f"error: {folder}: not a built dataset folder: {e}", file=sys.stderr)
        return 2
    if isinstance(ds, datasets.DatasetDict):
        print(f"error: {folder}: holds splits {list(ds)}, expected one mixture", file=sys.stderr)
        return 2
    missing = {"context", "chosen", "rejected", "source"} - set(ds.column_names)
    if missing:
        print(f"error: {folder}: missing column(s) {sorted(missing)}; not a pair-record dataset", file=sys.stderr)
        return 2
    build_file = folder / "build.json"
    name, specs, raw_rows, tok_name, cache_root, num_proc = folder.name, [], {}, None, None, 1
    reports: dict[str, dict[str, Any]] = {}
    if build_file.exists():
        build = json.loads(build_file.read_text(encoding="utf-8"))
        cfg = DataBuildConfig(**build["config"])
        name, specs, tok_name, cache_root, num_proc = cfg.name, cfg.sources, cfg.tokenizer, cfg.cache_dir, cfg.num_proc
        raw_rows = {k: v.get("raw_rows") for k, v in build["sources"].items()}
        reports = build["sources"]
    if tokenizer is None and tok_name:
        try:
            tokenizer = named_tokenizer(tok_name, load_tokenizer, f"{build_file}")
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    elif tokenizer is not None and not tok_name:
        tok_name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    cache = Path(cache_root) / "token_cache" if cache_root else folder / "token_cache"
    stats = mixture_stats(ds, name, specs, raw_rows, tokenizer, tok_name, cache, num_proc, reports)
    print(stats_markdown(stats))
    return 0
