"""Dataset building (patches, dedup, low-information filter, splits, manifest) and torch datasets."""
