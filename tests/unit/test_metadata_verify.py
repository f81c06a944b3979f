"""Verification's polling (404, then a stale etag, then the current one), its deadline, messages
trimmed and masked, and sampling of very large batches."""

from __future__ import annotations

import random

from htan_submission.metadata.verify import Item, select, trimmed, validate


class FakeRest:
    """Answers GET /entity/{id} and GET .../schema/validation from scripted lists."""

    def __init__(self, etags: dict[str, str], answers: dict[str, list]):
        self.etags, self.answers, self.calls = etags, answers, []

    def get(self, uri: str, endpoint=None):
        self.calls.append(uri)
        entity_id = uri.split("/")[2]
        if uri.endswith("/schema/validation"):
            answer = self.answers[entity_id].pop(0) if len(self.answers[entity_id]) > 1 else self.answers[entity_id][0]
            if answer is None:
                from requests import HTTPError, Response

                response = Response()
                response.status_code = 404
                raise HTTPError(response=response)
            return answer
        return {"id": entity_id, "etag": self.etags[entity_id]}


class FakeFiles:
    def __init__(self, rest):
        self.rest = rest


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_polls_until_the_result_is_about_the_current_etag():
    rest = FakeRest({"syn1": "e2", "syn2": "f1"}, {
        "syn1": [None, {"objectEtag": "e1", "isValid": True},
                 {"objectEtag": "e2", "isValid": False, "allValidationMessages": ["#/READ: x is not valid"]}],
        "syn2": [{"objectEtag": "f1", "isValid": True}],
    })
    clock = Clock()
    valid, findings = validate(FakeFiles(rest), [Item("syn1", "m.csv", 3), Item("syn2", "m.csv", 4)],
                               deadline_s=10, interval_s=1, clock=clock, sleep=clock.sleep)
    assert valid == {"syn1": False, "syn2": True}
    assert [(f.rule, f.row, f.message) for f in findings] == [("verify.schema_invalid", 3,
                                                               "syn1: #/READ: x is not valid")]
    assert clock.now == 2


def test_an_entity_never_validated_is_reported_at_the_deadline():
    rest = FakeRest({"syn1": "e1"}, {"syn1": [None]})
    clock = Clock()
    valid, findings = validate(FakeFiles(rest), [Item("syn1", "m.csv", 2)], deadline_s=5, interval_s=1,
                               clock=clock, sleep=clock.sleep)
    assert valid == {} and [f.rule for f in findings] == ["verify.not_validated"]
    assert 5 <= clock.now <= 6


def test_record_set_messages_point_at_the_csv_row():
    rest = FakeRest({"syn9": "e"}, {"syn9": [{"objectEtag": "e", "isValid": False,
                                              "allValidationMessages": ["#/1/VITAL_STATUS: bad", "#/0: missing"]}]})
    _, findings = validate(FakeFiles(rest), [Item("syn9", "v1_ingest/VitalStatus", record_set=True)], deadline_s=1)
    assert [f.row for f in findings] == [3, 2]


def test_messages_are_trimmed_and_phi_shaped_values_masked():
    assert "1999-02-03" not in trimmed("#/0/DATE: 1999-02-03 is not valid")
    assert len(trimmed("x" * 1000)) == 300


def test_large_batches_are_sampled_but_keep_failures_and_record_sets():
    items = [Item(f"syn{i}", "m.csv", i) for i in range(5000)] + [Item("synR", "rs", record_set=True)]
    chosen = select(items, sample=200, sample_above=1000, always={"syn4999"}, rng=random.Random(1))
    ids = {i.entity_id for i in chosen}
    assert len(ids) in (201, 202, 203) and {"syn4999", "synR"} <= ids
    assert select(items[:10]) == items[:10]
