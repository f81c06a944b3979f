"""A submitter's gates against the real synapseclient 4.14.0: certification, Terms of Service, 2FA.

Synapse refuses these users in specific ways (403 with a reason, a failed login, a status the
client must read itself through the auth endpoint); the emulator must refuse them the same way.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from synapseclient.core.credentials.cred_data import SynapseAuthTokenCredentials
from synapseclient.core.exceptions import SynapseAuthenticationError, SynapseHTTPError
from synapseclient.models import File, Folder, Project, UserProfile

from htan_submission.synapse.client import SynapseTarget, build_client, connect
from htan_submission.synapse.errors import SynapseStepError

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]


@pytest.fixture
def shared_folder(syn, emulator):
    """A certified owner's project and folder; tests grant other users access to the folder."""
    project = Project(name=f"gates-{uuid.uuid4().hex[:8]}").store(synapse_client=syn)
    return Folder(name="submissions", parent_id=project.id).store(synapse_client=syn)


def test_uncertified_editor_is_refused_a_file_store(syn_for, make_user, emulator, shared_folder, tmp_path):
    user = make_user(certified=False, prefix="uncertified")
    emulator.admin.grant(shared_folder.id, user.user_name, "edit")
    uncertified = syn_for(user)
    path = tmp_path / "data.txt"
    path.write_bytes(b"assay bytes")

    with pytest.raises(SynapseHTTPError) as err:
        File(path=str(path), parent_id=shared_folder.id).store(synapse_client=uncertified)
    assert err.value.response.status_code == 403
    assert "certified" in err.value.response.json()["reason"].lower()
    assert emulator.admin.entity(shared_folder.id)["children"] == []

    with pytest.raises(SynapseHTTPError) as err:
        Folder(name="sub", parent_id=shared_folder.id).store(synapse_client=uncertified)
    assert err.value.response.status_code == 403

    permissions = uncertified.restGET(f"/entity/{shared_folder.id}/permissions")
    assert permissions["isCertifiedUser"] is False
    assert permissions["canAddChild"] is False
    assert permissions["canCertifiedUserAddChild"] is True
    assert permissions["canCertifiedUserEdit"] is True
    assert permissions["canEdit"] is False
    # The models API reads every key of UserEntityPermissions (a missing one is a KeyError).
    model = Folder(id=shared_folder.id).get_permissions(synapse_client=uncertified)
    assert model.can_certified_user_add_child is True
    assert model.is_certified_user is False
    assert model.can_add_child is False


def test_certified_editor_may_store_into_the_same_folder(syn_for, make_user, emulator, shared_folder, tmp_path):
    user = make_user(certified=True, prefix="certified")
    emulator.admin.grant(shared_folder.id, user.user_name, "edit")
    certified = syn_for(user)
    permissions = certified.restGET(f"/entity/{shared_folder.id}/permissions")
    assert (permissions["isCertifiedUser"], permissions["canAddChild"]) == (True, True)
    path = tmp_path / "data.txt"
    path.write_bytes(b"assay bytes")
    stored = File(path=str(path), parent_id=shared_folder.id).store(synapse_client=certified)
    assert emulator.admin.entity(shared_folder.id)["children"] == [stored.id]
    assert emulator.admin.entity(stored.id)["entity"]["createdBy"] == user.owner_id


def test_user_without_the_terms_of_service_cannot_log_in(make_user, emulator, tmp_path):
    user = make_user(tos=False, prefix="notos")
    target = SynapseTarget(endpoint=emulator.base_url, token=user.token)

    with pytest.raises(SynapseStepError) as err:
        connect(target, cache_dir=str(tmp_path))
    assert err.value.step == "login"
    assert user.token not in str(err.value)

    plain = build_client(target, cache_dir=str(tmp_path))
    with pytest.raises(SynapseAuthenticationError):
        plain.login(authToken=user.token, silent=True)

    # The auth service is not behind the ToS filter, so the pre-flight check can read the state.
    plain.credentials = SynapseAuthTokenCredentials(user.token)
    status = plain.restGET("/termsOfUse2/status", endpoint=plain.authEndpoint)
    assert status["userCurrentTermsOfServiceState"] == "MUST_AGREE_NOW"
    assert status["userId"] == user.owner_id
    with pytest.raises(SynapseHTTPError) as denied:
        plain.restGET("/userProfile")
    assert denied.value.response.status_code == 403
    assert denied.value.response.json()["reason"] == "Terms of use have not been signed."
    info = plain.restGET("/termsOfUse2/info", endpoint=plain.authEndpoint)
    assert info["latestTermsOfServiceVersion"]

    emulator.admin.set_user_flags(user.user_name, tos=True)
    syn = connect(target, cache_dir=str(tmp_path))
    assert syn.credentials.owner_id == user.owner_id
    status = syn.restGET("/termsOfUse2/status", endpoint=syn.authEndpoint)
    assert status["userCurrentTermsOfServiceState"] == "UP_TO_DATE"


def test_bad_token_fails_login(emulator, tmp_path):
    target = SynapseTarget(endpoint=emulator.base_url, token="tok-nobody")
    with pytest.raises(SynapseStepError) as err:
        connect(target, cache_dir=str(tmp_path))
    assert "tok-nobody" not in str(err.value)
    response = httpx.get(f"{emulator.base_url}/repo/v1/userProfile", headers={"Authorization": "Bearer tok-nobody"})
    assert response.status_code == 401
    assert response.json()["reason"]


@pytest.mark.parametrize("two_factor, expected", [(True, "ENABLED"), (False, "DISABLED")])
def test_two_factor_status_through_the_auth_endpoint(syn_for, make_user, two_factor, expected):
    syn = syn_for(make_user(two_factor=two_factor))
    assert syn.restGET("/2fa", endpoint=syn.authEndpoint) == {"status": expected}


@pytest.mark.parametrize("certified", [True, False])
def test_user_bundle_and_passing_record_show_certification(syn_for, make_user, certified):
    user = make_user(certified=certified)
    syn = syn_for(user)
    own = syn.restGET("/user/bundle?mask=8")
    assert own == {"userId": user.owner_id, "isCertified": certified}
    by_id = syn.restGET(f"/user/{user.owner_id}/bundle?mask=9")
    assert by_id["isCertified"] is certified
    assert by_id["userProfile"]["userName"] == user.user_name
    assert UserProfile().get(synapse_client=syn).is_certified(synapse_client=syn) is certified


def test_user_group_headers_paging_terminates(syn, make_user, emulator):
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    users = [make_user(prefix=prefix) for _ in range(23)]
    target = users[-1]
    owner_id = syn.credentials.owner_id

    profile = UserProfile(username=target.user_name).get(synapse_client=syn)

    assert str(profile.id) == target.owner_id
    assert profile.username == target.user_name
    pages = [c for c in emulator.admin.calls() if c["path"] == "/repo/v1/userGroupHeaders" and c["user"] == owner_id]
    assert len(pages) == 2, "a full user name matches one header: one page, then an empty one ends it"
    # A prefix shared by 23 users takes a page of 20, a page of 3 and a final empty page.
    headers = syn._findPrincipals(prefix)
    assert sorted(h.ownerId for h in headers) == sorted(u.owner_id for u in users)
    pages = [c for c in emulator.admin.calls() if c["path"] == "/repo/v1/userGroupHeaders" and c["user"] == owner_id]
    assert len(pages) == 2 + 3
