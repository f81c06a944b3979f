"""A small gateway over synapseclient: the few Synapse calls the steps need, by name.

It owns one logged-in client. Steps call methods that say what they want ("is the caller
certified?", "which folder is v1_ingest?") and get plain values back; the REST paths and
synapseclient's quirks stay here (SYNAPSE.md §2: 2FA and ToS have no client helper, the
client's ``is_certified`` ignores revocation, ``canUpload`` means only "not anonymous").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from htan_submission.synapse.client import SynapseTarget, build_client, connect
from htan_submission.synapse.errors import SynapseStepError, scrub

if TYPE_CHECKING:
    import synapseclient

CERTIFIED_MASK = 0x8


@dataclass(frozen=True)
class Caller:
    owner_id: str
    user_name: str


class SynapseGateway:
    """One submitter's session with Synapse."""

    def __init__(self, syn: synapseclient.Synapse, target: SynapseTarget):
        self._syn = syn
        self._target = target

    @classmethod
    def login(cls, target: SynapseTarget, cache_dir: str | None = None) -> SynapseGateway:
        return cls(connect(target, cache_dir), target)

    @property
    def client(self) -> synapseclient.Synapse:
        """The raw client, for the steps that stream files (transfer) through synapseclient."""
        return self._syn

    @property
    def portal_url(self) -> str:
        return self._syn.portalEndpoint.rstrip("/")

    def caller(self) -> Caller:
        return Caller(owner_id=str(self._syn.credentials.owner_id), user_name=str(self._syn.credentials.username))

    def tos_status(self) -> dict[str, Any]:
        return self._syn.restGET("/termsOfUse2/status", endpoint=self._syn.authEndpoint)

    def tos_info(self) -> dict[str, Any]:
        return self._syn.restGET("/termsOfUse2/info", endpoint=self._syn.authEndpoint)

    def two_factor_enabled(self) -> bool:
        return self._syn.restGET("/2fa", endpoint=self._syn.authEndpoint).get("status") == "ENABLED"

    def is_certified(self) -> bool:
        """Membership of the Certified Users group, which reflects revocation (the passing
        record that synapseclient reads does not)."""
        bundle = self._syn.restGET(f"/user/bundle?mask={CERTIFIED_MASK}")
        return bool(bundle.get("isCertified"))

    def get_entity_header(self, entity_id: str) -> dict[str, Any]:
        return self._syn.restGET(f"/entity/{entity_id}/type")

    def find_child_id(self, parent_id: str, name: str) -> str | None:
        """The id of ``name`` under ``parent_id``, or None (Synapse answers 404)."""
        from synapseclient.core.exceptions import SynapseHTTPError

        try:
            found = self._syn.restPOST("/entity/child", body=_json({"parentId": parent_id, "entityName": name}))
        except SynapseHTTPError as exc:
            if _status(exc) == 404:
                return None
            raise
        return found["id"]

    def permissions(self, entity_id: str) -> dict[str, Any]:
        return self._syn.restGET(f"/entity/{entity_id}/permissions")

    # -- registered JSON schemas (model refresh) ---------------------------------------------------
    def list_json_schemas(self, organization: str) -> list[dict[str, Any]]:
        """Every schema of an organization (``JsonSchemaInfo``), all pages of ``POST /schema/list``."""
        return self._pages("/schema/list", {"organizationName": organization}, "list the JSON schemas")

    def list_json_schema_versions(self, organization: str, schema_name: str) -> list[dict[str, Any]]:
        """Every registered version of one schema (``JsonSchemaVersionInfo``), oldest first."""
        return self._pages("/schema/version/list", {"organizationName": organization, "schemaName": schema_name},
                           f"list the versions of {organization}-{schema_name}")

    def get_registered_json_schema(self, schema_id: str) -> object:
        """The body of ``<org>-<name>-<version>`` as Synapse serves it: parsed JSON, or the raw text
        when the body is not JSON (the caller refuses it; a decoding error must not look like a
        network failure)."""
        try:
            return self._syn.restGET(f"/schema/type/registered/{schema_id}")
        except ValueError as exc:  # requests' JSONDecodeError: labelled JSON, but is not
            return str(getattr(exc, "doc", "") or "")
        except Exception as exc:
            raise step_error(f"download {schema_id}", exc, self._target) from None

    def _pages(self, uri: str, request: dict[str, Any], step: str) -> list[dict[str, Any]]:
        """Follow ``nextPageToken`` (Synapse pages its list responses) to the end."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body = {**request, **({"nextPageToken": token} if token else {})}
            try:
                response = self._syn.restPOST(uri, body=_json(body))
            except Exception as exc:
                raise step_error(step, exc, self._target) from None
            items.extend(response.get("page") or [])
            token = response.get("nextPageToken")
            if not token:
                return items


def tos_status_without_login(target: SynapseTarget, cache_dir: str | None = None) -> dict[str, Any] | None:
    """ToS status for a token that cannot log in. Synapse's ToS filter refuses every /repo call
    of a user who must agree now, including the login call, but not /auth/v1/termsOfUse2/status."""
    from synapseclient.core.credentials.cred_data import SynapseAuthTokenCredentials

    syn = build_client(target, cache_dir)
    try:
        return syn.restGET("/termsOfUse2/status", endpoint=syn.authEndpoint,
                           auth=SynapseAuthTokenCredentials(target.token))
    except Exception:
        return None


def http_status(exc: BaseException) -> int | None:
    return _status(exc)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _json(body: dict) -> str:
    import json

    return json.dumps(body)


def step_error(step: str, exc: BaseException, target: SynapseTarget, fix: str | None = None) -> SynapseStepError:
    """Wrap any client failure without leaking the token into the message."""
    return SynapseStepError(step, scrub(f"{type(exc).__name__}: {exc}", target.token), fix=fix)
