"""htan-submission: an HTAN center's submission of assay data and metadata to Synapse.

The core (everything here except ``htan_submission.airflow``) is free of Airflow, so every step
runs and is tested from plain Python and from the ``htan-submit`` CLI as well as from a DAG.
"""

__version__ = "0.1.0"
