from htan_submission.synapse.errors import SynapseStepError, scrub


def test_scrub_removes_the_secret_bearer_headers_and_jwts():
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhY2Nlc3MiOnt9fQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    text = f"failed with token abc123 and header Authorization: Bearer xyz789 and {jwt}"
    cleaned = scrub(text, "abc123")
    assert "abc123" not in cleaned and "xyz789" not in cleaned and jwt not in cleaned
    assert cleaned.count("***") == 3


def test_step_error_carries_the_fix():
    error = SynapseStepError("login", "refused", fix="make a new token")
    assert str(error) == "login: refused How to fix: make a new token"
