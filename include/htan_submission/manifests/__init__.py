"""Manifests: CSV/TSV/XLSX read as text frames, each with its component."""

from htan_submission.manifests.reader import Manifest, ManifestReadError, manifest_paths, read_manifest

__all__ = ["Manifest", "ManifestReadError", "manifest_paths", "read_manifest"]
