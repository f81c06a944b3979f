"""Preflight: may this submitter upload this center's batch? Checked before a byte moves.

HTAN's manual asks, before any submission, for a Synapse Certified User with two-factor
authentication on, the current Terms of Service accepted, and access to the center's project.
Each check below names what is missing and how to fix it, with the Synapse help page the
manual cites. Checks run in the order a person would fix them, and all of them run: one
report lists every missing step, not just the first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from htan_submission.config import Center
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.errors import SynapseStepError, scrub
from htan_submission.synapse.gateway import SynapseGateway, http_status, tos_status_without_login

HELP = {
    "token": "https://help.synapse.org/docs/Managing-Your-Account.2055405596.html#ManagingYourAccount-PersonalAccessTokens",
    "tos": "https://help.synapse.org/docs/Synapse-Governance.2004254737.html",
    "2fa": "https://help.synapse.org/docs/Two-Factor-Authentication-(2FA)-in-Synapse.2004254765.html",
    "certified": "https://help.synapse.org/docs/User-Types.2007072795.html#UserTypes-CertifiedUser",
    "access": "https://help.synapse.org/docs/Sharing-Settings,-Permissions,-and-Conditions-for-Use.2024276030.html",
    "htan": "https://docs.humantumoratlas.org/data_submission/overview/",
}


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    fix: str | None = None


@dataclass
class PreflightReport:
    """What preflight found; small and serialisable (it travels through XCom)."""

    center: str
    synapse_user: str | None = None
    synapse_user_id: str | None = None
    target_folder_id: str | None = None
    target_folder_name: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        lines = [f"Preflight for {self.center} as {self.synapse_user or '(not logged in)'}: "
                 + ("passed" if self.passed else f"{len(self.failures())} problem(s)")]
        for check in self.checks:
            lines.append(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
            if not check.passed and check.fix:
                lines.append(f"         fix: {check.fix}")
        return "\n".join(lines)


def run_preflight(center: Center, target: SynapseTarget, cache_dir: str | None = None) -> PreflightReport:
    """Log in as the submitter and run every check; never raises for a failed check."""
    report = PreflightReport(center=center.center_id)
    try:
        gateway = SynapseGateway.login(target, cache_dir)
    except SynapseStepError:
        report.checks.extend(_diagnose_refused_login(target, cache_dir))
        return report
    caller = gateway.caller()
    report.synapse_user, report.synapse_user_id = caller.user_name, caller.owner_id
    report.checks.append(Check("login", True, f"the token belongs to {caller.user_name} ({caller.owner_id})"))
    report.checks.append(_check_tos(gateway))
    report.checks.append(_check_two_factor(gateway))
    report.checks.append(_check_certified(gateway))
    report.checks.extend(_check_target(gateway, center, report))
    return report


def _diagnose_refused_login(target: SynapseTarget, cache_dir: str | None) -> list[Check]:
    status = tos_status_without_login(target, cache_dir)
    if status and status.get("userCurrentTermsOfServiceState") == "MUST_AGREE_NOW":
        return [
            Check("login", False, "Synapse refuses every call until the Terms of Service are accepted",
                  fix=f"Sign in at https://www.synapse.org and accept the current Terms of Service ({HELP['tos']})."),
            Check("terms_of_service", False, "the current Terms of Service have not been accepted",
                  fix=f"Sign in at https://www.synapse.org and accept them when prompted ({HELP['tos']})."),
        ]
    return [Check("login", False, "Synapse refused the access token (expired, revoked or mistyped)",
                  fix=f"Create a personal access token with view, download and modify scopes ({HELP['token']}) "
                      "and store it as the password of the Airflow connection (SYNAPSE_AUTH_TOKEN for the CLI).")]


def _check_tos(gateway: SynapseGateway) -> Check:
    state = gateway.tos_status().get("userCurrentTermsOfServiceState")
    if state == "UP_TO_DATE":
        return Check("terms_of_service", True, "the current Terms of Service are accepted")
    if state == "MUST_AGREE_SOON":
        return Check("terms_of_service", True, "accepted, but newer Terms of Service must be accepted soon")
    return Check("terms_of_service", False, f"Terms of Service state is {state}",
                 fix=f"Sign in at https://www.synapse.org and accept the current Terms of Service ({HELP['tos']}).")


def _check_two_factor(gateway: SynapseGateway) -> Check:
    if gateway.two_factor_enabled():
        return Check("two_factor", True, "two-factor authentication is on")
    return Check("two_factor", False, "two-factor authentication is off",
                 fix=f"Turn on two-factor authentication in your Synapse account settings ({HELP['2fa']}).")


def _check_certified(gateway: SynapseGateway) -> Check:
    if gateway.is_certified():
        return Check("certified", True, "the user is a Synapse Certified User")
    return Check("certified", False, "the user is not a Synapse Certified User (or certification was revoked)",
                 fix=f"Pass the Certified User quiz ({HELP['certified']}); uploads need it.")


def _check_target(gateway: SynapseGateway, center: Center, report: PreflightReport) -> list[Check]:
    project_id, folder_name = center.synapse_project_id, center.ingest_folder_name
    ask = f"Ask your HTAN data liaison to grant you edit access to {project_id} ({HELP['access']})."
    try:
        gateway.get_entity_header(project_id)
    except Exception as exc:
        status = http_status(exc)
        if status == 403:
            return [Check("project_access", False, f"no read access to the center's project {project_id}", fix=ask)]
        if status == 404:
            return [Check("project_access", False, f"the center's project {project_id} does not exist",
                          fix=f"Check synapse_project_id of {center.center_id} in centers.yaml.")]
        raise SynapseStepError("preflight", scrub(str(exc))) from None
    folder_id = gateway.find_child_id(project_id, folder_name)
    if folder_id is None:
        return [Check("target_folder", False, f"{project_id} has no folder {folder_name} that you can see",
                      fix=f"Release {center.release}'s ingest folder is created by the DCC: ask your data liaison "
                          f"to create {folder_name} or share it with you, or correct 'release' in centers.yaml "
                          f"({HELP['htan']}).")]
    report.target_folder_id, report.target_folder_name = folder_id, folder_name
    permissions = gateway.permissions(folder_id)
    granted = permissions.get("canCertifiedUserAddChild") and permissions.get("canCertifiedUserEdit")
    if not granted:
        return [Check("upload_permission", False, f"no edit access to {folder_name} ({folder_id})", fix=ask)]
    if not permissions.get("isCertifiedUser"):
        return [Check("upload_permission", False,
                      f"{folder_name} ({folder_id}) grants edit access, but Synapse lets only certified users upload",
                      fix=f"Pass the Certified User quiz ({HELP['certified']}).")]
    return [Check("upload_permission", True, f"may upload to {folder_name} ({folder_id})")]
