"""Metadata attachment: annotations on data files (file-based), RecordSets (record-based)."""
