"""Login and the submitter's gates: profile, bundle, certification, 2FA, Terms of Service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from synapse_emulator.models import Backend, users
from synapse_emulator.routes.deps import backend, caller

repo = APIRouter(prefix="/repo/v1")
auth = APIRouter(prefix="/auth/v1")


@repo.get("/userProfile")
@repo.get("/userProfile/")
def own_profile(user: dict = Depends(caller)) -> dict:
    return users.profile(user, own=True)


@repo.get("/userProfile/{owner_id}")
def profile(owner_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    other = users.get_user(b, owner_id)
    return users.profile(other, own=other["ownerId"] == user["ownerId"])


@repo.get("/user/bundle")
def own_bundle(mask: int = 0, user: dict = Depends(caller)) -> dict:
    return users.bundle(user, mask, own=True)


@repo.get("/user/{owner_id}/bundle")
def bundle(owner_id: str, mask: int = 0, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    other = users.get_user(b, owner_id)
    return users.bundle(other, mask, own=other["ownerId"] == user["ownerId"])


@repo.get("/user/{owner_id}/certifiedUserPassingRecord")
def passing_record(owner_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return users.passing_record(users.get_user(b, owner_id))


@repo.get("/userGroupHeaders")
def group_headers(
    prefix: str = "", offset: int = Query(0, ge=0), limit: int = Query(10, ge=1, le=100),
    user: dict = Depends(caller), b: Backend = Depends(backend),
) -> dict:
    return {"children": users.group_headers(b, prefix, offset, limit), "prefixFilter": prefix}


@auth.get("/2fa")
def two_factor(user: dict = Depends(caller)) -> dict:
    return users.two_factor_status(user)


@auth.get("/termsOfUse2/status")
def tos_status(user: dict = Depends(caller)) -> dict:
    return users.tos_status(user)


@auth.get("/termsOfUse2/info")
def tos_info() -> dict:
    return users.tos_info()
