"""The node link where it needs the host: a node running the LiteRT backend on an exported
bundle (the ``.tflite`` comes from the exporter), and the ``semqam flash`` command.

Everything else about the link (framing, flashing, faults, recovery) is tested by the node
package's own suite, ``device_runtime/tests/test_link.py``, without TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from semqam_node import protocol as P
from semqam_node.node import Node
from semqam_node.testing import (
    NodeFactory,
    check_symbols,
    client_for,
    derive_bundle,
    write_keypair,
)
from semqam_node.testing import random_samples as samples

pytestmark = pytest.mark.timeout(120, func_only=True)  # the session bundle may take longer


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """The Ed25519 key pair ``lab`` trusted by the nodes (``lab``, ``lab_pub``: file paths)."""
    key, pub = write_keypair(tmp_path_factory.mktemp("link-keys"))
    return {"lab": key, "lab_pub": pub}


@pytest.fixture(scope="module")
def bundles(tiny_bundle, keys, tmp_path_factory) -> dict[str, Path]:
    """The exported tiny bundle re-signed with ``keys["lab"]`` (``A``) and unsigned."""
    root = tmp_path_factory.mktemp("variants")
    return {"A": derive_bundle(tiny_bundle, root / "A", keys["lab"], "A"),
            "unsigned": derive_bundle(tiny_bundle, root / "unsigned", None, "U")}


@pytest.fixture
def vnode(tmp_path, keys):
    """Factory of virtual nodes (closed at the end of the test)."""
    nodes = NodeFactory(tmp_path, keys["lab_pub"])
    yield nodes
    nodes.close()


@pytest.fixture(scope="module")
def reference(tiny_bundle):
    """In-process encoder on the same bundle: what every SYMBOLS must match."""

    return Node(tiny_bundle, backend="c")


def test_litert_backend_node_sends_the_same_symbols(vnode, bundles, reference):
    pytest.importorskip("ai_edge_litert")
    v = vnode(install=bundles["A"], backend="litert")
    xs = samples(5, seed=4)
    with client_for(v, timeout=2.0) as c:
        info = c.hello()
        assert info.backend == P.Backend.LITERT and info.status == "ready"
        for x, r in zip(xs, c.stream(xs, window=2), strict=True):
            check_symbols(reference, x, r.symbols)  # reference kernels: bit-exact with C


def test_cli_flash_and_errors(vnode, bundles, keys):
    import typer
    from typer.testing import CliRunner

    from cli.errors import SemqamGroup
    from cli.link import register

    app = typer.Typer(cls=SemqamGroup)
    register(app)

    @app.command()
    def _other() -> None:  # a second command keeps typer from collapsing the group
        pass

    v = vnode()
    runner = CliRunner()
    res = runner.invoke(app, ["flash", "--port", v.port, "--bundle", str(bundles["A"]),
                              "--chunk-size", "4088"])
    assert res.exit_code == 0, res.output
    assert "active in slot a" in res.output
    assert "holds no trusted key" not in res.output  # this node holds one
    res = runner.invoke(app, ["flash", "--port", v.port, "--bundle", str(bundles["unsigned"]),
                              "--trust", str(keys["lab_pub"])])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "unsigned" in lines[-1]
    res = runner.invoke(app, ["flash", "--port", "/dev/nonexistent-tty", "--bundle",
                              str(bundles["A"]), "--timeout", "0.2"])
    assert res.exit_code == 2 and "cannot open" in res.output


def test_cli_flash_warns_when_the_node_holds_no_key(vnode, bundles):
    """A node started with --insecure-accept-unsigned takes the unsigned bundle, and
    `semqam flash` says in one warning line that it would take anyone's."""
    from typer.testing import CliRunner

    from cli.main import app

    v = vnode("insecure", trust=False, insecure=True)
    res = CliRunner().invoke(app, ["flash", "--port", v.port, "--bundle",
                                   str(bundles["unsigned"]), "--chunk-size", "4088"])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, res.stderr
    assert "holds no trusted key" in warnings[0] and "--insecure-accept-unsigned" in warnings[0]
    assert "active in slot a" in res.stdout
