"""moto in server mode is a real S3 on loopback: boto3 and Airflow's S3Hook work unchanged."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_boto3_and_s3hook_reach_moto_through_aws_default(moto_s3, s3_bucket, monkeypatch):
    moto_s3.client().put_object(Bucket=s3_bucket, Key="batches/b1/Demographics.csv", Body=b"HTAN_PARTICIPANT_ID\n")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id="aws_default")
    assert hook.list_keys(bucket_name=s3_bucket, prefix="batches/") == ["batches/b1/Demographics.csv"]
    assert hook.read_key("batches/b1/Demographics.csv", bucket_name=s3_bucket) == "HTAN_PARTICIPANT_ID\n"
    assert hook.conn.meta.endpoint_url == moto_s3.endpoint_url
