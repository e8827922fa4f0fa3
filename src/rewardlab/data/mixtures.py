"""Training mixtures (recipe section 3.2) as data: `DataBuildConfig` read from a YAML recipe, `build_mixture`.

A build converts every source through its registered converter, concatenates them in recipe order, shuffles
with the seed, and writes a `datasets.save_to_disk` folder of `PreferencePair.to_record()` rows atomically
(temporary folder, then rename), with ``stats.md``/``stats.json`` (recipe table 3.1 layout) and ``build.json``
(the resolved config and every drop count). Same config and seed => same rows in the same order, whatever
`num_proc` is: random draws are keyed by source and row, never by process or batch.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import yaml

from rewardlab.config import read_recipe
from rewardlab.data.schema import DataError, DropReport
from rewardlab.data.sources import ConvertContext, get_source
from rewardlab.data.sources.streaming import UNUSABLE, Reason, add_bulk_drops, load_source_dataset
from rewardlab.data.stats import (
    PUBLISHED,
    PUBLISHED_TOTALS,
    compare_with_published,
    count_by_source,
    length_stats,
    stats_markdown,
    tokenize_pairs,
)
from rewardlab.io_utils import AtomicDirectory, atomic_write_json, atomic_write_text, check_output_path


def _field(default: Any = dataclasses.MISSING, help: str = "", **kw: Any) -> Any:
    # Each field is documented once, in its `help` metadata (what `rewardlab ... --help` lists).
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


@dataclasses.dataclass
class SourceSpec:
    """One source of a mixture (an item of `DataBuildConfig.sources`)."""

    name: str = _field(help="Registered source (rewardlab.data.sources.REGISTRY); also the `source` tag of its pairs.")
    hub_id: str | None = _field(None, "Hub dataset id to read instead of the registered one.")
    split: str | None = _field(None, "Split to read (default: the registered one, 'train').")
    data_dir: str | None = _field(None, "Hub data_dir (hh-rlhf subsets); default: the registered one.")
    revision: str | None = _field(
        None,
        "Hub revision (branch, tag or commit) passed to load_dataset, e.g. 'v0' for the recipe-era "
        "PKU-SafeRLHF; default: the registered one (the repository's main branch).",
    )
    path: str | None = _field(
        None,
        "Local copy: a data file, a save_to_disk folder, or a folder laid out like the "
        "hub repo (read with the same data_dir/split). Wins over hub_id. A relative path in a recipe file is "
        "relative to that file's folder; one given on the command line, to the current directory.",
    )
    options: dict[str, Any] = dataclasses.field(
        default_factory=dict,
        metadata={"help": "Selection-rule options of the converter; its module docstring lists them and defaults."},
    )
    max_pairs: int | None = _field(
        None, "Keep a seeded random subset of this many pairs (row order kept), e.g. PKU-SafeRLHF 150K in v4."
    )
    published: str | None = _field(
        None, "Key of the recipe's published figures to compare with (rewardlab.data.stats.PUBLISHED)."
    )

    def __post_init__(self) -> None:
        info = get_source(self.name)
        info.resolve_options(self.options)  # unknown options fail here, when the recipe is loaded
        if self.max_pairs is not None and self.max_pairs < 1:
            raise DataError(f"source {self.name!r}: max_pairs must be >= 1 or null, got {self.max_pairs}")
        if self.published is not None and self.published not in PUBLISHED:
            raise DataError(
                f"source {self.name!r}: unknown published key {self.published!r}; known: {', '.join(PUBLISHED)}"
            )


@dataclasses.dataclass
class DataBuildConfig:
    """How to build one mixture (the keys of a ``rewardlab/recipes/data/*.yaml`` file)."""

    name: str = _field(help="Mixture name (v1..v4); picks the published total to compare with.")
    sources: list[SourceSpec] = _field(
        help="Sources in output order before shuffling, each name once (mappings with the SourceSpec fields)."
    )
    seed: int = _field(42, "Seed of every random choice (best-vs-random opponents, SHP picks, subsets, shuffle).")
    shuffle: bool = _field(True, "Shuffle the concatenated pairs (false keeps source order, then row order).")
    tokenizer: str | None = _field(
        None, "Tokenizer name or local path for the length statistics; null = pair counts only."
    )
    num_proc: int = _field(1, "Processes for conversion and tokenization (results do not depend on it).")
    cache_dir: str | None = _field(
        None,
        "Cache for loaded data and token lengths (null: datasets' default cache, token lengths in <out>/token_cache).",
    )

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, SourceSpec) else _source_spec(s) for s in self.sources]
        if not self.sources:
            raise DataError(f"mixture {self.name!r}: no sources")
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError(f"mixture {self.name!r}: source(s) {dupes} listed twice; list each once")
        if self.num_proc < 1:
            raise DataError(f"num_proc must be >= 1, got {self.num_proc}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _source_spec(raw: Any) -> SourceSpec:
    if not isinstance(raw, dict):
        raise DataError(f"each source must be a mapping with at least 'name', got {raw!r}")
    fields = {f.name for f in dataclasses.fields(SourceSpec)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise DataError(
            f"source {raw.get('name')!r}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(fields))}"
        )
    if "name" not in raw:
        raise DataError(f"source {raw!r}: missing 'name'")
    return SourceSpec(**raw)


def _parse_value(text: str) -> Any:
    # `--seed 3` / `--sources.shp.path /x` / `sources.pku-saferlhf.options.preference=better`: YAML scalars.
    return yaml.safe_load(text) if isinstance(text, str) else text


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay dotted-key overrides on a recipe mapping; ``sources.<name>.<key>`` addresses one source.

    Values given as strings are parsed as YAML scalars (so "3" is an int, "null" is None).
    """
    raw = json.loads(json.dumps(raw))  # deep copy of plain YAML data
    for key, value in overrides.items():
        value = _parse_value(value)
        parts = key.split(".")
        if parts[0] == "sources" and len(parts) >= 3:
            wanted = parts[1].replace("_", "-")  # CLIs may turn "-" into "_" in option names
            matches = [
                s
                for s in raw.get("sources", [])
                if isinstance(s, dict) and str(s.get("name", "")).replace("_", "-") == wanted
            ]
            if not matches:
                names = [s.get("name") for s in raw.get("sources", []) if isinstance(s, dict)]
                raise DataError(f"override {key!r}: no source {parts[1]!r} in this recipe (sources: {names})")
            target = matches[0]
            for p in parts[2:-1]:
                target = target.setdefault(p, {})
            target[parts[-1]] = value
        elif len(parts) == 1:
            raw[key] = value
        else:
            raise DataError(f"override {key!r}: expected a config key or sources.<name>.<key>")
    return raw


def resolve_source_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Relative source `path` values of a recipe file, made relative to the recipe's `folder` (not the cwd):
    a recipe that ships next to its data builds the same from wherever it is run."""
    for source in raw.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("path"), str):
            p = Path(source["path"]).expanduser()
            source["path"] = str(p if p.is_absolute() else (folder / p).resolve())
    return raw


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DataBuildConfig:
    """Read a recipe YAML (keys = `DataBuildConfig` fields; a path or a shipped name such as 'data/v2'),
    apply overrides, validate.

    Relative source paths written in the file resolve against the file's folder; paths in `overrides` (typed
    on a command line) are left as given, relative to the current directory.
    """
    fields = {f.name for f in dataclasses.fields(DataBuildConfig)}
    try:  # the loader every recipe goes through: a path or a shipped name ('data/v2')
        path, raw = read_recipe(path, fields)
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such recipe file ({e})") from None
    except (ValueError, OSError) as e:
        raise DataError(str(e)) from None
    raw = apply_overrides(resolve_source_paths(raw, path.resolve().parent), overrides or {})
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise DataError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(fields))}")
    try:
        return DataBuildConfig(**raw)
    except TypeError as e:
        raise DataError(f"{path}: {e}") from e
    except DataError as e:
        raise DataError(f"{path}: {e}") from e


def named_tokenizer(name: str, load_tokenizer: Callable[[str], Any] | None, what: str) -> Any:
    """The tokenizer a recipe names, through the caller's `load_tokenizer` (name -> tokenizer): data never loads
    models itself (`rewardlab data` passes `rewardlab.modeling.loading.load_tokenizer`)."""
    if load_tokenizer is None:
        raise DataError(f"{what} names tokenizer {name!r}: pass a tokenizer object, or load_tokenizer (name -> "
                        "tokenizer, e.g. rewardlab.modeling.loading.load_tokenizer) to load it by name")
    return load_tokenizer(name)


def subsample(ds: datasets.Dataset, n: int, seed: int, source: str) -> datasets.Dataset:
    """A seeded random `n` of the rows, kept in their original order (so the subset is a stable set)."""
    if len(ds) <= n:
        return ds
    rng = np.random.default_rng([seed, int.from_bytes(source.encode()[:8].ljust(8, b"\0"), "little")])
    keep = np.sort(rng.choice(len(ds), size=n, replace=False))
    return ds.select(keep.tolist())


@dataclasses.dataclass
class SourceResult:
    """What one source contributed: its pairs and how its rows were used."""

    pairs: datasets.Dataset
    raw_rows: int
    report: DropReport
    seconds: float
    label: str = ""
    shortfall: str | None = None  # set when the source could not give the `max_pairs` it was asked for


def shortfall_message(name: str, requested: int, got: int, raw_rows: int | None, where: str) -> str:
    """The loud line of a source that cannot reach its requested size (e.g. v4's 150K on today's PKU main)."""
    rows = f"{raw_rows:,} rows" if raw_rows is not None else "its rows"
    return (
        f"SHORT: source {name!r} was asked for {requested:,} pairs (max_pairs) but {rows} of {where} gave only "
        f"{got:,} ({got - requested:,}); check its revision/split or lower max_pairs"
    )


def convert_source(spec: SourceSpec, cfg: DataBuildConfig) -> SourceResult:
    """Load one source (local copy or hub), convert and select its pairs, apply `max_pairs`."""
    start = time.perf_counter()
    info = get_source(spec.name)
    hub_id = spec.hub_id or info.hub_id
    split = spec.split or info.split
    data_dir = spec.data_dir or info.data_dir
    revision = spec.revision or info.revision
    ds = load_source_dataset(hub_id, split, data_dir, spec.path, cfg.cache_dir, revision if not spec.path else None)
    at = f"@{revision}" if revision else ""
    label = spec.path or f"{hub_id}{at}[{split}]" + (f"/{data_dir}" if data_dir else "")
    ctx = ConvertContext(source=spec.name, seed=cfg.seed, num_proc=cfg.num_proc, label=label)
    pairs, report = info.convert(ds, info.resolve_options(spec.options), ctx)
    shortfall = None
    if spec.max_pairs is not None and len(pairs) > spec.max_pairs:
        add_bulk_drops(report, Reason.SUBSAMPLED, len(pairs) - spec.max_pairs, f"{label}: max_pairs={spec.max_pairs}")
        report.kept = spec.max_pairs
        pairs = subsample(pairs, spec.max_pairs, cfg.seed, spec.name)
    elif spec.max_pairs is not None and len(pairs) < spec.max_pairs:
        shortfall = shortfall_message(spec.name, spec.max_pairs, len(pairs), len(ds), label)
        print(f"warning: {shortfall}", file=sys.stderr)
    return SourceResult(pairs, len(ds), report, time.perf_counter() - start, label, shortfall)


def source_notes(
    spec: SourceSpec | None, pairs: int, raw_rows: int | None, report: dict[str, Any] | None
) -> list[str]:
    """Why a source's count is what it is, beyond the published comparison: the selection rule in words, rows
    that could not be used (empty or malformed turns, odd values) apart from rows the selection rules dropped,
    and a requested size (`max_pairs`) the source could not reach."""
    notes = []
    if spec is None:
        return notes
    info = get_source(spec.name)
    if info.describe is not None:
        notes.append(info.describe(info.resolve_options(spec.options)))
    if spec.revision:
        # a local copy is read as it is: say so rather than let the revision vouch for it
        notes.append(
            f"local copy (revision {spec.revision} not checked)" if spec.path else f"hub revision {spec.revision}"
        )
    # Counts are of rows for one-pair-per-row sources and of candidate pairs for multi-pair ones (UltraFeedback,
    # HelpSteer), so they are given beside the rows read rather than as a share of them.
    dropped = {r: n for r, n in ((report or {}).get("dropped") or {}).items() if n}
    if dropped and raw_rows:
        notes.append(f"{raw_rows:,} rows read")
    for label, keep in (("unusable (empty or malformed)", True), ("dropped by the selection rules", False)):
        part = {r: n for r, n in dropped.items() if (r in UNUSABLE) == keep}
        if part:
            detail = ", ".join(f"{r} {n:,}" for r, n in sorted(part.items(), key=lambda kv: (-kv[1], kv[0])))
            notes.append(f"{label}: {sum(part.values()):,} ({detail})")
    if spec.max_pairs is not None and pairs < spec.max_pairs:
        notes.append(f"**SHORT: requested {spec.max_pairs:,} pairs (max_pairs), got {pairs:,}**")
    return notes


def mixture_stats(
    ds: datasets.Dataset,
    name: str,
    specs: list[SourceSpec],
    raw_rows: dict[str, int],
    tokenizer: Any | None,
    tokenizer_name: str | None,
    cache_dir: Path,
    num_proc: int = 1,
    reports: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Statistics per source (recipe order, then any other `source` tag found) compared with the published
    figures; token lengths when a tokenizer is given, pair counts otherwise. `reports` (a source's
    `DropReport.to_dict()`) add the drop causes to each source's `notes`; `warnings` lists the sources that
    could not reach their requested `max_pairs`."""
    rows = length_stats(tokenize_pairs(ds, tokenizer, num_proc, cache_dir)) if tokenizer else count_by_source(ds)
    empty = {"pairs": 0, "avg_chosen": None, "avg_rejected": None, "max_len": None}
    by_name = {spec.name: spec for spec in specs}
    order = [*by_name, *(k for k in rows if k != "total" and k not in by_name)]
    sources, warnings = {}, []
    for src in order:
        row = dict(rows.get(src, empty))
        row["raw_rows"] = raw_rows.get(src)
        spec = by_name.get(src)
        row["published"] = (
            None
            if spec is None
            else compare_with_published(row["pairs"], spec.published, raw_rows.get(src), _hub_rows(spec))
        )
        row["notes"] = source_notes(spec, row["pairs"], raw_rows.get(src), (reports or {}).get(src))
        if spec is not None and spec.max_pairs is not None and row["pairs"] < spec.max_pairs:
            warnings.append(shortfall_message(src, spec.max_pairs, row["pairs"], raw_rows.get(src), _where(spec)))
            if row["published"] is not None:
                row["published"]["status"] = "SHORT"
        sources[src] = row
    return {
        "name": name,
        "tokenizer": tokenizer_name,
        "sources": sources,
        "total": rows["total"],
        "published_total": PUBLISHED_TOTALS.get(name),
        "warnings": warnings,
    }


def _hub_rows(spec: SourceSpec) -> int | None:
    # The registered row count describes the registered hub split at the registered revision only.
    info = get_source(spec.name)
    same = (spec.split or info.split) == info.split and (spec.revision or info.revision) == info.revision
    same = same and (spec.hub_id or info.hub_id) == info.hub_id and (spec.data_dir or info.data_dir) == info.data_dir
    return info.hub_rows if same else None


def _where(spec: SourceSpec) -> str:
    info = get_source(spec.name)
    revision = spec.revision or info.revision
    return spec.path or f"{spec.hub_id or info.hub_id}{'@' + revision if revision else ''}[{spec.split or info.split}]"


def write_stats(folder: Path, stats: dict[str, Any]) -> None:
    atomic_write_json(folder / "stats.json", stats)
    atomic_write_text(folder / "stats.md", stats_markdown(stats))


def build_mixture(
    cfg: DataBuildConfig, out_dir: str | Path, tokenizer: Any | None = None, overwrite: bool = False,
    load_tokenizer: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Build `cfg` into `out_dir` (replaced atomically); returns the statistics.

    `out_dir` is checked before any source is read: a folder rewardlab wrote is replaced whole; an existing file
    (the recipe itself), a folder holding a source or the token cache, and a non-empty folder rewardlab did not
    write (unless `overwrite`) are refused.

    `tokenizer` (an object) wins over `cfg.tokenizer` (a name, loaded by `load_tokenizer`); tests pass a tiny
    local one.
    """
    inputs = [spec.path for spec in cfg.sources if spec.path] + [cfg.cache_dir]
    out_dir = check_output_path(out_dir, overwrite=overwrite, inputs=inputs)
    if tokenizer is None and cfg.tokenizer:
        tokenizer = named_tokenizer(cfg.tokenizer, load_tokenizer, f"mixture {cfg.name!r}")
    results = {spec.name: convert_source(spec, cfg) for spec in cfg.sources}
    parts = [r.pairs for r in results.values() if len(r.pairs)]
    if not parts:
        raise DataError(f"mixture {cfg.name!r}: every source was empty after selection; see the drop reports")
    mixture = datasets.concatenate_datasets(parts)
    if cfg.shuffle:
        mixture = mixture.shuffle(seed=cfg.seed)
    with AtomicDirectory(out_dir, overwrite=overwrite, command="data build", inputs=inputs) as tmp:
        mixture.save_to_disk(str(tmp))
        saved = datasets.load_from_disk(str(tmp))  # memory-mapped: stats stream from the written files
        cache = Path(cfg.cache_dir) / "token_cache" if cfg.cache_dir else tmp / "token_cache"
        raw_rows = {k: r.raw_rows for k, r in results.items()}
        reports = {k: r.report.to_dict() for k, r in results.items()}
        tok_name = cfg.tokenizer or (
            getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__ if tokenizer is not None else None
        )
        stats = mixture_stats(
            saved, cfg.name, cfg.sources, raw_rows, tokenizer, tok_name, cache, cfg.num_proc, reports
        )
        write_stats(tmp, stats)
        build = {
            "config": cfg.to_dict(),
            "sources": {
                k: {
                    "raw_rows": r.raw_rows,
                    "read_from": r.label,
                    "seconds": round(r.seconds, 2),
                    **r.report.to_dict(),
                    **({"shortfall": r.shortfall} if r.shortfall else {}),
                }
                for k, r in results.items()
            },
            "pairs": len(saved),
            "warnings": stats["warnings"],
        }
        atomic_write_json(tmp / "build.json", build)
        del saved
    return stats
