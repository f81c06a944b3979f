import uuid
from synapseclient.models import Folder, Project, RecordSet

def test_rs(syn, emulator, tmp_path):
    project = Project(name=f"rs-{uuid.uuid4().hex[:6]}").store(synapse_client=syn)
    folder = Folder(name="records", parent_id=project.id).store(synapse_client=syn)
    csv = tmp_path / "vital.csv"
    csv.write_text("HTAN_PARTICIPANT_ID,VITAL_STATUS,AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS\nHTA200_1,Alive,100\n")
    emulator.admin.clear_calls()
    rs = RecordSet(path=str(csv), parent_id=folder.id, upsert_keys=["HTAN_PARTICIPANT_ID"], name="VitalStatus").store(synapse_client=syn)
    print(rs)
    for c in emulator.admin.calls(): print(c["method"], c["path"], c["status"])
    emulator.admin.clear_calls()
    got = RecordSet(id=rs.id, path=str(tmp_path / "dl")).get(synapse_client=syn)
    print(got)
    for c in emulator.admin.calls(): print(c["method"], c["path"], c["status"])
    csv.write_text("HTAN_PARTICIPANT_ID,VITAL_STATUS,AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS\nHTA200_1,Alive,100\nHTA200_2,Dead,5\n")
    emulator.admin.clear_calls()
    rs2 = RecordSet(path=str(csv), parent_id=folder.id, upsert_keys=["HTAN_PARTICIPANT_ID"], name="VitalStatus").store(synapse_client=syn)
    print(rs2)
    for c in emulator.admin.calls(): print(c["method"], c["path"], c["status"])
    assert 0
