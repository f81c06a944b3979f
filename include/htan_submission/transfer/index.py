"""index mode (zero-copy): the object stays in the center's bucket; Synapse gets a file handle
pointing at it.

The bucket must be registered as an external S3 storage location (``htan-submit storage
register``); only that location's creator may register objects in it (Synapse answers 403 to
anyone else). Synapse does not check the MD5 we send against S3 (SYNAPSE.md §3.b), so we are
careful about where it comes from: the manifest's checksum, else the ETag of a single-part
object, else a streamed hash. The caller HEADs the object first (``S3Reader.check_unchanged``):
it is still the one the inventory saw, since no byte is read that could tell otherwise, and its
ETag is trusted as an MD5 only when the HEAD shows no KMS or customer-key encryption. A wrong
checksum in a manifest is registered as it is: Synapse does not check, and checking would mean
reading every byte, which index mode exists to avoid (copy mode does check).
"""

from __future__ import annotations

from dataclasses import dataclass

from htan_submission.synapse.errors import SynapseStepError
from htan_submission.synapse.files import SynapseFiles
from htan_submission.transfer.s3 import S3Object, S3Reader

REGISTER_FIX = "Run `htan-submit storage register --center <CENTER>` as the user who will run the transfer."


@dataclass(frozen=True)
class Indexed:
    file_handle_id: str
    md5: str


def index_object(files: SynapseFiles, reader: S3Reader, obj: S3Object, name: str, *, md5: str | None,
                 storage_location_id: int, content_type: str) -> Indexed:
    """Register ``obj`` as an S3FileHandle of the center's storage location. ``md5`` is what the
    caller knows without reading (manifest, trusted ETag, after its HEAD); None streams a hash."""
    md5 = md5 or reader.md5(obj)
    handle = files.external_s3_handle(storage_location_id, reader.bucket, obj.key, md5, obj.size, name,
                                      content_type)
    return Indexed(str(handle["id"]), md5)


def find_storage_location(files: SynapseFiles, bucket: str, base_key: str) -> int:
    """The caller's external S3 location for ``bucket``/``base_key``.

    Asked as ``POST /storageLocation`` with the very settings ``storage register`` used: Synapse
    returns the caller's existing location for identical settings, so this finds it in one call
    and proves the caller is its creator (the only user Synapse lets register files in it),
    whatever the project's upload settings say. Synapse re-reads ``owner.txt`` on the way: a
    bucket that was never registered fails here with a message saying how to fix it.
    """
    try:
        return int(files.create_external_s3_location(bucket, base_key or None)["storageLocationId"])
    except Exception as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) in (400, 403):
            raise SynapseStepError("transfer", files.scrub(f"the bucket {bucket} is not usable as your external "
                                                           f"storage location: {exc}"), fix=REGISTER_FIX) from None
        raise
