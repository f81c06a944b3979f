"""Users, their tokens and the three gates of a submitter: certification, 2FA and the ToS."""

from __future__ import annotations

from synapse_emulator.errors import NotFound, Unauthenticated
from synapse_emulator.models import Backend
from synapse_emulator.models.common import new_etag, now_iso

_FLAGS = ("certified", "2fa", "tos")
TOS_VERSION = "1.0.0"


def parse_seed(spec: str) -> dict:
    """``NAME:TOKEN[:FLAGS]`` -> user fields; without ``:FLAGS`` all three gates are passed."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError("--seed-user expects NAME:TOKEN[:FLAGS]")
    flags = set(_FLAGS) if len(parts) == 2 else {f.strip() for f in parts[2].split(",") if f.strip()}
    unknown = flags - set(_FLAGS)
    if unknown:
        raise ValueError(f"unknown user flag(s) {sorted(unknown)}; use {', '.join(_FLAGS)}")
    return {
        "userName": parts[0],
        "token": parts[1],
        "certified": "certified" in flags,
        "twoFactor": "2fa" in flags,
        "tos": "tos" in flags,
    }


def create_user(
    backend: Backend,
    userName: str,
    token: str,
    certified: bool = True,
    twoFactor: bool = True,
    tos: bool = True,
    email: str | None = None,
    firstName: str = "",
    lastName: str = "",
) -> dict:
    state = backend.state
    with state.locked():
        existing = find_by_name(backend, userName)
        owner_id = existing["ownerId"] if existing else str(state.next_id("principal", 3400001))
        user = {
            "ownerId": owner_id,
            "userName": userName,
            "token": token,
            "certified": certified,
            "twoFactor": twoFactor,
            "tos": tos,
            "emails": [email or f"{userName}@example.org"],
            "firstName": firstName,
            "lastName": lastName,
            "createdOn": existing["createdOn"] if existing else now_iso(),
            "etag": new_etag(),
        }
        state.put("user", owner_id, user)
        state.put("token", token, {"ownerId": owner_id})
        return user


def update_flags(backend: Backend, owner_id: str, **flags: bool) -> dict:
    user = get_user(backend, owner_id)
    user.update({k: v for k, v in flags.items() if v is not None})
    return backend.state.put("user", owner_id, user)


def find_by_name(backend: Backend, name: str) -> dict | None:
    for user in backend.state.values("user"):
        if user["userName"] == name:
            return user
    return None


def get_user(backend: Backend, owner_id: str | int) -> dict:
    user = backend.state.get("user", str(owner_id))
    if user is None:
        raise NotFound(f"UserProfile cannot be found for: {owner_id}")
    return user


def user_by_token(backend: Backend, token: str | None) -> dict:
    if not token:
        raise Unauthenticated("Missing access token. Add an 'Authorization: Bearer <token>' header.")
    link = backend.state.get("token", token)
    if link is None:
        raise Unauthenticated("Invalid access token.")
    return get_user(backend, link["ownerId"])


def profile(user: dict, own: bool) -> dict:
    """A UserProfile; e-mail addresses are shown to their owner only, as Synapse does."""
    body = {
        "ownerId": user["ownerId"],
        "userName": user["userName"],
        "firstName": user["firstName"],
        "lastName": user["lastName"],
        "displayName": " ".join(p for p in (user["firstName"], user["lastName"]) if p) or user["userName"],
        "etag": user["etag"],
        "createdOn": user["createdOn"],
    }
    if own:
        body["emails"] = list(user["emails"])
        body["email"] = user["emails"][0]
    return body


def bundle(user: dict, mask: int, own: bool) -> dict:
    """A UserBundle with the parts the mask asks for (0x1 profile, 0x8 certified, 0x10 verified...)."""
    body: dict = {"userId": user["ownerId"]}
    if mask & 0x1:
        body["userProfile"] = profile(user, own)
    if mask & 0x2:
        body["ORCID"] = None
    if mask & 0x4:
        body["verificationSubmission"] = None
    if mask & 0x8:
        body["isCertified"] = user["certified"]
    if mask & 0x10:
        body["isVerified"] = False
    if mask & 0x20:
        body["isACTMember"] = False
    if mask & 0x40:
        body["isARReviewer"] = False
    return body


def passing_record(user: dict) -> dict:
    if not user["certified"]:
        raise NotFound(f"No quiz results for user {user['ownerId']}.")
    return {
        "userId": user["ownerId"],
        "quizId": 1,
        "responseId": 1,
        "score": 15,
        "passed": True,
        "passedOn": user["createdOn"],
        "revoked": False,
        "certified": True,
        "corrections": [],
    }


def two_factor_status(user: dict) -> dict:
    return {"status": "ENABLED" if user["twoFactor"] else "DISABLED"}


def tos_status(user: dict) -> dict:
    if user["tos"]:
        return {
            "userId": user["ownerId"],
            "userCurrentTermsOfServiceState": "UP_TO_DATE",
            "lastAgreementDate": user["createdOn"],
            "lastAgreementVersion": TOS_VERSION,
        }
    return {"userId": user["ownerId"], "userCurrentTermsOfServiceState": "MUST_AGREE_NOW"}


def tos_info() -> dict:
    return {
        "termsOfServiceUrl": "https://github.com/Sage-Bionetworks/Sage-Governance-Documents/blob/main/Terms.md",
        "latestTermsOfServiceVersion": TOS_VERSION,
        "currentRequirements": {"requirementDate": "2024-01-01T00:00:00.000Z",
                                "minimumTermsOfServiceVersion": TOS_VERSION},
    }


def group_headers(backend: Backend, prefix: str, offset: int, limit: int) -> list[dict]:
    """UserGroupHeaders whose name or id starts with ``prefix``, honouring offset and limit.

    Honouring ``offset`` matters: the client pages until an empty page comes back.
    """
    prefix = prefix.lower()
    users = sorted(backend.state.values("user"), key=lambda u: int(u["ownerId"]))
    hits = [
        u for u in users
        if u["userName"].lower().startswith(prefix) or u["ownerId"].startswith(prefix)
    ]
    return [header(u) for u in hits[offset : offset + limit]]


def header(user: dict) -> dict:
    return {
        "ownerId": user["ownerId"],
        "userName": user["userName"],
        "firstName": user["firstName"],
        "lastName": user["lastName"],
        "isIndividual": True,
    }
