"""``semqam-node``: serve the link protocol (docs/protocol.md) on a serial port.

    semqam-node --port /dev/serial0 --bundle-dir /var/lib/semqam --trust key.pub
                [--backend c|litert] [--baud 115200] [--node-id pi-1] [--allow-downgrade]
    semqam-node ... --insecure-accept-unsigned      (no key: accepts any bundle; warns)

The port is opened with ``serial.serial_for_url``: a device path, a pty path, ``socket://host:port``
and ``loop://`` all work. Every request gets exactly one reply (its own type | 0x80, or ERROR);
frames that fail COBS/CRC are counted and dropped without a reply, as their seq cannot be trusted.
The node never stops serving on bad input; a vanished port is reopened; a reply the host does
not take within the write timeout is dropped and counted (``replies_dropped``). Exit status: 0
after SIGTERM, 2 for a start-up error, 3 when its pty hung up (the link is gone for good).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from . import protocol as P
from .bundle import BundleError, load_public_key
from .conventions import CONSTELLATIONS as CONSTELLATION_NAMES
from .slots import ActiveBundle, Limits, SlotError, SlotStore
from .stats import summarize

log = logging.getLogger("semqam_node.server")

BACKENDS = {"c": P.Backend.C, "litert": P.Backend.LITERT}
CONSTELLATIONS = {P.Constellation[name.upper()]: name for name in CONSTELLATION_NAMES}
READY_LINE = "serving"  # the log line virtual nodes wait for
EXIT_LINK_GONE = 3  # the pty hung up: a failure, so a service manager restarts the node
WRITE_TIMEOUT_S = 2.0  # a reply the host does not take in this time is dropped
INSECURE_WARNING = ("WARNING: no --trust key: this node accepts unsigned bundles and bundles "
                    "signed by anyone who can reach its serial link")


def runtime_limits() -> Limits:
    """The compiled limits of the C core (``SQ_MAX_*``), as far as the link cares."""
    try:
        from . import _core

        lim = _core.limits()
    except (ImportError, AttributeError):
        return Limits()
    return Limits(max_order=int(lim["max_m"]), max_concepts=int(lim["max_n"]),
                  max_latent=int(lim["max_d"]), max_layer_width=int(lim["max_layer_width"]),
                  max_chain_layers=int(lim["max_chain_layers"]),
                  max_policy_len=int(lim["max_policy_len"]),
                  max_input=min(int(lim["max_layer_width"]), P.MAX_PAYLOAD - 4))


def make_encoder(bundle_dir: Path, backend: str, constellation: str, trust: Any) -> Any:
    """The per-sample encoder of a verified bundle (``semqam_node.node.Node``).

    The one place the server constructs it; tests and ports swap this function.
    """
    from .node import Node

    return Node(bundle_dir, backend=backend, constellation=constellation, trust=trust)


EncoderFactory = Callable[[Path, str, str, Any], Any]


class _Timing:
    """Recent per-stage durations (µs) for STATS: count, mean, p50, p99, max."""

    def __init__(self, window: int = 4096) -> None:
        self.count = 0
        self.total = 0
        self.max = 0
        self.recent: deque[int] = deque(maxlen=window)

    def add(self, us: int) -> None:
        self.count += 1
        self.total += us
        self.max = max(self.max, us)
        self.recent.append(us)

    def summary(self, name: str) -> P.StageTiming:
        if not self.count:
            return P.StageTiming(name, 0, 0, 0, 0, 0)
        s = summarize(self.recent, percentiles=(99,))
        return P.StageTiming(name, self.count, self.total // self.count,
                             int(s["median"]), int(s["p99"]), self.max)


SERVER_COUNTERS = ("frames_tx", "bytes_tx", "requests", "samples_encoded", "errors_sent",
                   "flash_chunks", "flash_commits", "port_reopens", "replies_dropped")


class NodeServer:
    """The node's protocol logic, independent of the transport: :meth:`process` bytes in,
    reply bytes out."""

    def __init__(self, bundle_dir: str | Path, trust: str | Path | None = None,
                 backend: str = "c", node_id: str | None = None,
                 encoder_factory: EncoderFactory | None = None,
                 limits: Limits | None = None, allow_downgrade: bool = False) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}; choose one of {sorted(BACKENDS)}")
        self.backend = backend
        self.node_id = node_id or socket.gethostname()
        self.trust_path = Path(trust) if trust else None
        self.trust_key = load_public_key(trust) if trust else None
        self.factory = encoder_factory or make_encoder
        self.store = SlotStore(bundle_dir, self.trust_key, limits or runtime_limits(),
                               allow_downgrade=allow_downgrade)
        self.decoder = P.FrameDecoder()
        self.boot_id = int.from_bytes(os.urandom(4), "little")
        self.started = time.monotonic()
        self.counters = dict.fromkeys(SERVER_COUNTERS, 0)
        self.timing = {name: _Timing() for name in P.TIMING_STAGES}
        self.constellation = P.Constellation.SEMANTIC
        self.cfg_flags = 0
        self.snr_cdb: int | None = None
        self.k_override = 0
        self._encoders: dict[int, Any] = {}
        self.encoder_problem = ""
        self._staged_encoder: Any = None
        self.store.recover()
        self._load_encoder()

    # ------------------------------------------------------------------ encoder

    @property
    def bundle(self) -> ActiveBundle | None:
        return self.store.active

    def _load_encoder(self) -> None:
        self._encoders.clear()
        self.encoder_problem = ""
        if self.bundle is None:
            self.encoder_problem = f"no active bundle: {self.store.problem}"
            return
        try:
            enc = self.factory(self.bundle.path, self.backend,
                               CONSTELLATIONS[self.constellation], self.trust_path)
        except Exception as e:  # noqa: BLE001 - reported in INFO and in every INPUT's ERROR
            self.encoder_problem = f"encoder unavailable: {type(e).__name__}: {e}"
            log.warning("%s", self.encoder_problem)
            return
        self._encoders[self.constellation] = enc
        self._apply_snr(enc)

    def _encoder(self, constellation: int | None = None) -> Any:
        """The encoder for ``constellation`` (default: the configured one), built on demand."""
        c = self.constellation if constellation is None else constellation
        if c in self._encoders:
            return self._encoders[c]
        if not self._encoders:
            raise _Refuse(P.ErrorCode.NO_BUNDLE if self.bundle is None else P.ErrorCode.NO_ENCODER,
                          self.encoder_problem)
        assert self.bundle is not None
        enc = self.factory(self.bundle.path, self.backend, CONSTELLATIONS[c], self.trust_path)
        self._apply_snr(enc)
        self._encoders[c] = enc
        return enc

    def _apply_snr(self, enc: Any) -> None:
        if self.snr_cdb is not None:
            enc.set_snr(self.snr_cdb)

    def load_check(self, path: Path, manifest: dict[str, Any]) -> None:
        """Commit-time check: the encoder must load the new bundle (a missing backend does not
        refuse the bundle; it is reported as NO_ENCODER later)."""
        try:
            self._staged_encoder = self.factory(path, self.backend,
                                                CONSTELLATIONS[self.constellation],
                                                self.trust_path)
        except ImportError as e:
            log.warning("cannot check the bundle with the encoder: %s", e)
            self._staged_encoder = None

    def install(self, bundle_dir: str | Path) -> ActiveBundle:
        """Install a local bundle folder with the same checks as a flash, and load it."""
        bundle = self.store.install(bundle_dir, check=self.load_check)
        log.info("installed %s (%s) into slot_%s", bundle_dir, bundle.bundle_id, bundle.slot)
        self._adopt_staged()
        return bundle

    def _adopt_staged(self) -> None:
        if self._staged_encoder is not None:
            self._encoders = {self.constellation: self._staged_encoder}
            self.encoder_problem = ""
            self._apply_snr(self._staged_encoder)
            self._staged_encoder = None
        else:
            self._load_encoder()

    # ------------------------------------------------------------------ bytes in, bytes out

    def process(self, data: bytes) -> bytes:
        """Feed received bytes; return the reply frames to send (possibly empty)."""
        out = bytearray()
        for item in self.decoder.feed(data):
            t0 = time.perf_counter_ns()
            if isinstance(item, P.Rejected):
                reply = self._rejected(item)
                if reply is not None:
                    out += reply
                continue
            out += self.handle_frame(item, t0)
        return bytes(out)

    def _rejected(self, item: P.Rejected) -> bytes | None:
        if item.seq is None:
            return None
        if item.kind == "oversized":
            code, text = P.ErrorCode.OVERSIZED, (
                f"frame of {item.size} encoded bytes exceeds the {P.MAX_PAYLOAD}-byte payload "
                "limit; dropped")
        else:
            code, text = P.ErrorCode.BAD_FRAME, (
                f"length field disagrees with the {item.size}-byte payload; dropped")
        return self._frame(P.Error(code, item.type or 0, text), item.seq)

    def handle_frame(self, frame: P.Frame, t0: int | None = None) -> bytes:
        """The reply frame for one valid frame: exactly one, ERROR included, whatever happens
        (the reply is packed inside the error handling: a reply that cannot be packed becomes
        ERROR INTERNAL)."""
        t0 = time.perf_counter_ns() if t0 is None else t0
        self.counters["requests"] += 1
        ref_sample = P.NO_SAMPLE
        try:
            reply = self._reply(frame, t0)
            return self._frame(reply, frame.seq)
        except Exception as e:  # noqa: BLE001 - the node keeps serving whatever happens
            log.exception("request %s seq %d failed", P.type_name(frame.type), frame.seq)
            if frame.type == P.MsgType.INPUT:
                ref_sample = int.from_bytes(frame.payload[:4].ljust(4, b"\xff"), "little")
            return self._frame(P.Error(P.ErrorCode.INTERNAL, frame.type & 0xFF,
                                       f"{type(e).__name__}: {e}"[:200], ref_sample), frame.seq)

    def _reply(self, frame: P.Frame, t0: int) -> P.Message:
        ref_sample = P.NO_SAMPLE
        try:
            msg = P.decode_message(frame)
            if frame.type not in P.REQUESTS:
                raise P.ProtocolError(P.ErrorCode.UNKNOWN_TYPE,
                                      f"{P.type_name(frame.type)} is a node reply, not a request")
            if isinstance(msg, P.Input):
                ref_sample = msg.sample_seq
                reply = self._input(msg, frame, t0)
            else:
                reply = self.handle(msg)
        except (P.ProtocolError, _Refuse, SlotError) as e:
            reply = P.Error(e.code, frame.type, str(e), ref_sample)
        except Exception as e:  # noqa: BLE001 - the node keeps serving whatever happens
            log.exception("request %s seq %d failed", P.type_name(frame.type), frame.seq)
            reply = P.Error(P.ErrorCode.INTERNAL, frame.type, f"{type(e).__name__}: {e}",
                            ref_sample)
        return reply

    def _frame(self, reply: P.Message, seq: int) -> bytes:
        wire = P.encode_message(reply, seq)  # may raise: counted only once it is built
        if isinstance(reply, P.Error):
            self.counters["errors_sent"] += 1
            log.debug("ERROR seq %d: %s", seq, reply)
        self.counters["frames_tx"] += 1
        self.counters["bytes_tx"] += len(wire)
        return wire

    def handle(self, msg: P.Message) -> P.Message:
        """Dispatch one non-INPUT request."""
        if isinstance(msg, P.Hello):
            return self.info()
        if isinstance(msg, P.Ping):
            return P.Pong(msg.data)
        if isinstance(msg, P.StatsRequest):
            stats = self.stats()
            if msg.reset & 1:
                self.reset_stats()
            return stats
        if isinstance(msg, P.SnrFeedback):
            return self._snr(msg)
        if isinstance(msg, P.Config):
            return self._config(msg)
        if isinstance(msg, P.FlashBegin):
            if msg.chunk_size < 1:
                raise _Refuse(P.ErrorCode.RANGE, f"chunk_size 0; use 1..{P.MAX_CHUNK}")
            offset, resumed = self.store.begin(msg.total_size, msg.sha256)
            log.info("flash %s: %s of %d bytes at offset %d", msg.sha256.hex()[:16],
                     "resumed" if resumed else "started", msg.total_size, offset)
            return P.FlashBeginAck(offset, min(msg.chunk_size, P.MAX_CHUNK), int(resumed))
        if isinstance(msg, P.FlashChunk):
            if P.crc32(msg.data) != msg.crc:
                raise _Refuse(P.ErrorCode.FLASH_CRC, f"chunk at offset {msg.offset}: CRC-32 "
                              f"0x{P.crc32(msg.data):08x}, header says 0x{msg.crc:08x}; resend")
            self.counters["flash_chunks"] += 1
            return P.FlashChunkAck(self.store.write_chunk(msg.offset, msg.data))
        if isinstance(msg, P.FlashCommit):
            return self._commit(msg)
        if isinstance(msg, P.FlashAbort):
            self.store.abort()
            return P.FlashAbortAck()
        raise P.ProtocolError(P.ErrorCode.UNKNOWN_TYPE, f"{type(msg).__name__} is not a request")

    # ------------------------------------------------------------------ requests

    def _input(self, msg: P.Input, frame: P.Frame, t0: int) -> P.Message:
        if self.bundle is None:
            raise _Refuse(P.ErrorCode.NO_BUNDLE,
                          f"no active bundle ({self.store.problem}); flash one first")
        size = self.bundle.dims.input_size
        if len(msg.sample) != size:
            raise P.ProtocolError(P.ErrorCode.BAD_LENGTH,
                                  f"sample of {len(msg.sample)} bytes; this bundle takes {size}")
        enc = self._encoder()
        t_rx = time.perf_counter_ns() - t0 + frame.decode_ns
        try:
            out = enc.encode(msg.sample, k=self.k_override or None)
        except (ValueError, RuntimeError) as e:
            raise _Refuse(P.ErrorCode.ENCODE, f"sample {msg.sample_seq}: {e}") from None
        self.counters["samples_encoded"] += 1
        ns = dict(out.timings_ns)
        ns["frame"] = t_rx
        enc.record_stage("frame", t_rx)
        us = tuple(min(int(ns.get(name, 0)) // 1000, 0xFFFFFFFF) for name in P.TIMING_STAGES)
        for name, v in zip(P.TIMING_STAGES, us, strict=True):
            self.timing[name].add(v)
        indices = None
        if self.cfg_flags & P.CFG_INDICES:
            indices = tuple(np.asarray(out.indices).tolist())
        iq = np.asarray(out.iq, dtype=np.int16).reshape(-1)
        # tolist: Python ints in one C call (a per-element int() costs ~100 ns each)
        return P.Symbols(msg.sample_seq, int(out.k), self._frac_bits(enc),
                         int(self.constellation), tuple(np.asarray(out.positions).tolist()),
                         tuple(iq.tolist()), indices, us)

    def _frac_bits(self, enc: Any, constellation: int | None = None) -> int:
        """Q-format fractional bits of a constellation table (``node_model.npz`` meta)."""
        c = CONSTELLATIONS[self.constellation if constellation is None else constellation]
        meta = getattr(enc, "meta", None) or {}
        return int(meta.get(f"const_{c}_frac_bits", 0))

    def _snr(self, msg: P.SnrFeedback) -> P.SnrAck:
        if not P.SNR_MIN_CDB <= msg.snr_cdb <= P.SNR_MAX_CDB:
            raise _Refuse(P.ErrorCode.RANGE, f"SNR {msg.snr_cdb / 100:.2f} dB outside "
                          f"[{P.SNR_MIN_CDB / 100:.0f}, {P.SNR_MAX_CDB / 100:.0f}] dB")
        if self.bundle is None:
            raise _Refuse(P.ErrorCode.NO_BUNDLE, "no active bundle; flash one first")
        n = self.bundle.dims.n_concepts
        if msg.k_override and not 1 <= msg.k_override <= n:
            raise _Refuse(P.ErrorCode.RANGE, f"K override {msg.k_override} outside 1..{n} "
                          "(0 = follow the policy)")
        enc = self._encoder()
        for e in self._encoders.values():
            e.set_snr(msg.snr_cdb)
        self.snr_cdb = msg.snr_cdb
        self.k_override = msg.k_override
        policy_k = int(enc.k)
        return P.SnrAck(msg.snr_cdb, self.k_override or policy_k, policy_k)

    def _config(self, msg: P.Config) -> P.ConfigAck:
        if msg.constellation not in CONSTELLATIONS:
            raise _Refuse(P.ErrorCode.RANGE, f"constellation {msg.constellation}; use 1 "
                          "(semantic) or 2 (standard)")
        if msg.flags & ~P.CFG_INDICES:
            raise _Refuse(P.ErrorCode.RANGE, f"unknown CONFIG flags 0x{msg.flags:02x}")
        if self.bundle is None:
            raise _Refuse(P.ErrorCode.NO_BUNDLE, "no active bundle; flash one first")
        try:
            enc = self._encoder(msg.constellation)
        except _Refuse:
            raise
        except Exception as e:  # noqa: BLE001
            name = CONSTELLATIONS[msg.constellation]
            raise _Refuse(P.ErrorCode.NO_ENCODER,
                          f"cannot load the {name} constellation: {e}") from None
        self.constellation = P.Constellation(msg.constellation)
        self.cfg_flags = msg.flags
        return P.ConfigAck(msg.constellation, msg.flags, self._frac_bits(enc))

    def _commit(self, msg: P.FlashCommit) -> P.FlashCommitAck:
        self._staged_encoder = None
        before = self.bundle
        bundle = self.store.commit(msg.sha256, check=self.load_check)
        if bundle is not before:
            self.counters["flash_commits"] += 1
            log.info("bundle %s committed to slot_%s", bundle.bundle_id, bundle.slot)
            self._adopt_staged()
            if self.k_override > bundle.dims.n_concepts:
                self.k_override = 0
        self._staged_encoder = None
        return P.FlashCommitAck(bundle.slot_number, bytes.fromhex(bundle.bundle_id.ljust(16, "0")),
                                bundle.manifest_sha256)

    # ------------------------------------------------------------------ INFO / STATS

    def info(self) -> P.Info:
        b = self.bundle
        lim = self.store.limits
        enc = self._encoders.get(self.constellation)
        flags = ((P.INFO_ACTIVE if b else 0) | (P.INFO_ENCODER if enc is not None else 0)
                 | (P.INFO_TRUST if self.trust_key else P.INFO_INSECURE)
                 | (P.INFO_TRANSFER if self.store.staged else 0))
        staged = self.store.staged
        k = 0
        if enc is not None:
            k = self.k_override or int(enc.k)
        frac = {c: self._frac_bits(enc, c) if enc is not None else 0 for c in CONSTELLATIONS}
        status = "ready" if enc is not None else self.encoder_problem
        return P.Info(
            flags, b.slot_number if b else 0, int(BACKENDS[self.backend]), int(self.constellation),
            self.boot_id, int((time.monotonic() - self.started) * 1000) & 0xFFFFFFFF,
            b.dims.order if b else 0, b.dims.n_concepts if b else 0,
            b.dims.latent_dim if b else 0, b.dims.input_size if b else 0,
            k, self.snr_cdb if self.snr_cdb is not None else 0,
            frac[P.Constellation.SEMANTIC], frac[P.Constellation.STANDARD], self.cfg_flags,
            P.VERSION, P.MAX_PAYLOAD, lim.max_order, lim.max_concepts, lim.max_latent,
            lim.max_input, P.MAX_CHUNK, min((staged[0] if staged else 0) >> 10, 0xFFFF),
            bytes.fromhex(b.bundle_id.ljust(16, "0")) if b else bytes(8),
            b.manifest_sha256 if b else bytes(32),
            self.node_id, __version__, status[:255])

    def stats(self) -> P.Stats:
        counters = [*self.decoder.counters().items(), *self.counters.items()]
        stages = tuple(self.timing[name].summary(name) for name in P.TIMING_STAGES)
        return P.Stats(tuple(counters), stages)

    def reset_stats(self) -> None:
        self.decoder.reset_counters()
        self.counters = dict.fromkeys(SERVER_COUNTERS, 0)
        self.timing = {name: _Timing() for name in P.TIMING_STAGES}

    # ------------------------------------------------------------------ serial loop

    def serve(self, url: str, baud: int = 115200, stop: Callable[[], bool] = lambda: False,
              write_timeout: float = WRITE_TIMEOUT_S) -> int:
        """Serve ``url`` until ``stop()``; reopen the port if it goes away.

        A reply the host does not take within ``write_timeout`` (it stopped reading) is dropped
        and counted in ``replies_dropped``; the node keeps serving. Returns the exit status:
        0 when stopped, :data:`EXIT_LINK_GONE` when a pty hung up.
        """
        import serial

        first = True
        while not stop():
            try:
                ser = serial.serial_for_url(url, baudrate=baud, timeout=0.05,
                                            write_timeout=write_timeout)
            except (serial.SerialException, OSError, ValueError) as e:
                if first:
                    raise
                log.warning("cannot reopen %s (%s); retrying", url, e)
                time.sleep(0.5)
                continue
            if not first:
                self.counters["port_reopens"] += 1
            first = False
            try:
                ser.reset_input_buffer()
                b = self.bundle
                what = (f"{b.bundle_id} (manifest {b.manifest_sha256.hex()[:16]}, slot_{b.slot})"
                        if b else f"none ({self.store.problem})")
                log.info("%s %s at %d baud, bundle dir %s, backend %s, bundle %s", READY_LINE,
                         url, baud, self.store.root, self.backend, what)
                while not stop():
                    data = ser.read(ser.in_waiting or 1)
                    if data:
                        self._send(ser, self._process_safely(data))
            except (serial.SerialException, OSError) as e:
                if url.startswith("/dev/pts/"):
                    # A pty whose other side hung up never comes back, and its number is soon
                    # reused by an unrelated pty: reopening could hijack someone else's link.
                    log.warning("pty %s hung up (%s); exiting", url, e)
                    return EXIT_LINK_GONE
                log.warning("port %s failed (%s); reopening", url, e)
                time.sleep(0.2)
            finally:
                ser.close()
        return 0

    def _process_safely(self, data: bytes) -> bytes:
        """:meth:`process`, but a bug in it costs the bytes, never the node."""
        try:
            return self.process(data)
        except Exception:  # noqa: BLE001 - the node keeps serving whatever happens
            log.exception("processing %d received bytes failed; dropped", len(data))
            self.decoder = P.FrameDecoder()
            return b""

    def _send(self, ser: Any, reply: bytes) -> None:
        """Write ``reply``; a host that does not read in time loses it (counted), nothing
        else: the node goes on serving and the host's retransmission recovers."""
        import serial

        if not reply:
            return
        try:
            ser.write(reply)
        except serial.SerialTimeoutException:
            self.counters["replies_dropped"] += 1
            log.warning("host took no reply bytes for %.1f s; dropped %d bytes of replies "
                        "(%d so far)", ser.write_timeout or 0, len(reply),
                        self.counters["replies_dropped"])
            with contextlib.suppress(serial.SerialException, OSError):
                ser.reset_output_buffer()


class _Refuse(Exception):
    def __init__(self, code: P.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="semqam-node",
        description="Serve the semqam node link protocol on a serial port.",
        epilog="Example: semqam-node --port /dev/serial0 --bundle-dir /var/lib/semqam "
               "--trust keys/lab.pub")
    p.add_argument("--port", required=True,
                   help="serial device, pty path, or pyserial URL (socket://, loop://)")
    p.add_argument("--bundle-dir", required=True, type=Path,
                   help="node state directory: slot_a/, slot_b/, active, staging/")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--trust", type=Path, default=None,
                       help="Ed25519 public key (.pub): only bundles it signed are accepted")
    trust.add_argument("--insecure-accept-unsigned", action="store_true",
                       help="run without a key: accept unsigned and foreign-key bundles (tests "
                            "and lab benches only; logged at start and reported in INFO)")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="accept a bundle whose bundle_version is older than the active one's")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="c")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--node-id", default=None, help="name reported in INFO (default: hostname)")
    p.add_argument("--install", type=Path, default=None,
                   help="install this local bundle folder at start-up (same checks as a flash)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every ERROR reply")
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``semqam-node``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="semqam-node: %(message)s", stream=sys.stderr, force=True)
    stopping = False

    def on_term(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    if args.trust is None and not args.insecure_accept_unsigned:
        print("semqam-node: error: no --trust KEY.pub: a node accepts only bundles signed by "
              "its key; pass --trust (from `semqam keygen`), or --insecure-accept-unsigned on a "
              "test bench", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_term)
    if args.trust is None:
        log.warning("%s", INSECURE_WARNING)
    try:
        server = NodeServer(args.bundle_dir, trust=args.trust, backend=args.backend,
                            node_id=args.node_id, allow_downgrade=args.allow_downgrade)
        if args.install is not None:
            server.install(args.install)
        return server.serve(args.port, args.baud, stop=lambda: stopping)
    except (BundleError, SlotError, ValueError, OSError) as e:
        print(f"semqam-node: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
