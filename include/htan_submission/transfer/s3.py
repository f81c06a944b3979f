"""The center's bucket, as the transfer reads it: listings, HEADs, ranged GETs, streamed MD5s.

Every read of an object names the ETag the inventory saw (``If-Match``), so an object rewritten
after the plan was made answers 412 and the file is reported as changed instead of being
uploaded with bytes nobody validated. Read errors (a reset connection, a truncated body, S3's
5xx or SlowDown) are retried per range; a persistent one raises ``S3ReadError`` naming the key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)
MD5_HEX = re.compile(r"^[0-9a-f]{32}$")
STREAM_CHUNK = 1024 * 1024
_PRECONDITION = {"PreconditionFailed", "412"}
_GONE = {"NoSuchKey", "404", "NotFound"}
_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "500", "502", "503", "504"}


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str

    @property
    def etag_md5(self) -> str | None:
        """The MD5 an ETag may give for free: only a single-part upload's ETag is the MD5 (a
        multipart one reads ``<md5 of part md5s>-<parts>``). SSE-KMS objects have MD5-shaped
        ETags that are not MD5s, which only a HEAD tells (``S3Reader.check_unchanged``)."""
        return self.etag if MD5_HEX.match(self.etag) else None


class ObjectChanged(Exception):
    """The object is not the one the inventory saw (rewritten, resized or deleted)."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"s3 object {key} changed since the inventory: {reason}")


class S3ReadError(Exception):
    """Reading an object kept failing after retries; the message names the key."""


def s3_client(endpoint_url: str | None = None, max_pool_connections: int = 32):
    """boto3 S3 client; the endpoint comes from the argument, ``AWS_ENDPOINT_URL`` or boto3's
    defaults (credentials from boto3's usual chain)."""
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=max_pool_connections, retries={"mode": "standard", "max_attempts": 5})
    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                        config=config)


def clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"').lower()


def list_objects(client, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under ``prefix``, page by page (ListObjectsV2, 1,000 keys a page)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents") or []:
            yield S3Object(key=item["Key"], size=int(item["Size"]), etag=clean_etag(item.get("ETag")))


class S3Reader:
    """Reads objects of one bucket with If-Match on the inventory's ETag, retrying read errors."""

    def __init__(self, client, bucket: str, attempts: int = 5, backoff_s: float = 0.2,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.bucket = bucket
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sleep = sleep

    def check_unchanged(self, obj: S3Object) -> bool:
        """HEAD the object; raise ``ObjectChanged`` if its size or ETag differ from ``obj``.

        Returns whether the ETag can stand for the MD5: a single-part ETag of an object that is
        not encrypted with SSE-KMS or SSE-C (S3 then returns an ETag that is not the MD5, and a
        listing cannot tell; only the HEAD's encryption headers can)."""
        head = self._retrying(obj, lambda: self.client.head_object(Bucket=self.bucket, Key=obj.key), "HEAD")
        size, etag = int(head["ContentLength"]), clean_etag(head.get("ETag"))
        if size != obj.size:
            raise ObjectChanged(obj.key, f"size {obj.size} -> {size} bytes")
        if obj.etag and etag != obj.etag:
            raise ObjectChanged(obj.key, "its ETag differs (the object was rewritten)")
        kms = str(head.get("ServerSideEncryption") or "").startswith("aws:kms")
        encrypted = kms or bool(head.get("SSECustomerAlgorithm"))
        return bool(obj.etag_md5) and not encrypted

    def read(self, obj: S3Object, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the object as the inventory saw it."""
        if length <= 0:
            return b""

        def get() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"',
                                              Range=f"bytes={start}-{start + length - 1}")
            data = response["Body"].read()
            if len(data) != length:
                raise OSError(f"short read: {len(data)} of {length} bytes")
            return data

        return self._retrying(obj, get, f"bytes {start}-{start + length - 1}")

    def md5(self, obj: S3Object) -> str:
        """The whole object's MD5, streamed in 1 MiB pieces (never stored); a read error resumes
        from the last good offset with the hash state kept."""
        digest = hashlib.md5()
        offset = 0
        breaks = 0
        while offset < obj.size:
            def rest(start: int = offset) -> Iterator[bytes]:
                response = self.client.get_object(Bucket=self.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"',
                                                  Range=f"bytes={start}-{obj.size - 1}")
                return response["Body"].iter_chunks(STREAM_CHUNK)

            chunks = self._retrying(obj, rest, f"bytes {offset}-")
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    offset += len(chunk)
                problem = "ended early" if offset < obj.size else None
            except Exception as exc:
                if not _retryable(exc):
                    raise
                problem = f"broke ({type(exc).__name__})"
            if problem:
                breaks += 1
                if breaks >= self.attempts:
                    raise S3ReadError(f"reading s3://{self.bucket}/{obj.key} failed: the stream {problem} at byte "
                                      f"{offset} {breaks} times")
                log.debug("stream of %s %s at byte %d; resuming", obj.key, problem, offset)
        return digest.hexdigest()

    def _retrying(self, obj: S3Object, fn: Callable, what: str):
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                code = _error_code(exc)
                if code in _PRECONDITION:
                    raise ObjectChanged(obj.key, "its ETag differs (the object was rewritten)") from None
                if code in _GONE:
                    raise ObjectChanged(obj.key, "it was deleted") from None
                if not _retryable(exc) or attempt == self.attempts:
                    raise S3ReadError(f"reading s3://{self.bucket}/{obj.key} ({what}) failed after {attempt} "
                                      f"attempt(s): {type(exc).__name__}: {exc}") from exc
                log.debug("retrying %s of %s after %s", what, obj.key, type(exc).__name__)
                self._sleep(min(5.0, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "") or None


def _retryable(exc: BaseException) -> bool:
    """Transient: S3's throttling and 5xx codes, dropped or timed-out connections, truncated
    bodies. Not: missing credentials, access denied, a bad request (retrying cannot help)."""
    from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ClientError):
        return _error_code(exc) in _RETRYABLE_CODES
    return isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError | OSError | Urllib3Error)
