"""Build a logged-in synapseclient for one submitter, pointed at synapse.org or an emulator."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from htan_submission.synapse.errors import SynapseStepError, scrub

if TYPE_CHECKING:
    import synapseclient

PRODUCTION = {
    "repoEndpoint": "https://repo-prod.prod.sagebase.org/repo/v1",
    "authEndpoint": "https://auth-prod.prod.sagebase.org/auth/v1",
    "fileHandleEndpoint": "https://file-prod.prod.sagebase.org/file/v1",
    "portalEndpoint": "https://www.synapse.org/",
}
USER_AGENT = "htan-submission/0.1.0"


@dataclass(frozen=True)
class SynapseTarget:
    """Where Synapse is and who we are there. ``repr`` never shows the token."""

    endpoint: str | None
    token: str = field(repr=False)

    def endpoints(self) -> dict[str, str]:
        """Endpoints for an override base URL (``http://host:port``), else production."""
        if not self.endpoint:
            return dict(PRODUCTION)
        base = self.endpoint.rstrip("/")
        return {
            "repoEndpoint": f"{base}/repo/v1",
            "authEndpoint": f"{base}/auth/v1",
            "fileHandleEndpoint": f"{base}/file/v1",
            "portalEndpoint": f"{base}/",
        }


def build_client(target: SynapseTarget, cache_dir: str | None = None) -> synapseclient.Synapse:
    """A client that makes no call in its constructor and reads no user config file.

    ``skip_checks`` avoids the endpoint probes and the PyPI version check; ``cache_client=False``
    keeps two submitters' tokens apart in one worker process; an empty ``configPath`` stops a
    stray ``~/.synapseConfig`` from overriding the token (it would win over the environment).
    """
    import synapseclient

    cache_dir = cache_dir or tempfile.mkdtemp(prefix="htan-synapse-cache-")
    config_path = os.path.join(cache_dir, "empty.synapseConfig")
    if not os.path.exists(config_path):
        with open(config_path, "w"):
            pass
    syn = synapseclient.Synapse(
        **target.endpoints(),
        skip_checks=True,
        cache_client=False,
        configPath=config_path,
        cache_root_dir=cache_dir,
        user_agent=USER_AGENT,
        silent=True,
    )
    logging.getLogger("synapseclient_default").setLevel(logging.WARNING)
    return syn


def connect(target: SynapseTarget, cache_dir: str | None = None) -> synapseclient.Synapse:
    """A logged-in client. A refused login raises ``SynapseStepError`` without the token."""
    syn = build_client(target, cache_dir)
    try:
        syn.login(authToken=target.token, silent=True)
    except Exception as exc:
        raise SynapseStepError(
            "login", scrub(f"Synapse refused the access token: {exc}", target.token),
            fix="Create a personal access token with view, download and modify scopes at "
                "https://accounts.synapse.org/authenticated/personalaccesstokens and store it as "
                "the password of the Airflow connection (or SYNAPSE_AUTH_TOKEN for the CLI).",
        ) from None
    return syn


TOKEN_ENV = "SYNAPSE_AUTH_TOKEN"
ENDPOINT_ENV = "HTAN_SYNAPSE_ENDPOINT"


def target_from_env(endpoint: str | None = None) -> SynapseTarget:
    """The terminal's Synapse target: the token from ``SYNAPSE_AUTH_TOKEN`` (never a flag: flags
    land in shell history and ``ps``), the endpoint from ``--endpoint`` or ``HTAN_SYNAPSE_ENDPOINT``."""
    from htan_submission.config import ConfigError

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"set {TOKEN_ENV} to the submitter's Synapse personal access token")
    return SynapseTarget(endpoint=endpoint or os.environ.get(ENDPOINT_ENV) or None, token=token)

