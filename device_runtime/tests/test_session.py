"""open_node(): the one way to open a node, virtual or on a port, running the bundle under test."""

from __future__ import annotations

import numpy as np
import pytest
from semqam_node import protocol as P
from semqam_node.errors import LinkError, NodeStartError, SemqamError
from semqam_node.host import NodeClient
from semqam_node.node import Node
from semqam_node.session import VIRTUAL, NodeSession, open_node
from semqam_node.virtual import FaultConfig, VirtualNode

pytestmark = pytest.mark.timeout(120)


def test_virtual_node_is_flashed_and_serves_the_bundle(node_bundle, signing_keys, tmp_path):
    ref = Node(node_bundle)
    x = np.random.default_rng(3).integers(0, 256, (6, 784), dtype=np.uint8)
    with open_node(VIRTUAL, node_bundle, trust=signing_keys[1], state_dir=tmp_path / "s",
                   timeout=1.0) as s:
        assert isinstance(s, NodeSession) and isinstance(s.client, NodeClient)
        assert s.virtual is not None and s.port == s.virtual.port and s.node_pid
        assert not s.flash.skipped and s.flash.slot == 1
        d = s.describe()
        assert d["virtual"] and d["bundle_id"] == s.flash.bundle_id and d["link"] == "not paced"
        info = s.client.hello()
        assert info.flags & P.INFO_TRUST and info.status == "ready"
        for u, r in zip(x, s.client.stream(list(x), window=3), strict=True):
            want = ref.encode(u, r.k)
            np.testing.assert_array_equal(r.positions, want.positions)
            np.testing.assert_array_equal(r.iq, want.iq)
        pid = s.node_pid
    assert (tmp_path / "s" / "slot_a" / "manifest.json").is_file()  # the state dir is kept
    assert pid is not None and s.node_pid is None  # the node process is gone


def test_a_real_port_is_flashed_only_when_needed(node_bundle, signing_keys, tmp_path):
    with VirtualNode(tmp_path / "board", trust=signing_keys[1],
                     log_path=tmp_path / "board.log") as board:
        with open_node(board.port, node_bundle) as s:
            assert s.virtual is None and not s.flash.skipped
        with open_node(board.port, node_bundle) as s:
            assert s.flash.skipped and s.node_pid is None
            assert s.client.hello().manifest_sha256.hex() == s.flash.manifest_sha256


def test_faults_are_applied_after_flashing(node_bundle):
    faults = FaultConfig(flip=1e-3, seed=1)
    with open_node(VIRTUAL, node_bundle, faults=faults, timeout=0.3) as s:
        assert s.virtual is not None
        before = s.virtual.wire.stats()["h2n"].total_faults
        assert before == 0  # the bundle went over a clean wire
        outs = list(s.client.transact([P.Ping(bytes(200))] * 100, window=4))
        assert len(outs) == 100  # every request still gets an outcome
        assert s.virtual.wire.stats()["h2n"].total_faults > 0


def test_bad_arguments_are_refused_before_anything_starts(node_bundle, tmp_path):
    with pytest.raises(ValueError, match="backend 'gpu'"), \
            open_node(VIRTUAL, node_bundle, backend="gpu", state_dir=tmp_path / "s"):
        pass
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="no manifest.json"), open_node(VIRTUAL, tmp_path):
        pass
    with pytest.raises(ValueError, match="needs --port virtual"), \
            open_node("/dev/nonexistent-tty", node_bundle, faults=FaultConfig(flip=0.1)):
        pass
    with pytest.raises(LinkError, match="cannot open"), \
            open_node("/dev/nonexistent-tty", node_bundle, timeout=0.1):
        pass


def test_a_node_that_cannot_start_raises_node_start_error(tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    v = VirtualNode(tmp_path / "s", trust=bad, log_path=tmp_path / "s.log")
    try:
        with pytest.raises(NodeStartError, match="exited with 2") as e:
            v.start()
    finally:
        v.close()
    assert isinstance(e.value, SemqamError) and "not a PEM public key" in str(e.value)
