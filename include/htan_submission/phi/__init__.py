"""PHI detection and removal: tables (dates, ages, identifiers in text) and image headers."""
