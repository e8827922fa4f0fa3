"""Preference data: schema, readers, per-dataset converters, pairing rules, mixtures, statistics."""
