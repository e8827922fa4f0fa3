"""Statistics of a built mixture, like recipe table 3.1: pairs, mean chosen/rejected length, max length, per
source and in total, compared with the recipe's published figures (kept here as data).

Lengths are tokens of a chosen tokenizer over the whole conversation the reward model reads (context + final
turn, through the tokenizer's chat template when it has one, exactly as the trainer renders it: a leading BOS
string removed when tokenizing adds one, system prompts folded into the first user turn where the template
renders no system turn, those pairs counted as ``system_folded``). The
tokenized lengths are a cached Arrow map keyed by the data fingerprint and the tokenizer, so a second `stats`
run on the same folder reads them back instead of tokenizing again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import datasets


# ----------------------------------------------------------------------------------------- published figures
@dataclasses.dataclass(frozen=True)
class PublishedRow:
    """One line of recipe table 3.1 (lengths in the recipe's unnamed tokenizer) or of the 3.2 text."""

    dataset: str
    pairs: int
    avg_chosen: int | None
    avg_rejected: int | None
    max_len: int | None
    note: str = ""


#: Keys are what a recipe's `published` field names. Figures copied from recipe.md sections 3.1 and 3.2.
PUBLISHED: dict[str, PublishedRow] = {
    "hh-rlhf-base": PublishedRow(
        "Anthropic/hh-rlhf base", 43038, 202, 188, 1127, "helpful-base train (43,835 rows) minus chosen == rejected"
    ),
    "hh-rlhf-rs": PublishedRow("Anthropic/hh-rlhf RS", 51077, 252, 240, 1297),
    "hh-rlhf-online": PublishedRow("Anthropic/hh-rlhf online", 21432, 416, 421, 2333),
    "shp-ratio2-k5": PublishedRow(
        "stanfordnlp/SHP; ratio > 2; ver1",
        109526,
        385,
        296,
        5115,
        "which pairs a post keeps is not published (here: seeded random)",
    ),
    "shp-ratio2-k1": PublishedRow(
        "stanfordnlp/SHP; ratio > 2; ver2",
        55916,
        388,
        292,
        4789,
        "which pair a post keeps is not published (here: seeded random)",
    ),
    "helpsteer-best-vs-random": PublishedRow(
        "nvidia/HelpSteer; best v.s. random",
        8206,
        772,
        732,
        2672,
        "count depends on the random draws (equal draws are dropped)",
    ),
    "helpsteer-all-pairs": PublishedRow("nvidia/HelpSteer; all pairs", 21576, 748, 710, 2672),
    "ultrafeedback-best-vs-random": PublishedRow(
        "argilla/ultrafeedback-binarized-preferences-cleaned",
        62793,
        541,
        447,
        6074,
        "62,793 exceeds the 60,917 rows of the argilla set, so the recipe must have binarized "
        "openbmb/UltraFeedback itself; count depends on the random draws",
    ),
    "ultrafeedback-all-pairs": PublishedRow("openbmb/UltraFeedback", 267416, 523, 439, 6074),
    "orca": PublishedRow(
        "argilla/distilabel-intel-orca-dpo-pairs",
        6405,
        364,
        470,
        2279,
        "12,859 rows minus ties leaves far more than 6,405: the recipe filtered further "
        "(e.g. the card's chosen_score >= 8 / not in gsm8k train), not published",
    ),
    "capybara": PublishedRow(
        "argilla/distilabel-capybara-dpo-7k-binarized",
        7660,
        1234,
        1290,
        5962,
        "table 3.1 says 7,660 but section 3.2 says 7,562 (7,563 rows minus equal ratings)",
    ),
    "capybara-3.2": PublishedRow("argilla/distilabel-capybara-dpo-7k-binarized (3.2 text)", 7562, None, None, None),
    "pku-saferlhf-30k": PublishedRow(
        "PKU-Alignment/PKU-SafeRLHF-30K",
        30000,
        None,
        None,
        None,
        "'30K samples' counts train + test together (26.9K + 3.0K rows on the hub); only the train split "
        "is read, so at most ~26.9K pairs",
    ),
    "pku-saferlhf-150k": PublishedRow(
        "PKU-Alignment/PKU-SafeRLHF (subset)",
        150000,
        None,
        None,
        None,
        "'subset 150K samples' of the recipe-era release (hub revision v0, ~297K train rows); the June 2024 "
        "release on main has ~73.9K train rows, too few; the subset draw is not published",
    ),
}

#: Mixture totals implied by section 3.2 (sums of the per-source counts it lists; v1 is called "250K").
PUBLISHED_TOTALS = {
    "v1": 115547 + 7562 + 6405 + 55916 + 62793 + 8206,
    "v2": 115547 + 7562 + 6405 + 109526 + 267416 + 21576,
    "v3": 115547 + 7562 + 6405 + 109526 + 267416 + 21576 + 30000,
    "v4": 115547 + 7562 + 6405 + 109526 + 267416 + 21576 + 150000,
}

#: Relative difference in pairs below which a count is reported as matching the recipe.
MATCH_TOLERANCE = 0.005


# ----------------------------------------------------------------------------------------------- tokenizing
def _template_encoder(tokenizer: Any) -> Any:
    # The trainer's own rendering (a tokenizer object is passed in; data.templates imports nothing of ours)
    from rewardlab.data.templates import ConversationEncoder

    return ConversationEncoder(tokenizer, max_length=1 << 62)


def conversation_text(messages: list[dict[str, str]], tokenizer: Any, encoder: Any | None = None) -> str:
    """The text the reward model reads: the trainer's chat-template text when the tokenizer has a template
    (`encoder`: a `_template_encoder` to reuse), else ``role: content`` turns separated by blank lines."""
    if getattr(tokenizer, "chat_template", None):
        return (encoder or _template_encoder(tokenizer)).text(messages)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def _length_batch(batch: dict[str, list], tokenizer: Any, keep_ids: bool) -> dict[str, list]:
    out: dict[str, list] = {}
    encoder = _template_encoder(tokenizer) if getattr(tokenizer, "chat_template", None) else None
    out["system_folded"] = [bool(encoder and encoder.folds_system(ctx)) for ctx in batch["context"]]
    for side in ("chosen", "rejected"):
        texts = [
            conversation_text([*ctx, {"role": "assistant", "content": resp}], tokenizer, encoder)
            for ctx, resp in zip(batch["context"], batch[side], strict=True)
        ]
        ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
        out[f"{side}_len"] = [len(x) for x in ids]
        if keep_ids:
            out[f"{side}_input_ids"] = ids
    return out


def tokenizer_key(tokenizer: Any) -> str:
    """A short stable digest of what decides token counts (vocabulary, template, class)."""
    h = hashlib.sha256()
    h.update(type(tokenizer).__name__.encode())
    h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    h.update(str(getattr(tokenizer, "chat_template", "")).encode())
    h.update(str(getattr(tokenizer, "bos_token", "")).encode())
    return h.hexdigest()[:16]


def tokenize_pairs(
    ds: datasets.Dataset,
    tokenizer: Any,
    num_proc: int = 1,
    cache_dir: str | Path | None = None,
    keep_ids: bool = False,
    batch_size: int = 1000,
) -> datasets.Dataset:
    """Add ``chosen_len``/``rejected_len`` (and the ids with `keep_ids`) by a batched Arrow map.

    With `cache_dir`, the result is written to a file named by the data fingerprint and `tokenizer_key`, and
    an existing file is reused: tokenizing a v2-sized mixture is the slow step, so it is done once.
    """
    cache_file = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tag = f"{ds._fingerprint}-{tokenizer_key(tokenizer)}-{'ids' if keep_ids else 'len'}-v2"  # v2: system_folded
        cache_file = str(Path(cache_dir) / f"tokens-{tag}.arrow")
    procs = min(num_proc, max(1, len(ds) // batch_size))
    return ds.map(
        _length_batch,
        batched=True,
        batch_size=batch_size,
        fn_kwargs={"tokenizer": tokenizer, "keep_ids": keep_ids},
        num_proc=procs if procs > 1 else None,
        cache_file_name=cache_file,
        load_from_cache_file=cache_file is not None,
        desc="tokenizing",
    )


# ----------------------------------------------------------------------------------------------- statistics
@dataclasses.dataclass
class SourceStats:
    """Running sums for one source (or the total): enough for count, means and max."""

    pairs: int = 0
    sum_chosen: int = 0
    sum_rejected: int = 0
    max_len: int = 0
    system_folded: int = 0  # pairs whose system prompt the chat template needed folded into the first user turn

    def add(self, chosen: list[int], rejected: list[int], folded: int = 0) -> None:
        self.pairs += len(chosen)
        self.sum_chosen += sum(chosen)
        self.sum_rejected += sum(rejected)
        self.max_len = max(self.max_len, *chosen, *rejected) if chosen else self.max_len
        self.system_folded += folded

    def row(self) -> dict[str, Any]:
        n = max(self.pairs, 1)
        row = {
            "pairs": self.pairs,
            "avg_chosen": round(self.sum_chosen / n, 1),
            "avg_rejected": round(self.sum_rejected / n, 1),
            "max_len": self.max_len,
        }
        if self.system_folded:  # only where it happened: most templates render system turns
            row["system_folded"] = self.system_folded
        return row


def length_stats(tokenized: datasets.Dataset) -> dict[str, dict[str, Any]]:
    """Per-source and total pairs, mean lengths and max length (reads three columns in Arrow batches)."""
    per: dict[str, SourceStats] = {}
    total = SourceStats()
    has_folded = "system_folded" in tokenized.column_names
    names = ["source", "chosen_len", "rejected_len", *(["system_folded"] if has_folded else [])]
    cols = tokenized.select_columns(names).with_format("arrow")
    for batch in cols.iter(batch_size=65_536):
        sources = batch["source"].to_pylist()
        chosen, rejected = batch["chosen_len"].to_pylist(), batch["rejected_len"].to_pylist()
        folded = batch["system_folded"].to_pylist() if has_folded else [False] * len(sources)
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(sources):
            groups.setdefault(s, []).append(i)
        for s, rows in groups.items():
            per.setdefault(s, SourceStats()).add([chosen[i] for i in rows], [rejected[i] for i in rows],
                                                 sum(folded[i] for i in rows))
        total.add(chosen, rejected, sum(folded))
    return {**{s: st.row() for s, st in per.items()}, "total": total.row()}


def count_by_source(ds: datasets.Dataset) -> dict[str, dict[str, Any]]:
    """Pair counts only (no tokenizer given)."""
    counts: dict[str, int] = {}
    for batch in ds.select_columns(["source"]).with_format("arrow").iter(batch_size=65_536):
        for s in batch["source"].to_pylist():
            counts[s] = counts.get(s, 0) + 1
    rows = {s: {"pairs": n, "avg_chosen": None, "avg_rejected": None, "max_len": None} for s, n in counts.items()}
    rows["total"] = {"pairs": sum(counts.values()), "avg_chosen": None, "avg_rejected": None, "max_len": None}
    return rows


def compare_with_published(
    pairs: int, published_key: str | None, raw_rows: int | None, hub_rows: int | None
) -> dict[str, Any] | None:
    """How a source's pair count compares with the recipe's, and why it may differ.

    Counts are only comparable when the full hub split was read (`raw_rows` == `hub_rows`); otherwise the
    difference is attributed to the partial input rather than to the selection rules.
    """
    if not published_key:
        return None
    if published_key not in PUBLISHED:
        raise KeyError(f"no published figures under {published_key!r}; known: {', '.join(PUBLISHED)}")
    ref = PUBLISHED[published_key]
    diff = pairs - ref.pairs
    rel = diff / ref.pairs
    if hub_rows is not None and raw_rows is not None and raw_rows != hub_rows:
        status, cause = "not comparable", f"partial input: read {raw_rows} of the hub split's {hub_rows} rows"
    elif abs(rel) <= MATCH_TOLERANCE:
        status, cause = "matches", ref.note
    else:
        status = "differs"
        full = "full hub split read" if hub_rows is not None else "input size unknown"
        cause = f"{full}; {ref.note}" if ref.note else full
    return {
        "key": published_key,
        "published_pairs": ref.pairs,
        "difference": diff,
        "relative": round(rel, 4),
        "status": status,
        "cause": cause,
        "published_avg": [ref.avg_chosen, ref.avg_rejected],
        "published_max_len": ref.max_len,
    }


def _fmt(v: Any) -> str:
    return "–" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))


def stats_markdown(stats: dict[str, Any]) -> str:
    """Table 3.1 layout, plus the published counts and the difference for each source."""
    lines = [
        f"# Statistics of mixture {stats.get('name', '?')}",
        "",
        f"Tokenizer: `{stats.get('tokenizer') or 'none (counts only)'}`; lengths are tokens of the whole "
        "conversation (context + response).",
        "",
        "| Source | # Pairs | Average len (chosen, rejected) | Max len | Published # pairs | Difference | Status | Cause |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, row in stats["sources"].items():
        cmp = row.get("published") or {}
        cause = "; ".join(c for c in (cmp.get("cause"), *row.get("notes", ())) if c)
        lines.append(
            f"| {name} | {_fmt(row['pairs'])} | ({_fmt(row['avg_chosen'])}, {_fmt(row['avg_rejected'])}) | "
            f"{_fmt(row['max_len'])} | {_fmt(cmp.get('published_pairs'))} | {_fmt(cmp.get('difference'))} | "
            f"{cmp.get('status', '')} | {cause} |"
        )
    t = stats["total"]
    pub = stats.get("published_total")
    diff = "" if pub is None else _fmt(t["pairs"] - pub)
    lines.append(
        f"| **total** | {_fmt(t['pairs'])} | ({_fmt(t['avg_chosen'])}, {_fmt(t['avg_rejected'])}) | "
        f"{_fmt(t['max_len'])} | {_fmt(pub)} | {diff} | | |"
    )
    if t.get("system_folded"):
        per = ", ".join(f"{n} {r['system_folded']:,}" for n, r in stats["sources"].items() if r.get("system_folded"))
        lines += ["", f"System prompts folded into the first user turn (the chat template renders no system turn): "
                      f"{t['system_folded']:,} pairs ({per})."]
    if stats.get("warnings"):
        lines += ["", "**Warnings**", "", *(f"- **{w}**" for w in stats["warnings"])]
    return "\n".join(lines) + "\n"
