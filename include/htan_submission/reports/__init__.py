"""Findings as reports people and machines read: JSON and CSV (``findings.Report``), and one
self-contained HTML page per batch (``reports.html``) that a data liaison can open from an e-mail
or an Airflow link without network access."""
