"""centers.yaml -> typed, validated settings for each center.

Small and import-light on purpose: the DAG file reads it at parse time, so it imports only
``yaml`` and never touches the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

DEFAULT_CENTERS_FILE = Path(__file__).resolve().parents[1] / "centers.yaml"
CENTERS_FILE_ENV = "HTAN_CENTERS_FILE"
CENTER_ID = re.compile(r"^HTA(2[0-2][0-9]|[1-9]|1[0-6])$")
SYNAPSE_ID = re.compile(r"^syn[0-9]+$")
TRANSFER_MODES = ("index", "copy")
AGE_POLICIES = ("flag", "cap")
DATE_ORDERS = ("MDY", "DMY")
DEFAULT_DISCOVERY_SCHEDULE = "0 2 * * *"  # nightly discovery at 02:00 in the center's time zone
CRON = re.compile(r"^[0-9A-Za-z*,/?#-]+(\s+[0-9A-Za-z*,/?#-]+){4}$")
NOTIFY_CHANNELS = ("log", "email", "slack")


class ConfigError(ValueError):
    """centers.yaml is wrong; the message names the center and the key."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""


@dataclass(frozen=True)
class Notify:
    """How a center's liaison hears that a batch report waits for sign-off (or timed out).
    ``log`` only writes the message to the task log (the demo); ``email`` sends through the
    Airflow SMTP connection; ``slack`` posts to the webhook URL kept in an Airflow connection, so
    no URL or address that works as a secret sits in centers.yaml."""

    channels: tuple[str, ...] = ("log",)
    email: tuple[str, ...] = ()
    smtp_conn_id: str = "smtp_default"
    slack_webhook_conn_id: str | None = None


@dataclass(frozen=True)
class Center:
    center_id: str
    name: str
    synapse_project_id: str
    s3: S3Location
    release: int = 1
    transfer_mode: str = "index"
    age_policy: str = "flag"
    date_order: str | None = None  # how scrub-table reads 03/04/2019: MDY, DMY, or None (refuse to guess)
    date_columns: tuple[tuple[str, str | None], ...] = ()  # scrub-table: DATE column -> AGE_IN_DAYS_* (None: drop)
    timezone: str = "UTC"
    liaisons: tuple[str, ...] = field(default_factory=tuple)
    synapse_conn_id: str = "synapse_default"
    aws_conn_id: str = "aws_default"
    allow_new_versions: bool = False  # a re-submitted file with other bytes: new version, or a finding
    signoff_timeout_days: float = 14.0  # how long a batch waits for the liaison's decision
    signoff_key_conn_id: str = "htan_signoff"  # Airflow connection whose password signs decision records
    notify: Notify = field(default_factory=Notify)
    discovery_schedule: str | None = DEFAULT_DISCOVERY_SCHEDULE  # cron in `timezone`; None: no nightly discovery

    def for_release(self, release: object) -> Center:
        """This center writing into another release's ingest folder (the trigger form's
        ``release``); itself when ``release`` is empty. The DCC creates ``vN_ingest``: preflight
        tells when it is missing."""
        if release is None or str(release).strip() in ("", "None"):
            return self
        try:
            number = int(str(release).strip())
        except ValueError:
            raise ConfigError(f"release: a whole number such as {self.release}, not {str(release)[:20]!r}") from None
        if number < 1:
            raise ConfigError(f"release: 1 or more, not {number}")
        return replace(self, release=number)

    @property
    def ingest_folder_name(self) -> str:
        """The only folder a center writes into (the DCC creates it per release)."""
        return f"v{self.release}_ingest"

    @property
    def dag_id(self) -> str:
        return f"htan_submission__{self.center_id}"


def centers_file() -> Path:
    return Path(os.environ.get(CENTERS_FILE_ENV) or DEFAULT_CENTERS_FILE)


def load_centers(path: str | Path | None = None) -> dict[str, Center]:
    """Every center, validated; raises ``ConfigError`` naming the first wrong key."""
    path = Path(path) if path else centers_file()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    defaults = raw.get("defaults") or {}
    centers = raw.get("centers") or {}
    if not isinstance(centers, dict) or not centers:
        raise ConfigError(f"{path}: 'centers' must map center ids (HTA200...) to their settings")
    return {center_id: _center(str(center_id), {**defaults, **(spec or {})}, path)
            for center_id, spec in centers.items()}


def get_center(center_id: str, path: str | Path | None = None) -> Center:
    centers = load_centers(path)
    if center_id not in centers:
        raise ConfigError(f"center {center_id!r} is not in {path or centers_file()}; known: {', '.join(centers)}")
    return centers[center_id]


def _center(center_id: str, spec: dict, path: Path) -> Center:
    where = f"{path}: centers.{center_id}"
    if not CENTER_ID.match(center_id):
        raise ConfigError(f"{where}: center ids look like HTA200..HTA229 (HTAN2) or HTA1..HTA16 (Phase 1)")
    for key in ("name", "synapse_project_id", "s3"):
        if not spec.get(key):
            raise ConfigError(f"{where}: '{key}' is required")
    if not SYNAPSE_ID.match(str(spec["synapse_project_id"])):
        raise ConfigError(f"{where}.synapse_project_id: expected a Synapse id like syn12345678")
    s3 = spec["s3"]
    if not isinstance(s3, dict) or not s3.get("bucket"):
        raise ConfigError(f"{where}.s3: 'bucket' is required")
    mode = spec.get("transfer_mode", "index")
    if mode not in TRANSFER_MODES:
        raise ConfigError(f"{where}.transfer_mode: one of {', '.join(TRANSFER_MODES)}")
    policy = spec.get("age_policy", "flag")
    if policy not in AGE_POLICIES:
        raise ConfigError(f"{where}.age_policy: one of {', '.join(AGE_POLICIES)}")
    date_order = spec.get("date_order")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ConfigError(f"{where}.date_order: one of {', '.join(DATE_ORDERS)} (or leave it out)")
    date_columns = spec.get("date_columns") or {}
    if not isinstance(date_columns, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in date_columns.items()):
        raise ConfigError(f"{where}.date_columns: a mapping DATE_COLUMN: AGE_IN_DAYS_COLUMN (or null to drop it)")
    try:
        release = int(spec.get("release", 1))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.release: a whole number") from None
    liaisons = spec.get("liaisons") or []
    if not isinstance(liaisons, list):
        raise ConfigError(f"{where}.liaisons: a list of Synapse user names / Airflow users")
    return Center(
        center_id=center_id,
        name=str(spec["name"]),
        synapse_project_id=str(spec["synapse_project_id"]),
        s3=S3Location(bucket=str(s3["bucket"]), prefix=str(s3.get("prefix") or "")),
        release=release,
        transfer_mode=mode,
        age_policy=policy,
        date_order=date_order,
        date_columns=tuple(date_columns.items()),
        timezone=str(spec.get("timezone") or "UTC"),
        liaisons=tuple(str(x) for x in liaisons),
        synapse_conn_id=str(spec.get("synapse_conn_id") or "synapse_default"),
        aws_conn_id=str(spec.get("aws_conn_id") or "aws_default"),
        allow_new_versions=_flag(spec.get("allow_new_versions", False), f"{where}.allow_new_versions"),
        signoff_timeout_days=_positive(spec.get("signoff_timeout_days", 14), f"{where}.signoff_timeout_days"),
        signoff_key_conn_id=str(spec.get("signoff_key_conn_id") or "htan_signoff"),
        notify=_notify(spec.get("notify"), f"{where}.notify"),
        discovery_schedule=_cron(spec.get("discovery_schedule", DEFAULT_DISCOVERY_SCHEDULE),
                                 f"{where}.discovery_schedule"),
    )


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: true or false")
    return value


def _positive(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: a number of days greater than 0")
    return float(value)


def _notify(spec, where: str) -> Notify:
    if spec is None:
        return Notify()
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a mapping with channels, email, smtp_conn_id, slack_webhook_conn_id")
    channels = spec.get("channels") or ["log"]
    if not isinstance(channels, list) or not set(channels) <= set(NOTIFY_CHANNELS):
        raise ConfigError(f"{where}.channels: a list of {', '.join(NOTIFY_CHANNELS)}")
    email = spec.get("email") or []
    if not isinstance(email, list) or not all(isinstance(a, str) and "@" in a for a in email):
        raise ConfigError(f"{where}.email: a list of e-mail addresses")
    if "email" in channels and not email:
        raise ConfigError(f"{where}.email: the email channel needs at least one address")
    slack = spec.get("slack_webhook_conn_id")
    if "slack" in channels and not slack:
        raise ConfigError(f"{where}.slack_webhook_conn_id: the slack channel needs the Airflow connection "
                          "that holds the webhook URL")
    return Notify(channels=tuple(dict.fromkeys(channels)), email=tuple(email),
                  smtp_conn_id=str(spec.get("smtp_conn_id") or "smtp_default"),
                  slack_webhook_conn_id=str(slack) if slack else None)


def _cron(value, where: str) -> str | None:
    """A five-field cron expression (Airflow checks it fully when it builds the timetable), or
    null to switch nightly discovery off for the center."""
    if value is None:
        return None
    if not isinstance(value, str) or not CRON.match(value.strip()):
        raise ConfigError(f"{where}: a five-field cron expression such as '0 2 * * *', or null for none")
    return value.strip()
