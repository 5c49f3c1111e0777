"""Parsers of module_utils/mig.py against the real nvidia-smi captures (H100 80GB, H200)."""
import ast
import re
import types

import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import mig

H100 = "h100-80gb-hbm3-mig-disabled"
H200 = "h200-141gb-mig-disabled"

# The README's table of the H100 80GB capture: name -> (id, max, GiB, SMs, starts, size)
H100_TABLE = {
    "1g.10gb": (19, 7, 9.75, 16, [0, 1, 2, 3, 4, 5, 6], 1),
    "1g.10gb+me": (20, 1, 9.75, 16, [0, 1, 2, 3, 4, 5, 6], 1),
    "1g.20gb": (15, 4, 19.62, 26, [0, 2, 4, 6], 2),
    "2g.20gb": (14, 3, 19.62, 32, [0, 2, 4], 2),
    "3g.40gb": (9, 2, 39.50, 60, [0, 4], 4),
    "4g.40gb": (5, 1, 39.50, 64, [0], 4),
    "7g.80gb": (0, 1, 79.25, 132, [0], 8),
}
H200_NAMES = ["1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"]


def section(text, title):
    match = re.search(r"^### %s\n(.*?)^rc=(\d+)" % re.escape(title), text, re.M | re.S)
    assert match, title
    return match.group(1), int(match.group(2))


@pytest.fixture(scope="module")
def smi(fixtures_dir):
    def read(gpu, name):
        return (fixtures_dir / "nvidia-smi" / gpu / name).read_text()
    return read


def test_lgip_h100_matches_the_capture_table(smi):
    text, rc = section(smi(H100, "mig.txt"), "nvidia-smi mig -lgip")
    assert rc == 0
    rows = mig.parse_lgip(text)
    assert list(rows) == [0]
    by_name = dict((r["name"], r) for r in rows[0])
    assert list(by_name) == list(H100_TABLE)
    for name, (pid, count, gib, sms, _starts, _size) in H100_TABLE.items():
        row = by_name[name]
        assert (row["id"], row["max_count"], row["free"], row["memory_gib"], row["sm"]) == (pid, count, count, gib, sms)
    assert by_name["7g.80gb"]["ce"] == 8 and by_name["7g.80gb"]["ofa"] == 1
    assert by_name["1g.10gb+me"]["ofa"] == 1 and by_name["1g.10gb"]["ofa"] == 0
    assert [by_name[n]["compute_slices"] for n in H100_TABLE] == [1, 1, 1, 2, 3, 4, 7]


def test_lgipp_h100_placements(smi):
    text, _rc = section(smi(H100, "mig.txt"), "nvidia-smi mig -lgipp")
    placements = mig.parse_lgipp(text)[0]
    for name, (pid, _count, _gib, _sms, starts, size) in H100_TABLE.items():
        assert placements[pid] == {"starts": starts, "size": size}, name


def test_h200_profiles_come_from_its_own_capture(smi):
    text = smi(H200, "mig.txt")
    lgip = mig.parse_lgip(section(text, "nvidia-smi mig -lgip")[0])
    lgipp = mig.parse_lgipp(section(text, "nvidia-smi mig -lgipp")[0])
    profiles = mig.build_profiles(lgip[0], lgipp[0])
    assert list(profiles) == H200_NAMES
    assert profiles["7g.141gb"]["memory_gib"] == 140.0 and profiles["7g.141gb"]["size"] == 8
    assert profiles["3g.71gb"]["starts"] == [0, 4] and profiles["1g.35gb"]["starts"] == [0, 2, 4, 6]
    assert mig.geometry(profiles) == (8, 7)


@pytest.mark.parametrize("gpu", [H100, H200])
def test_lgi_lci_with_mig_disabled_are_empty_not_errors(smi, gpu):
    text = smi(gpu, "mig.txt")
    for title in ("nvidia-smi mig -lgi", "nvidia-smi mig -lci"):
        out, rc = section(text, title)
        assert rc == 0 and out.strip() == mig.NO_MIG_DEVICES
        assert mig.mig_disabled_everywhere(out)
        assert mig.parse_lgi(out) == {} and mig.parse_lci(out) == {}


def test_create_gi_while_mig_disabled_is_a_failure_despite_exit_0(smi):
    text = smi(H200, "create-gi-while-mig-disabled.txt")
    out, rc = text.split("rc=")[0], int(text.split("rc=")[1])
    assert rc == 0
    assert mig.command_failure(rc, out) == mig.NO_MIG_DEVICES
    assert mig.parse_created(out) == []


def test_command_failure_reads_the_text():
    ok = "Successfully created GPU instance ID  9 on GPU  0 using profile MIG 1g.10gb (ID 19)\n"
    assert mig.command_failure(0, ok) is None
    bad = ("Unable to create a GPU instance on GPU  0 using profile 9: Insufficient Resources\n"
           "Failed to create GPU instances: Insufficient Resources\n")
    assert "Insufficient Resources" in mig.command_failure(0, bad)
    assert mig.command_failure(6, "No GPU instances found: Not Found\n") is None
    assert mig.command_failure(1, "", "boom").startswith("exit code 1")


@pytest.mark.parametrize("gpu,device_id,memory", [(H100, None, "81559"), (H200, "0x233510DE", "143771")])
def test_query_csv(smi, gpu, device_id, memory):
    rows = mig.parse_query_csv(smi(gpu, "query.csv"))
    assert len(rows) == 1
    row = rows[0]
    assert row["index"] == "0" and row["mig.mode.current"] == "Disabled" and row["mig.mode.pending"] == "Disabled"
    assert row["memory.total"] == memory + " MiB"
    assert row.get("pci.device_id") == device_id
    assert row["uuid"].startswith("GPU-")


@pytest.mark.parametrize("gpu,device_id,uuid", [
    (H100, "0x233010DE", "GPU-52552dc5-2157-a823-bd6b-42b7f980c10c"),
    (H200, "0x233510DE", "GPU-a6ebccd0-993f-b3c3-a8bd-fa86aac1273e"),
])
def test_smi_xml(smi, gpu, device_id, uuid):
    gpus = mig.parse_smi_xml(smi(gpu, "smi-q.xml"))
    assert len(gpus) == 1
    g = gpus[0]
    assert (g["uuid"], g["pci_device_id"], g["pci_bus_id"]) == (uuid, device_id, "00000000:00:06.0")
    assert (g["mig_current"], g["mig_pending"]) == ("Disabled", "Disabled")
    assert g["mig_devices"] == [] and g["processes"] == []
    assert g["driver_version"] == "580.159.04"


@pytest.mark.parametrize("gpu", [H100, H200])
def test_smi_list(smi, gpu):
    listed = mig.parse_smi_list(smi(gpu, "smi.txt"))
    assert list(listed) == [0]
    assert listed[0]["uuid"].startswith("GPU-") and listed[0]["mig_devices"] == []


@pytest.mark.parametrize("gpu,name", [(H100, "NVIDIA H100 80GB HBM3"), (H200, "NVIDIA H200")])
def test_build_gpu_states_from_a_capture(smi, gpu, name):
    text = smi(gpu, "mig.txt")
    states = mig.build_gpu_states(
        mig.parse_query_csv(smi(gpu, "query.csv")), mig.parse_smi_xml(smi(gpu, "smi-q.xml")),
        mig.parse_lgip(section(text, "nvidia-smi mig -lgip")[0]), mig.parse_lgipp(section(text, "nvidia-smi mig -lgipp")[0]),
        mig.parse_lgi(section(text, "nvidia-smi mig -lgi")[0]), mig.parse_lci(section(text, "nvidia-smi mig -lci")[0]))
    assert len(states) == 1
    state = states[0]
    assert state["name"] == name and state["mig_capable"] and state["gpu_instances"] == []
    assert (state["memory_slices"], state["compute_slices"]) == (8, 7)
    assert len(state["profiles"]) == 7
    # the H100 csv has no pci.device_id column: the XML supplies it
    assert state["pci_device_id"] in ("0x233010DE", "0x233510DE")


# Formats printed once MIG is enabled (driver R5xx), for GPU 0 of an H100 with 3g.40gb@4 + 1g.10gb@2
LGI_ENABLED = """\
+-------------------------------------------------------+
| GPU instances:                                        |
| GPU   Name             Profile  Instance   Placement  |
|                          ID       ID       Start:Size |
|=======================================================|
|   0  MIG 3g.40gb          9        1          4:4     |
+-------------------------------------------------------+
|   0  MIG 1g.10gb         19        9          2:1     |
+-------------------------------------------------------+
"""
LCI_ENABLED = """\
+--------------------------------------------------------------------+
| Compute instances:                                                 |
| GPU     GPU       Name             Profile   Instance   Placement  |
|       Instance                       ID        ID       Start:Size |
|         ID                                                         |
|====================================================================|
|   0      1       MIG 3g.40gb          2         0          0:3     |
+--------------------------------------------------------------------+
|   0      9       MIG 1g.10gb          0         0          0:1     |
+--------------------------------------------------------------------+
"""
LCI_OLD = """\
| Compute instances:                                    |
| GPU     GPU       Name             Profile   Instance |
|       Instance                       ID        ID     |
|         ID                                            |
|   0      7       MIG 1g.5gb           0         0     |
"""
SMI_L_ENABLED = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-52552dc5-2157-a823-bd6b-42b7f980c10c)
  MIG 3g.40gb     Device  0: (UUID: MIG-b3061c09-2a4c-5026-a575-79f86a5bb12c)
  MIG 1g.10gb     Device  1: (UUID: MIG-6c80966f-629d-5379-803b-55424fc1a0bc)
"""


def test_enabled_formats_and_join(smi):
    assert mig.parse_lgi(LGI_ENABLED) == {0: [
        {"gi_id": 1, "profile": "3g.40gb", "profile_id": 9, "start": 4, "size": 4},
        {"gi_id": 9, "profile": "1g.10gb", "profile_id": 19, "start": 2, "size": 1}]}
    lci = mig.parse_lci(LCI_ENABLED)
    assert [(c["gi_id"], c["ci_id"], c["profile_id"], c["start"], c["size"]) for c in lci[0]] == [
        (1, 0, 2, 0, 3), (9, 0, 0, 0, 1)]
    assert mig.parse_lci(LCI_OLD)[0][0]["start"] is None
    xml = smi(H100, "smi-q.xml").replace("<current_mig>Disabled", "<current_mig>Enabled").replace(
        "<pending_mig>Disabled", "<pending_mig>Enabled")
    devices = ("<mig_devices><mig_device><index>0</index><gpu_instance_id>1</gpu_instance_id>"
               "<compute_instance_id>0</compute_instance_id></mig_device><mig_device><index>1</index>"
               "<gpu_instance_id>9</gpu_instance_id><compute_instance_id>0</compute_instance_id>"
               "<uuid>MIG-aaaaaaaa-0000-5000-8000-000000000001</uuid></mig_device></mig_devices>")
    xml = re.sub(r"<mig_devices>.*?</mig_devices>", devices, xml, flags=re.S)
    xml = xml.replace("<processes>", "<processes><process_info><gpu_instance_id>1</gpu_instance_id>"
                      "<compute_instance_id>0</compute_instance_id><pid>4242</pid><type>C</type>"
                      "<process_name>python3</process_name><used_memory>500 MiB</used_memory></process_info>")
    text = smi(H100, "mig.txt")
    rows = mig.parse_query_csv(smi(H100, "query.csv").replace("Disabled, Disabled", "Enabled, Enabled"))
    state = mig.build_gpu_states(rows, mig.parse_smi_xml(xml), mig.parse_lgip(section(text, "nvidia-smi mig -lgip")[0]),
                                 mig.parse_lgipp(section(text, "nvidia-smi mig -lgipp")[0]), mig.parse_lgi(LGI_ENABLED),
                                 lci, mig.parse_smi_list(SMI_L_ENABLED))[0]
    gis = dict((gi["gi_id"], gi) for gi in state["gpu_instances"])
    # -L supplies the UUID the XML leaves out; a UUID inside <mig_device> wins
    assert gis[1]["compute_instances"][0]["mig_uuid"] == "MIG-b3061c09-2a4c-5026-a575-79f86a5bb12c"
    assert gis[9]["compute_instances"][0]["mig_uuid"] == "MIG-aaaaaaaa-0000-5000-8000-000000000001"
    assert state["processes"] == [{"pid": 4242, "name": "python3", "type": "C", "used_memory": "500 MiB",
                                   "gi_id": 1, "ci_id": 0}]
    entry = mig.gpu_map(state)
    assert entry["layout"] == {"1g.10gb": 1, "3g.40gb": 1}
    picture = mig.render_picture(entry)
    assert "|free      |free      |1g.10gb   |free      |3g.40gb" in picture
    assert "GI 9" in picture and "GI 1" in picture


def test_parse_created():
    out = ("Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.20gb (ID  9)\n"
           "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.20gb (ID  2)\n")
    assert mig.parse_created(out) == [{"gi_id": 2, "ci_id": 0, "profile": "3g.20gb", "profile_id": 9}]


def test_nvml_reader_matches_nvidia_smi(smi):
    """The optional NVML path, driven by a stand-in built from the NVML capture (nvml.txt)."""
    infos = {}
    for line in smi(H100, "nvml.txt").splitlines():
        match = re.match(r"^profile (\d+) (\{.*\})$", line)
        if match:
            infos[int(match.group(1))] = ast.literal_eval(match.group(2))
    text = smi(H100, "mig.txt")
    placements = mig.parse_lgipp(section(text, "nvidia-smi mig -lgipp")[0])[0]

    class NVMLError(Exception):
        pass

    def get_info(handle, index):
        if index not in infos:
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(**infos[index])

    def possible(handle, profile_id):
        p = placements[profile_id]
        return [types.SimpleNamespace(start=s, size=p["size"]) for s in p["starts"]]

    fake = types.SimpleNamespace(NVMLError=NVMLError, NVML_GPU_INSTANCE_PROFILE_COUNT=20,
                                 nvmlDeviceGetHandleByIndex=lambda i: "h%d" % i,
                                 nvmlDeviceGetGpuInstanceProfileInfo=get_info,
                                 nvmlDeviceGetGpuInstancePossiblePlacements=possible)
    lgip, lgipp = mig.read_profiles_nvml(fake, [0])
    from_nvml = mig.build_profiles(lgip[0], lgipp[0])
    from_smi = mig.build_profiles(mig.parse_lgip(section(text, "nvidia-smi mig -lgip")[0])[0], placements)
    assert sorted(from_nvml) == sorted(from_smi)
    for name in from_smi:
        for key in ("id", "max_count", "sm", "compute_slices", "starts", "size", "memory_gib"):
            assert from_nvml[name][key] == from_smi[name][key], (name, key)
