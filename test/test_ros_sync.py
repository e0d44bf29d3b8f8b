"""The built-in ApproximateTimeSync (message_filters semantics), the latest-frame slot, parameters."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from occtrack_ros.ros import parameters as P
from occtrack_ros.ros.latest_slot import LatestSlot
from occtrack_ros.ros.sync import ApproximateTimeSync

MS = 1_000_000


def make(n, queue=10, slop=0.02):
    out = []
    sync = ApproximateTimeSync(n, queue, slop, lambda *m: out.append(m), stamp_of=lambda m: m[1])
    return sync, out


def test_exact_and_nearest_within_slop():
    sync, out = make(2)
    sync.add(0, ("img", 100 * MS))
    assert out == []
    sync.add(1, ("depth", 105 * MS))
    assert out == [(("img", 100 * MS), ("depth", 105 * MS))]
    # the nearest candidate wins, and emitted messages leave the queues
    sync.add(1, ("d1", 190 * MS))
    sync.add(1, ("d2", 198 * MS))
    sync.add(0, ("i2", 200 * MS))
    assert out[-1] == (("i2", 200 * MS), ("d2", 198 * MS))
    assert list(sync.queues[1]) == [190 * MS] and not sync.queues[0]


def test_spread_must_be_strictly_below_slop():
    sync, out = make(2, slop=0.02)
    sync.add(0, ("a", 0))
    sync.add(1, ("b", 20 * MS))   # exactly the slop: not matched (max - min < slop)
    assert out == []
    sync.add(1, ("c", 19 * MS))
    assert out == [(("a", 0), ("c", 19 * MS))]


def test_three_inputs_wait_for_all_and_keep_input_order():
    sync, out = make(3)
    sync.add(2, ("odom", 1000 * MS))
    sync.add(0, ("img", 1001 * MS))
    assert out == []
    sync.add(1, ("depth", 1002 * MS))
    assert [m[0] for m in out[0]] == ["img", "depth", "odom"]


def test_queue_size_evicts_oldest_and_repeated_stamp_replaces():
    sync, out = make(2, queue=2)
    for t in (0, 100, 200):
        sync.add(0, ("img", t * MS))
    assert sorted(sync.queues[0]) == [100 * MS, 200 * MS]
    sync.add(0, ("img-again", 200 * MS))
    assert sync.queues[0][200 * MS][0] == "img-again"
    sync.add(1, ("depth", 1 * MS))   # its partner (t=0) was evicted
    assert out == []


def test_single_input_passes_through():
    sync, out = make(1)
    assert sync.add(0, ("img", 5))
    assert out == [(("img", 5),)]


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateTimeSync(2, 0, 0.1, print)
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimeSync(2, 1, 0.0, print)


def test_latest_slot_drops_to_newest_and_counts():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(0.1) == 3 and slot.dropped == 2
    assert slot.take(0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    slot.put(4)
    t.join(5.0)
    assert got == [4]
    slot.close()
    assert slot.take(1.0) is None


def test_yaml_defaults_match_the_parameter_table():
    data = yaml.safe_load((Path(__file__).parents[1] / "config" / "occtrack.yaml").read_text())
    params = data[P.NODE_NAME]["ros__parameters"]
    assert "use_sim_time" in params
    for p in P.PARAMETERS:
        assert p.name in params, f"{p.name} missing from config/occtrack.yaml"
        assert params[p.name] == p.default, p.name
        assert P.validate(p.name, params[p.name]) is None
    assert set(params) - {"use_sim_time"} == set(P.BY_NAME)


@pytest.mark.parametrize("name,value,needle", [
    ("depth_source", "lidar", "one of"), ("score_threshold", 1.5, "[0, 1]"), ("device", "gpu", "cuda:N"),
    ("sync_slop", 0.0, "> 0"), ("base_to_camera", [0.0] * 7, "non-zero"), ("use_odometry", 1, "expected bool"),
    ("qos_depth", "5", "expected int"), ("detector_plugin", "nocolon", "module:callable"),
])
def test_validators_name_the_bad_value(name, value, needle):
    error = P.validate(name, value)
    assert error is not None and name in error and needle in error


def test_markdown_table_lists_every_parameter():
    table = P.markdown_table()
    for p in P.PARAMETERS:
        assert f"`{p.name}`" in table
