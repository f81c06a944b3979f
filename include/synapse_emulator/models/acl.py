"""Access control lists and the permissions Synapse derives from them.

Entities inherit the ACL of their nearest ancestor that has one (the benefactor); a project
always has its own. The flags of ``UserEntityPermissions`` follow the server's rules: creating
anything but a project needs certification, ``canUpload`` only means "not anonymous".
"""

from __future__ import annotations

from synapse_emulator.errors import Forbidden, NotFound
from synapse_emulator.models import Backend
from synapse_emulator.models.common import AUTHENTICATED_USERS_GROUP, PUBLIC_GROUP, new_etag, now_iso

ALL_ACCESS = [
    "READ", "CREATE", "UPDATE", "DELETE", "DOWNLOAD", "CHANGE_PERMISSIONS",
    "CHANGE_SETTINGS", "MODERATE", "UPLOAD",
]
EDIT_ACCESS = ["READ", "CREATE", "UPDATE", "DELETE", "DOWNLOAD", "UPLOAD"]
VIEW_ACCESS = ["READ", "DOWNLOAD"]
ACCESS_LEVELS = {"admin": ALL_ACCESS, "edit": EDIT_ACCESS, "view": VIEW_ACCESS}


def new_acl(entity_id: str, owner_id: str) -> dict:
    return {
        "id": entity_id,
        "creationDate": now_iso(),
        "etag": new_etag(),
        "resourceAccess": [{"principalId": int(owner_id), "accessType": list(ALL_ACCESS)}],
    }


def benefactor_id(backend: Backend, entity_id: str) -> str:
    """The id of the entity whose ACL governs ``entity_id``."""
    current = backend.state.get("entity", entity_id)
    while current is not None:
        if backend.state.get("acl", current["id"]) is not None:
            return current["id"]
        current = backend.state.get("entity", current.get("parentId") or "")
    raise NotFound(f"No benefactor found for {entity_id}")


def get_acl(backend: Backend, entity_id: str) -> dict:
    acl = backend.state.get("acl", entity_id)
    if acl is None:
        raise NotFound(f"No ACL found for {entity_id}; its benefactor is {benefactor_id(backend, entity_id)}")
    return acl


def put_acl(backend: Backend, entity_id: str, acl: dict) -> dict:
    acl = dict(acl)
    acl["id"] = entity_id
    acl["etag"] = new_etag()
    acl.setdefault("creationDate", now_iso())
    acl["modifiedOn"] = now_iso()
    return backend.state.put("acl", entity_id, acl)


def grant(backend: Backend, entity_id: str, principal_id: str | int, access: list[str]) -> dict:
    """Give a principal access on an entity, creating a local ACL from the inherited one if needed."""
    acl = backend.state.get("acl", entity_id)
    if acl is None:
        inherited = get_acl(backend, benefactor_id(backend, entity_id))
        acl = {"id": entity_id, "creationDate": now_iso(), "resourceAccess": inherited["resourceAccess"]}
    entries = [ra for ra in acl["resourceAccess"] if str(ra["principalId"]) != str(principal_id)]
    if access:
        entries.append({"principalId": int(principal_id), "accessType": list(access)})
    acl["resourceAccess"] = entries
    return put_acl(backend, entity_id, acl)


def access_of(backend: Backend, user: dict, entity_id: str) -> set[str]:
    acl = get_acl(backend, benefactor_id(backend, entity_id))
    principals = {str(user["ownerId"]), str(AUTHENTICATED_USERS_GROUP), str(PUBLIC_GROUP)}
    granted: set[str] = set()
    for entry in acl["resourceAccess"]:
        if str(entry["principalId"]) in principals:
            granted.update(entry["accessType"])
    return granted


def permissions(backend: Backend, user: dict, entity: dict) -> dict:
    """UserEntityPermissions with every key the client's ``Permissions.from_dict`` indexes."""
    access = access_of(backend, user, entity["id"])
    certified = bool(user["certified"])
    is_project = entity["concreteType"].endswith(".Project")
    acl = get_acl(backend, benefactor_id(backend, entity["id"]))
    public_read = any(
        str(ra["principalId"]) == str(PUBLIC_GROUP) and "READ" in ra["accessType"] for ra in acl["resourceAccess"]
    )
    return {
        "canView": "READ" in access,
        "canEdit": "UPDATE" in access and (certified or is_project),
        "canMove": "UPDATE" in access and (certified or is_project),
        "canAddChild": "CREATE" in access and certified,
        "canCertifiedUserEdit": "UPDATE" in access,
        "canCertifiedUserAddChild": "CREATE" in access,
        "isCertifiedUser": certified,
        "canChangePermissions": "CHANGE_PERMISSIONS" in access,
        "canChangeSettings": "CHANGE_SETTINGS" in access,
        "canDelete": "DELETE" in access,
        "canDownload": "DOWNLOAD" in access and "READ" in access,
        "canUpload": True,
        "canEnableInheritance": "CHANGE_PERMISSIONS" in access and not is_project
        and backend.state.get("acl", entity["id"]) is not None,
        "ownerPrincipalId": int(entity.get("createdBy") or 0),
        "canPublicRead": public_read,
        "canModerate": "MODERATE" in access,
        "isCertificationRequired": True,
        "isEntityOpenData": False,
        "isDataContributor": "CREATE" in access,
    }


def require(backend: Backend, user: dict, entity_id: str, access_type: str) -> None:
    if access_type not in access_of(backend, user, entity_id):
        raise Forbidden(f"You lack {access_type} access to the requested entity.")
