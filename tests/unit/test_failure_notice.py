from htan_submission.failure_notice import FailedStep, failure_message, what_to_do

DOC = """
Validates the manifests.

**When it fails**: open `validation.html`; each finding names the file,
row and column. Fix the manifests and re-run.

More text that is not advice.
"""


def _step(**overrides) -> FailedStep:
    fields = dict(center_id="HTA200", dag_id="htan_submission__HTA200", run_id="manual__1", task_id="validate",
                  try_number=1, batch="s3://b/batches/b1/", error_type="AirflowFailException",
                  error_message="4 validation error(s) in s3://b/batches/b1/: see validation.html", task_doc=DOC,
                  task_url="http://af/dags/d/runs/r/tasks/validate", report_url="http://af/htan-reports/d/r/")
    return FailedStep(**{**fields, **overrides})


def test_the_notice_says_where_why_and_what_to_do():
    subject, body = failure_message(_step())
    assert subject == "[HTAN HTA200] htan_submission__HTA200: validate failed"
    assert "stopped at validate (try 1)" in body and "Batch: s3://b/batches/b1/" in body
    assert "Why: 4 validation error(s) in s3://b/batches/b1/: see validation.html" in body
    assert "What to do: open `validation.html`; each finding names the file, row and column. Fix the manifests " \
           "and re-run." in body
    assert "More text" not in body
    assert "http://af/dags/d/runs/r/tasks/validate" in body and "http://af/htan-reports/d/r/" in body


def test_only_our_own_refusals_are_quoted():
    _, body = failure_message(_step(error_type="ClientError",
                                    error_message="https://bucket.s3/key?X-Amz-Signature=secret 403 jane.doe@x.org"))
    assert "Why: ClientError (the task log has the details)" in body
    assert "secret" not in body and "jane.doe" not in body


def test_a_task_without_advice_gets_the_general_one():
    assert what_to_do("Does a thing.") == "Read the task log; re-run the step once it is fixed."
