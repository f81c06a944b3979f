"""``htan-submit storage register``: make the center's bucket a Synapse external S3 storage location.

Done once per center, by the user who will run index-mode transfers (Synapse lets only a
location's creator register objects in it). Three idempotent steps (SYNAPSE.md §3.b):
1. ``owner.txt`` at the bucket prefix names the Synapse user: Synapse reads it to believe the
   caller controls the bucket. An existing file keeps its other names.
2. ``POST /storageLocation`` (ExternalS3StorageLocationSetting): identical settings by the same
   user return the same location, so re-running creates nothing new.
3. The project's upload destinations list the location first (Synapse storage stays listed
   after it), so uploads through the web or other tools land in the bucket too. That needs
   CHANGE_SETTINGS on the project (a project admin); without it the step is skipped and said
   so: index transfers name the location themselves and do not depend on it.
The bucket policy that lets Synapse's AWS account read the bucket is the center's to set; the
message below says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from htan_submission.config import Center
from htan_submission.synapse.files import SYNAPSE_STORAGE_LOCATION_ID, SynapseFiles
from htan_submission.synapse.rest import http_status

BUCKET_POLICY_HELP = "https://help.synapse.org/docs/Custom-Storage-Locations.2048327803.html"


@dataclass(frozen=True)
class StorageRegistration:
    center: str
    bucket: str
    base_key: str
    owner_txt: str  # written | appended | present
    storage_location_id: int
    project_id: str
    upload_locations: list[int]
    project_setting: str  # set | unchanged | not allowed (needs CHANGE_SETTINGS on the project)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        where = f"s3://{self.bucket}/{self.base_key + '/' if self.base_key else ''}"
        if self.project_setting == "not allowed":
            setting = (f"the upload destinations of {self.project_id} were left as they are (changing them needs "
                       "the project's CHANGE_SETTINGS permission; index transfers do not need it)")
        else:
            setting = f"uploads to {self.project_id} go to locations {self.upload_locations} ({self.project_setting})"
        return (f"{self.center}: {where} is storage location {self.storage_location_id} of this user "
                f"(owner.txt {self.owner_txt}); {setting}. The bucket policy must let Synapse read it: "
                f"{BUCKET_POLICY_HELP}")


def register_storage(center: Center, files: SynapseFiles, s3) -> StorageRegistration:
    caller = files.caller()
    base_key = center.s3.prefix.strip("/")
    owner = ensure_owner_txt(s3, center.s3.bucket, f"{base_key}/owner.txt" if base_key else "owner.txt",
                             caller.user_name)
    location = files.create_external_s3_location(center.s3.bucket, base_key or None)
    location_id = int(location["storageLocationId"])
    existing = files.upload_setting(center.synapse_project_id)
    current = [int(x) for x in (existing or {}).get("locations") or []]
    wanted = [location_id] + [x for x in current or [SYNAPSE_STORAGE_LOCATION_ID] if x != location_id]
    setting = "unchanged"
    if current != wanted:
        try:
            files.set_upload_locations(center.synapse_project_id, wanted, existing)
            setting = "set"
        except Exception as exc:
            if http_status(exc) != 403:
                raise
            setting = "not allowed"
    return StorageRegistration(center=center.center_id, bucket=center.s3.bucket, base_key=base_key,
                               owner_txt=owner, storage_location_id=location_id,
                               project_id=center.synapse_project_id,
                               upload_locations=wanted if setting != "not allowed" else current,
                               project_setting=setting)


def ensure_owner_txt(s3, bucket: str, key: str, user_name: str) -> str:
    """Make ``owner.txt`` name ``user_name``, keeping any names already in it."""
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
    except Exception as exc:
        code = str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code") or "")
        if code not in ("NoSuchKey", "404", "NotFound"):
            raise
        text = None
    if text is None:
        s3.put_object(Bucket=bucket, Key=key, Body=f"{user_name}\n".encode(), ContentType="text/plain")
        return "written"
    names = {t.strip().lower() for t in text.replace(",", "\n").splitlines() if t.strip()}
    if user_name.lower() in names:
        return "present"
    body = text if text.endswith("\n") or not text else text + "\n"
    s3.put_object(Bucket=bucket, Key=key, Body=f"{body}{user_name}\n".encode(), ContentType="text/plain")
    return "appended"
