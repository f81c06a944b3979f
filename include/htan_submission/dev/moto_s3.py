"""moto's S3 in server mode on a loopback port: real HTTP, so boto3 and S3Hook run unchanged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class RunningMoto:
    endpoint_url: str
    process: subprocess.Popen

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def airflow_conn_uri(self) -> str:
        """The ``aws_default`` connection as JSON for ``AIRFLOW_CONN_AWS_DEFAULT``."""
        import json

        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"}})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def running_moto(host: str = "127.0.0.1", port: int | None = None, log_file: str | None = None,
                 buckets: list[str] | None = None, timeout_s: float = 60) -> Iterator[RunningMoto]:
    """Run ``moto.server`` until the block ends; wait until it answers HTTP."""
    port = port or free_port(host)
    env = {**os.environ, **TEST_CREDENTIALS}
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                               stdout=log, stderr=log, env=env)
    endpoint = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not answer on {endpoint}") from None
                time.sleep(0.1)  # polling a starting process; not synchronising tests
        running = RunningMoto(endpoint_url=endpoint, process=process)
        for bucket in buckets or []:
            running.client().create_bucket(Bucket=bucket)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_file:
            log.close()
