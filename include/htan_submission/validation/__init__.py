"""Manifest validation: the compiled HTAN2 schemas, then the DCC's cross-manifest rules."""
