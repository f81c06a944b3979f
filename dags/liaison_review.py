"""``htan_liaison_review``: a center's data liaison approves or rejects a batch from the Airflow UI.

Wiring only: the task is ``RecordLiaisonDecisionOperator``. Parsing reads centers.yaml (for the
form's list of centers) and imports nothing heavy.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from htan_submission.airflow.review import RecordLiaisonDecisionOperator
from htan_submission.config import load_centers

DOC = """
### Liaison review of an HTAN batch

Trigger this DAG to **approve or reject** a batch whose submission run waits at
`liaison_signoff`. The form asks for the center, the submission run id and the batch's S3 URI
(both are in the message you received, and on the submission run's page), your decision and a
comment (required to reject; the center reads it).

Your decision counts only if your Airflow user name is one of the center's `liaisons` in
centers.yaml. Every decision, counted or not, is kept next to the batch in S3
(`<batch>_htan/signoff/<run>/`) with who, when and what, and shows in the batch report's audit
trail. The latest decision of a liaison stands: to change your mind, trigger this DAG again.

You can decide in Synapse instead: set the annotations `liaison_decision` and `liaison_comment`
on the batch report's File entity.
"""

RECORD_DOC = """
Writes your decision (signed with the `htan_signoff` connection's key) next to the batch in S3;
the waiting submission run picks it up within its poll interval.

**When it fails**: the log says why. Not a liaison of the center: your attempt is recorded but
does not count (ask the DCC to add you to `liaisons`). A rejection without a comment, or a
batch that is not an `s3://` URI: trigger again with the form corrected. Neither is retried.
"""

CENTER_IDS = sorted(load_centers())

with DAG(
    dag_id="htan_liaison_review",
    description="A liaison approves or rejects a submitted HTAN batch",
    doc_md=DOC,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["htan", "signoff", "manual"],
    params={
        "center": Param(CENTER_IDS[0], type="string", enum=CENTER_IDS, title="Center",
                        description="The center whose batch you review."),
        "run_id": Param(type="string", minLength=1, title="Submission run id",
                        description="The run of htan_submission__<center> that waits for you."),
        "batch": Param(type="string", title="Batch location", pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
                       description="The batch's S3 URI, as in the submission run's 'batch' parameter."),
        "decision": Param(type="string", enum=["approved", "rejected"], title="Decision"),
        # null allowed: Airflow's form treats a non-nullable string left empty as missing.
        "comment": Param(None, type=["null", "string"], title="Comment", maxLength=2000,
                         description="Optional to approve; required to reject: what the center must fix."),
    },
    default_args={
        "owner": "htan-dcc",
        "retries": 2,  # S3 hiccups; a form error or a non-liaison fails at once (AirflowFailException)
        "retry_delay": timedelta(seconds=30),
    },
) as dag:
    RecordLiaisonDecisionOperator(
        task_id="record_decision",
        center_id="{{ params.center }}",
        submission_run_id="{{ params.run_id }}",
        batch="{{ params.batch }}",
        decision="{{ params.decision }}",
        comment="{{ params.comment or '' }}",
        execution_timeout=timedelta(minutes=5),
        doc_md=RECORD_DOC,
    )
