"""Fixtures of the node package's own suite, and its guard: these tests run with the node's
dependencies only (numpy, pyserial, cryptography, ai-edge-litert, pytest). The session fails if
TensorFlow, Keras or a host package got imported, so a test cannot lean on the trainer or the
exporter by accident. Run it on its own, ``cd device_runtime && pytest`` (``make test`` does), not
together with the host suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from semqam_node.testing import synthetic_bundle

#: Top-level modules the node package must never need.
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "trainer", "evaluation", "firmware_export",
             "edge", "hil", "hil_tests", "semqam", "channel_sim")


def forbidden_imports() -> list[str]:
    """Forbidden top-level modules present in ``sys.modules``."""
    return sorted({name.split(".")[0] for name in sys.modules} & set(FORBIDDEN))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bad = forbidden_imports()
    if bad:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"node suite guard: {', '.join(bad)} got imported; the node "
                                "package must not need TensorFlow or host packages", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh Ed25519 key pair (private PEM path, public PEM path)."""
    from semqam_node.testing import write_keypair

    return write_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def node_bundle(signing_keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    """A synthetic bundle signed with ``signing_keys``: N = 64, D = 4, M = 16, 784-byte input
    (:func:`semqam_node.testing.synthetic_bundle`; no TensorFlow)."""
    return synthetic_bundle(tmp_path_factory.mktemp("build") / "synthetic", signing_keys[0])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
