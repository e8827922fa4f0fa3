"""Evaluation: pair accuracy with bootstrap intervals, RewardBench v1/v2 scoring, reports.

Modules: `constants` (benchmark definitions), `aggregation` (pure scoring), `bootstrap` (intervals),
`calibration` and `length_bias` (diagnostics), `loaders` (benchmark rows), `evaluator` (`evaluate`),
`writers` (JSON, Markdown, model card), `plots` (PNG report), `cli_commands` (`eval_command`).
Import what you need from the modules; this package import stays light.
"""
