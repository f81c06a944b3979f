"""Pure functions of the emulator's models: Synapse's limits and parsers, fault matching, URL signing.

No server runs here; these pin the rules the integration tests rely on, one rule per case.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

import pytest

from synapse_emulator.errors import BadRequest, Forbidden
from synapse_emulator.faults import FaultTable
from synapse_emulator.models import Backend, annotations_v2, entities, files, schemas, users
from synapse_emulator.state import State
from synapse_emulator.storage import BlobStorage


def _string(*values: str) -> dict:
    return {"type": "STRING", "value": list(values)}


# --- annotations_v2.validate ---------------------------------------------------------------------

def test_validate_accepts_synapse_limits_and_stringifies_values():
    annotations = {f"k{i}": _string("v") for i in range(98)}
    annotations["long"] = _string("x" * 250, "y" * 250)
    annotations["n"] = {"type": "LONG", "value": [3]}
    clean = annotations_v2.validate(annotations)
    assert len(clean) == 100
    assert clean["n"] == {"type": "LONG", "value": ["3"]}


def test_validate_refuses_more_than_a_hundred_keys():
    with pytest.raises(BadRequest, match="maximum number of annotation keys"):
        annotations_v2.validate({f"k{i}": _string("v") for i in range(101)})


def test_validate_allows_a_hundred_values_per_key_not_more():
    assert annotations_v2.validate({"many": {"type": "LONG", "value": list(range(100))}})
    with pytest.raises(BadRequest, match="maximum of 100 values"):
        annotations_v2.validate({"many": {"type": "LONG", "value": list(range(101))}})


@pytest.mark.parametrize("key", ["HTAN Participant ID", "participant-id", "a/b", "", "_accessRequirementIds", "é"])
def test_validate_refuses_keys_outside_synapse_pattern(key):
    with pytest.raises(BadRequest, match="Invalid annotation name"):
        annotations_v2.validate({key: _string("x")})


@pytest.mark.parametrize("key", ["HTANParticipantID", "a.b", "a_b", "a,b", "A1"])
def test_validate_accepts_keys_in_synapse_pattern(key):
    assert key in annotations_v2.validate({key: _string("x")})


def test_validate_trims_keys():
    assert annotations_v2.validate({" assay ": _string("x")}) == {"assay": _string("x")}


def test_validate_counts_string_characters_over_all_values_of_a_key():
    assert annotations_v2.validate({"s": _string("x" * 500)})
    with pytest.raises(BadRequest, match="500 characters"):
        annotations_v2.validate({"s": _string("x" * 501)})
    with pytest.raises(BadRequest, match="500 characters"):
        annotations_v2.validate({"s": _string("x" * 300, "y" * 201)})


@pytest.mark.parametrize("value", [
    {"type": "LONG", "value": ["1.5"]},
    {"type": "DOUBLE", "value": ["abc"]},
    {"type": "BOOLEAN", "value": ["yes"]},
    {"type": "TIMESTAMP_MS", "value": ["2024-01-01"]},
    {"type": "STRING", "value": []},
    {"type": "STRING", "value": None},
    {"type": "TEXT", "value": ["x"]},
    {"value": ["x"]},
], ids=["long", "double", "boolean", "timestamp", "empty", "null", "unknown-type", "no-type"])
def test_validate_refuses_bad_values(value):
    with pytest.raises(BadRequest):
        annotations_v2.validate({"k": value})


def test_validate_accepts_each_type():
    annotations = {"s": _string("x"), "d": {"type": "DOUBLE", "value": ["0.5"]},
                   "l": {"type": "LONG", "value": ["-3"]}, "b": {"type": "BOOLEAN", "value": ["false"]},
                   "t": {"type": "TIMESTAMP_MS", "value": ["1700000000000"]}}
    assert annotations_v2.validate(annotations) == annotations


def test_validate_refuses_a_non_map():
    with pytest.raises(BadRequest):
        annotations_v2.validate(["not", "a", "map"])


# --- users.parse_seed ----------------------------------------------------------------------------

def test_parse_seed_without_flags_passes_every_gate():
    assert users.parse_seed("alice:tok-1") == {"userName": "alice", "token": "tok-1", "certified": True,
                                               "twoFactor": True, "tos": True}


@pytest.mark.parametrize("flags, expected", [
    ("certified", (True, False, False)),
    ("2fa,tos", (False, True, True)),
    ("certified, 2fa ,tos", (True, True, True)),
    ("", (False, False, False)),
])
def test_parse_seed_flags_choose_the_gates(flags, expected):
    seed = users.parse_seed(f"bob:tok-2:{flags}")
    assert (seed["certified"], seed["twoFactor"], seed["tos"]) == expected


@pytest.mark.parametrize("spec", ["alice", "alice:", ":tok", "alice:tok:admin", "alice:tok:certified,root"])
def test_parse_seed_refuses_malformed_specs(spec):
    with pytest.raises(ValueError):
        users.parse_seed(spec)


# --- faults.FaultTable ---------------------------------------------------------------------------

def test_count_rule_fires_exactly_count_times():
    table = FaultTable(seed=1)
    rule = table.add({"pattern": r"^/repo/v1/entity$", "count": 2})
    hits = [table.match("POST", "/repo/v1/entity") for _ in range(4)]
    assert [h is rule for h in hits] == [True, True, False, False]
    assert table.rules()[0]["fired"] == 2


def test_rules_match_by_regex_search_and_method():
    table = FaultTable(seed=1)
    table.add({"pattern": r"/add/\d+$", "method": "put", "count": 5})
    assert table.match("PUT", "/file/v1/file/multipart/9001/add/1") is not None
    assert table.match("POST", "/file/v1/file/multipart/9001/add/1") is None
    assert table.match("PUT", "/file/v1/file/multipart/9001/complete") is None
    assert table.rules()[0]["fired"] == 1


def test_first_matching_rule_wins_and_spent_rules_step_aside():
    table = FaultTable(seed=1)
    first = table.add({"pattern": "entity", "count": 1, "status": 429})
    second = table.add({"pattern": "entity", "count": 1, "status": 503})
    assert table.match("GET", "/repo/v1/entity/syn1") is first
    assert table.match("GET", "/repo/v1/entity/syn1") is second
    assert table.match("GET", "/repo/v1/entity/syn1") is None


def test_rate_rule_follows_the_seeded_generator():
    seed, rate, calls = 42, 0.3, 200
    table = FaultTable(seed=seed)
    table.add({"pattern": "entity", "rate": rate})
    fired = [table.match("GET", "/repo/v1/entity/syn1") is not None for _ in range(calls)]
    oracle = random.Random(seed)
    assert fired == [oracle.random() < rate for _ in range(calls)]
    assert 0 < sum(fired) < calls
    assert table.rules()[0]["fired"] == sum(fired)


def test_same_seed_gives_the_same_faults():
    runs = []
    for _ in range(2):
        table = FaultTable(seed=7)
        table.add({"pattern": ".", "rate": 0.5})
        runs.append([table.match("GET", "/x") is not None for _ in range(50)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("rate, expected", [(0.0, 0), (1.0, 20)])
def test_rate_bounds(rate, expected):
    table = FaultTable(seed=3)
    table.add({"pattern": ".", "rate": rate})
    assert sum(table.match("GET", "/x") is not None for _ in range(20)) == expected


@pytest.mark.parametrize("spec", [
    {"pattern": "x"},
    {"pattern": "x", "count": 1, "action": "explode"},
    {"pattern": "x", "rate": 1.5},
    {"pattern": "(", "count": 1},
])
def test_invalid_rules_are_refused(spec):
    with pytest.raises((ValueError, re.error)):
        FaultTable().add(spec)


def test_rule_view_uses_the_admin_field_names():
    view = FaultTable().add({"pattern": "x", "count": 1, "status": 429, "retryAfter": 3, "after": True}).view()
    assert view | {"id": 0} == {"id": 0, "pattern": "x", "action": "status", "status": 429, "method": None,
                                "count": 1, "rate": None, "retryAfter": 3, "latencyMs": 0, "after": True,
                                "fired": 0}


# --- schemas.parse_schema_id ---------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("htan.org-Biospecimen", ("htan.org", "Biospecimen", None)),
    ("htan.org-Biospecimen-1.0.0", ("htan.org", "Biospecimen", "1.0.0")),
    ("htan.org-Bio.specimen-12.3.45", ("htan.org", "Bio.specimen", "12.3.45")),
    ("https://repo-prod.prod.sagebase.org/repo/v1/schema/type/registered/htan.org-Biospecimen-2.0.1",
     ("htan.org", "Biospecimen", "2.0.1")),
    ("htan.org-Biospecimen-1.0", ("htan.org", "Biospecimen-1.0", None)),
])
def test_parse_schema_id(value, expected):
    assert schemas.parse_schema_id(value) == expected


def test_parse_schema_id_needs_an_organization_and_a_name():
    with pytest.raises(BadRequest):
        schemas.parse_schema_id("Biospecimen")


# --- entities: page tokens --------------------------------------------------------------------------

def test_page_tokens_read_limit_a_offset():
    assert entities._parse_page_token(None) == (0, entities.PAGE_SIZE)
    assert entities._parse_page_token("50a100") == (100, 50)
    assert entities._parse_page_token("500a0") == (0, entities.PAGE_SIZE)
    with pytest.raises(BadRequest):
        entities._parse_page_token("garbage")


# --- files: presigned URL signatures -----------------------------------------------------------------

@pytest.fixture
def backend(tmp_path):
    return Backend(state=State(), blobs=BlobStorage(str(tmp_path / "blobs")))


def _split(url: str) -> tuple[str, dict[str, str]]:
    path, query = url.split("?", 1)
    return path, dict(parse_qsl(query))


def test_signed_url_has_s3_shape_and_verifies_against_the_decoded_path(backend):
    decoded = "/_storage/download/100001/my data (1) a+b's.txt"
    path, query = _split(files.sign(backend, decoded))
    assert " " not in path
    assert unquote(path) == decoded
    assert query["X-Amz-Expires"] == str(files.URL_LIFETIME_S)
    issued = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(issued.timestamp() - time.time()) < 5
    files.verify_signature(backend, decoded, query)


@pytest.mark.parametrize("tamper", ["path", "date", "expires", "signature", "missing", "not-a-number", "bad-date"])
def test_tampered_urls_are_forbidden(backend, tamper):
    path = "/_storage/upload/9001/1"
    _, query = _split(files.sign(backend, path))
    if tamper == "path":
        path = "/_storage/upload/9001/2"
    elif tamper == "date":
        query["X-Amz-Date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 60))
    elif tamper == "expires":
        query["X-Amz-Expires"] = "3600"
    elif tamper == "signature":
        query["X-Amz-Signature"] = "0" * 64
    elif tamper == "missing":
        del query["X-Amz-Signature"]
    elif tamper == "not-a-number":
        query["X-Amz-Expires"] = "soon"
    else:
        query["X-Amz-Date"] = "2024-01-01"
    with pytest.raises(Forbidden):
        files.verify_signature(backend, path, query)


def test_expired_urls_are_forbidden(backend):
    _, query = _split(files.sign(backend, "/_storage/upload/9001/1", lifetime_s=60, issued_at=time.time() - 61))
    with pytest.raises(Forbidden, match="expired"):
        files.verify_signature(backend, "/_storage/upload/9001/1", query)
    _, fresh = _split(files.sign(backend, "/_storage/upload/9001/1", lifetime_s=60, issued_at=time.time() - 30))
    files.verify_signature(backend, "/_storage/upload/9001/1", fresh)
