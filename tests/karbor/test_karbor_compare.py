"""``python -m tools.bench --compare karbor``'s path, end to end on a tiny
volume: Karbor 1.6's own volume-glance plugin (at ``poll_interval = 1``: its
default of 15 s would make this test minutes long) in Karbor's flows and bank,
against the benchmark's HTTP local cloud in its own process. Our plugin in
the same flows is ``test_karbor_contract.py``'s; the smallest volume is
1 GiB, which the local cloud copies at each step, so one run is what this
test affords."""

import io
import os

import pytest

from tools.bench import karbor_compare, options
from tools.bench.cloudproc import LocalCloudProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def cloud_process(tmp_path):
    with LocalCloudProcess(str(tmp_path / "cloud"), str(tmp_path / "cloud.log"),
                           status_delay=0.01) as process:
        yield process


def test_the_comparison_runs_karbors_plugin_byte_exact(
        cloud_process, tmp_path):
    from glanceclient.common import http

    glance_chunksize = http.CHUNKSIZE
    karbor = karbor_compare.import_karbor()
    args = options.parse_args(["--compare", "karbor", "--size", "6M",
                               "--status-delay", "0.01",
                               "--poll-interval", "0.05"])
    size, pattern = karbor_compare.compare_case(args)
    players = [karbor_compare.Contestant("karbor-poll-1", "karbor", 1)]
    out, err = io.StringIO(), io.StringIO()
    runs = karbor_compare.compare(karbor, args, cloud_process, str(tmp_path),
                                  size, pattern, players, out, err)

    [run] = runs
    assert (run["contestant"], run["error"], run["restore_exact"]) == (
        "karbor-poll-1", None, True)
    assert run["poll_interval"] == 1  # Karbor's plugin took the override
    assert run["protect_seconds"] > 0 and run["restore_seconds"] > 0
    # the restore is exact, so Karbor stored the whole image (with 1 MiB
    # pieces it stores a sixteenth and its restore fails the checksum);
    # glanceclient's own piece size is back after Karbor's run
    assert http.CHUNKSIZE == glance_chunksize
    report = out.getvalue()
    assert "CHUNKSIZE = 65536" in report
    assert ["1", "karbor-poll-1", "1"] in [line.split()[:3]
                                          for line in report.splitlines()]
    # the run's checkpoint was deleted by Karbor's plugin; only the source
    # volume is left in the cloud
    volumes = os.listdir(os.path.join(cloud_process.data_dir, "volumes"))
    assert len(volumes) == 1
    bank = tmp_path / "bank"
    left = [name for _root, _dirs, files in os.walk(bank) for name in files
            if name.startswith("data_")]
    assert left == []
