"""The command line as a user meets it: every subcommand fails on a bad input, a bad output
folder and a garbage option value with ONE line on stderr and exit status 2, before any long
work; ``SEMQAM_DEBUG=1`` shows the traceback.

The matrix is built from the app itself (the commands, their options and the options' types),
so a new command or option is covered without editing this file.
"""

from __future__ import annotations

import ast
import errno
import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[1]
GROUP = get_command(app)
COMMANDS = dict(GROUP.commands)

# Parameter names (the Python names of the command functions) by role.
INPUTS = ("run", "bundle", "path", "data", "install", "trust", "key")  # read; first = main one
OUTPUTS = ("out", "bundle_dir", "runs_dir")  # written (folders, or a path stem for keygen)

# Garbage that only a check of the value can refuse (a type error is generated for every
# int/float option below).
SEMANTIC_GARBAGE: dict[str, list[list[str]]] = {
    "train": [["--order", "3"], ["--profile", "x"]],
    "evaluate": [["--snr", "abc"]],
    "sweep": [["--snr", "abc"], ["--orders", "x"]],
    "hil": [["--snr", "abc"], ["--baud", "0"], ["--timeout", "0"], ["--constellation", "x"]],
    "flash": [["--baud", "0"], ["--chunk-size", "5000"], ["--timeout", "-1"]],
    "node": [["--baud", "0"], ["--backend", "x"]],
    "profile": [["--k", "-5"], ["--baud", "0"], ["--windows", "0"]],
    "bench-node": [["--k", "-5"], ["--repeats", "0"]],
    "bench-channel": [["--symbols", "0"], ["--repeats", "0"]],
    "export": [["--calibration", "0"]],
}


def _hints(name: str) -> dict[str, object]:
    return typing.get_type_hints(COMMANDS[name].callback, include_extras=False)


def _base_type(hint: object) -> object:
    """``Path | None`` -> ``Path``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _params(name: str) -> dict[str, tuple[object, str | None, bool]]:
    """Python name -> (type, flag or None for an argument, required)."""
    hints = _hints(name)
    out = {}
    for p in COMMANDS[name].params:
        if p.name not in hints:
            continue
        flag = p.opts[0] if p.param_type_name == "option" else None
        out[p.name] = (_base_type(hints[p.name]), flag, bool(p.required))
    return out


def _put(args: list[str], flag: str | None, value: str) -> None:
    args += [value] if flag is None else [flag, value]


def _base_args(name: str, tmp: Path, *, skip: set[str] = frozenset()) -> list[str]:
    """Values for the required parameters: inputs that do not exist, writable outputs, dummy
    strings (a port that cannot open)."""
    args: list[str] = []
    for pname, (typ, flag, required) in _params(name).items():
        if not required or pname in skip:
            continue
        if pname in OUTPUTS:
            _put(args, flag, str(tmp / "fresh" / pname))
        elif typ is Path:
            _put(args, flag, str(tmp / "missing" / pname))
        elif typ in (int, float):
            _put(args, flag, "1")
        else:
            _put(args, flag, str(tmp / "missing" / f"{pname}-device"))
    return args


def _cases() -> list[tuple[str, str, str]]:
    """(command, kind, detail) for the whole matrix."""
    cases = []
    for name in COMMANDS:
        params = _params(name)
        if any(p in params and params[p][0] is Path for p in INPUTS):
            cases.append((name, "missing-input", ""))
        for pname in OUTPUTS:
            if pname in params:
                cases.append((name, "readonly-output", pname))
                cases.append((name, "output-under-file", pname))
                cases.append((name, "full-disk", pname))
        garbage = [(flag, "abc") for typ, flag, _ in params.values()
                   if flag is not None and typ in (int, float)]
        garbage += [tuple(g) for g in SEMANTIC_GARBAGE.get(name, [])]
        if not garbage:  # no value to garble: an option that does not exist
            garbage = [("--no-such-option", "x")]
        cases += [(name, "garbage", f"{flag}={value}") for flag, value in garbage]
    return cases


CASES = _cases()


def _invoke(args: list[str], **kw):
    return CliRunner().invoke(app, args, **kw)


def _assert_one_line_error(res, *mentions: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr, res.exception)
    assert "Traceback" not in res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    if mentions:
        assert any(m in lines[0] for m in mentions), (mentions, lines[0])
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Relative defaults (``--runs-dir runs``) land in the test's folder; no debug variable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMQAM_DEBUG", raising=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "kind", "detail"), CASES,
                         ids=[f"{n}-{k}-{d}".rstrip("-") for n, k, d in CASES])
def test_every_command_fails_in_one_line(name, kind, detail, tmp_path, monkeypatch):
    params = _params(name)
    if kind == "missing-input":
        args = _base_args(name, tmp_path)
        missing = [str(tmp_path / "missing" / p) for p in params if p in INPUTS]
        if not any(p in INPUTS and params[p][2] for p in params):  # only optional inputs
            first = next(p for p in INPUTS if p in params and params[p][0] is Path)
            _put(args, params[first][1], str(tmp_path / "missing" / first))
        _assert_one_line_error(_invoke([name, *args]), *missing)
        assert not (tmp_path / "fresh").exists()  # no output begun
    elif kind in ("readonly-output", "output-under-file"):
        if kind == "readonly-output":
            parent = _read_only_folder(tmp_path / "readonly")
        else:
            parent = tmp_path / "a-file"
            parent.write_text("not a folder")
        try:
            args = _base_args(name, tmp_path, skip={detail})
            _put(args, params[detail][1], str(parent / "out"))
            _assert_one_line_error(_invoke([name, *args]), str(parent))
        finally:
            if parent.is_dir() and not os.path.ismount(parent):
                parent.chmod(0o755)
        assert not (parent / "out").exists()
    elif kind == "full-disk":
        parent = _full_folder(tmp_path / "full", monkeypatch)
        earlier = parent / "earlier"
        args = _base_args(name, tmp_path, skip={detail})
        _put(args, params[detail][1], str(earlier / "new"))
        _assert_one_line_error(_invoke([name, *args]), str(parent))
        assert sorted(p.name for p in earlier.iterdir()) == ["result.json"]  # no partial output
        assert (earlier / "result.json").read_text() == EARLIER  # earlier output intact
    else:
        flag, value = detail.split("=", 1)
        args = [name, *_base_args(name, tmp_path), flag, value]
        _assert_one_line_error(_invoke(args), flag, value)


def _read_only_folder(path: Path) -> Path:
    """A folder nobody can write to: mode 0o555, or for root (who ignores modes) a read-only
    tmpfs mounted there and unmounted at the end of the test session."""
    path.mkdir()
    path.chmod(0o555)
    if not os.access(path, os.W_OK):
        return path
    path.chmod(0o755)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"root cannot make a read-only folder (mount: {mounted.stderr.strip()}); "
                    "run the tests as a normal user")
    _MOUNTS.append(path)
    assert not os.access(path, os.W_OK) or _is_read_only(path)
    return path


EARLIER = '{"earlier": "output"}\n'


def _full_folder(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on a full file system holding an earlier output ``earlier/result.json``: a
    64 KiB tmpfs filled to the last block (root), else a folder whose file system reports no
    free space (``os.statvfs`` patched: a simulated ENOSPC)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=64", "tmpfs",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode == 0:
        _MOUNTS.append(path)
    (path / "earlier").mkdir()
    (path / "earlier" / "result.json").write_text(EARLIER)
    if mounted.returncode == 0:
        try:
            with open(path / "filler", "wb") as f:
                while True:
                    f.write(bytes(4096))
                    f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        assert os.statvfs(path).f_bavail == 0
    else:
        real = os.statvfs

        def statvfs(p):
            st = real(p)
            if Path(p).resolve().is_relative_to(path.resolve()):
                return os.statvfs_result((*st[:4], 0, *st[5:]))  # f_bavail = 0
            return st

        monkeypatch.setattr("os.statvfs", statvfs)
    return path


def _is_read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


_MOUNTS: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _unmount_read_only_folders():
    yield
    for path in _MOUNTS:
        subprocess.run(["umount", str(path)], check=False)


def test_the_matrix_covers_every_command():
    covered = {name for name, _, _ in CASES}
    assert covered == set(COMMANDS)
    assert {"train", "evaluate", "sweep", "report", "export", "keygen", "flash", "node", "hil",
            "profile", "bench-node", "bench-channel"} <= set(COMMANDS)
    for name in COMMANDS:  # a path is read or written by all but the channel benchmark
        kinds = {k for n, k, _ in CASES if n == name}
        if name != "bench-channel":
            assert kinds & {"missing-input", "output-under-file"}, name


# -------------------------------------------------------------------------- the formatter
def _bench_channel_raising(monkeypatch, exc: BaseException) -> None:
    import channel_sim.bench

    def boom(*_a, **_k):
        raise exc

    monkeypatch.setattr(channel_sim.bench, "run_channel_benchmark", boom)


def _node_errors() -> list[BaseException]:
    try:
        from semqam_node.bundle import BundleError
        from semqam_node.host import LinkError
    except ImportError:
        return []
    return [LinkError("no reply from /dev/ttyUSB0 in 1.0 s"), BundleError("bad signature")]


@pytest.mark.parametrize("exc, says", [
    (ValueError("bad value\nsecond line"), "bad value second line"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/in.csv"),
     "/x/in.csv: no such file or folder"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/out"), "/x/out: permission denied"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/out/m.json"),
     "/x/out/m.json: no space left on the device"),
    (OSError(errno.EROFS, "Read-only file system", "/x"), "/x: read-only file system"),
    (MemoryError(), "out of memory"),
    *[(e, str(e)) for e in _node_errors()],
])
def test_user_errors_are_one_line(monkeypatch, exc, says):
    _bench_channel_raising(monkeypatch, exc)
    line = _assert_one_line_error(_invoke(["bench-channel"]))
    assert says in line


def test_semqam_error_is_one_line(monkeypatch):
    from semqam.errors import SemqamError

    _bench_channel_raising(monkeypatch, SemqamError("run runs/x: incomplete; retrain it"))
    assert _assert_one_line_error(_invoke(["bench-channel"])) == \
        "error: run runs/x: incomplete; retrain it"


def test_interrupt(monkeypatch):
    _bench_channel_raising(monkeypatch, KeyboardInterrupt())
    res = _invoke(["bench-channel"])
    assert res.exit_code == 130 and res.stderr.strip() == "interrupted"


def test_a_bug_keeps_its_traceback(monkeypatch):
    _bench_channel_raising(monkeypatch, RuntimeError("bug"))
    res = _invoke(["bench-channel"])
    assert isinstance(res.exception, RuntimeError)


def test_debug_reraises(monkeypatch, tmp_path):
    from semqam.errors import SemqamError

    (tmp_path / "f").write_text("")
    res = _invoke(["keygen", "--out", str(tmp_path / "f" / "k")], env={"SEMQAM_DEBUG": "1"})
    assert isinstance(res.exception, SemqamError)
    res = _invoke(["keygen", "--out", str(tmp_path / "f" / "k")])
    _assert_one_line_error(res, str(tmp_path / "f"))


def test_usage_errors_name_the_help():
    line = _assert_one_line_error(_invoke(["hil", "--bundle", "b"]), "--out")
    assert "`semqam hil --help`" in line
    line = _assert_one_line_error(_invoke(["trian"]), "trian")
    assert "Did you mean 'train'" in line
    assert _invoke([]).exit_code in (0, 2)  # bare `semqam`: the help, as click shows it


def test_console_entry_point(tmp_path):
    """Through ``main()`` (a real process): one line, and the traceback with SEMQAM_DEBUG=1."""
    (tmp_path / "f").write_text("")
    cmd = [sys.executable, "-m", "cli.main", "keygen", "--out", str(tmp_path / "f" / "k")]
    env = {k: v for k, v in os.environ.items() if k != "SEMQAM_DEBUG"}
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().startswith("error: ") and p.stderr.strip().count("\n") == 0
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**env, "SEMQAM_DEBUG": "1"})
    assert p.returncode != 0 and "Traceback" in p.stderr and "SemqamError" in p.stderr


# --------------------------------------------------------------------------- the structure
def test_main_only_wires():
    for name, cmd in COMMANDS.items():
        module = cmd.callback.__module__
        assert module.startswith("cli.") and module != "cli.main", (name, module)
    tree = ast.parse((ROOT / "cli" / "main.py").read_text())
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert set(defs) <= {"_root", "main"}, defs


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_import_cycles_and_layering():
    for path in (ROOT / "cli").glob("*.py"):
        if path.name != "main.py":
            assert "cli.main" not in _imports(path), path
    skip = {"cli", "tests", "hil_tests", ".venv", "build", "docs"}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in skip or rel.parts[0].startswith(".") or "build" in rel.parts:
            continue
        bad = {m for m in _imports(path) if m == "cli" or m.startswith("cli.")}
        assert not bad, (rel, bad)


# Options that mean something else to one command, so are declared there.
LOCAL_OPTIONS = {("evaluate", "dataset"), ("evaluate", "data"), ("evaluate", "bundle"),
                 ("node", "backend"), ("hil", "seed"), ("hil", "run")}


def test_shared_options_are_declared_once():
    """A shared option is an alias from cli/options.py in every command that takes it."""
    import inspect

    import cli.options

    shared = {"port", "baud", "bundle", "run", "out", "trust", "snr", "seed", "data",
              "dataset", "timeout", "pace", "backend", "profile", "test_speakers"}
    for name, cmd in COMMANDS.items():
        for pname, ann in inspect.get_annotations(cmd.callback).items():
            if pname not in shared or (name, pname) in LOCAL_OPTIONS or pname == "return":
                continue
            alias = ann if isinstance(ann, str) else ""
            module = sys.modules[cmd.callback.__module__]
            assert alias.isidentifier() and (hasattr(cli.options, alias) or alias.endswith(
                "Out") and getattr(module, alias, None) is not None), (name, pname, ann)
    for name in ("flash", "node", "hil", "profile"):
        assert _params(name)["baud"] == (int, "--baud", False)


def test_every_command_has_an_example():
    for name, cmd in COMMANDS.items():
        assert "semqam " + name in (cmd.callback.__doc__ or ""), name
        res = _invoke([name, "--help"])
        assert res.exit_code == 0 and "Example" in res.stdout, (name, res.stderr)


# --------------------------------------------------------------------------- keygen
def test_keygen_writes_exactly_stem_key_and_pub(tmp_path, monkeypatch):
    """``--out d/lab.v2`` -> d/lab.v2.key + d/lab.v2.pub; an existing d/lab.key is untouched;
    the private key is mode 0600 from the moment its file exists."""
    import semqam.fileio

    d = tmp_path / "d"
    d.mkdir()
    (d / "lab.key").write_text("old key")
    modes: list[int] = []
    real_mkstemp, real_replace = semqam.fileio.tempfile.mkstemp, semqam.fileio.os.replace

    def mkstemp(*a, **k):
        fd, name = real_mkstemp(*a, **k)
        modes.append(os.stat(name).st_mode & 0o777)
        return fd, name

    def replace(src, dst, *a, **k):
        if str(dst).endswith(".key"):
            modes.append(os.stat(src).st_mode & 0o777)
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(semqam.fileio.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(semqam.fileio.os, "replace", replace)
    monkeypatch.setattr(os, "umask", os.umask)  # restored below whatever happens
    old_umask = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        res = _invoke(["keygen", "--out", str(d / "lab.v2")])
    finally:
        os.umask(old_umask)
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in d.iterdir()) == ["lab.key", "lab.v2.key", "lab.v2.pub"]
    assert (d / "lab.key").read_text() == "old key"
    assert (d / "lab.v2.key").stat().st_mode & 0o777 == 0o600
    assert modes[0] == 0o600 and modes[1] == 0o600, modes  # at creation and at the rename
    assert b"PRIVATE KEY" in (d / "lab.v2.key").read_bytes()
    assert b"PUBLIC KEY" in (d / "lab.v2.pub").read_bytes()


def test_keygen_refuses_to_overwrite_without_force(tmp_path):
    stem = tmp_path / "lab"
    assert _invoke(["keygen", "--out", str(stem)]).exit_code == 0
    before = {p: p.read_bytes() for p in (tmp_path / "lab.key", tmp_path / "lab.pub")}
    (tmp_path / "lab.key").unlink()  # only the .pub left: still refused
    _assert_one_line_error(_invoke(["keygen", "--out", str(stem)]), "lab.pub", "--force")
    assert not (tmp_path / "lab.key").exists()
    assert _invoke(["keygen", "--out", str(stem), "--force"]).exit_code == 0
    assert (tmp_path / "lab.pub").read_bytes() != before[tmp_path / "lab.pub"]


def test_keygen_refuses_a_folder_as_stem(tmp_path):
    (tmp_path / "keys").mkdir()
    for out in (str(tmp_path / "keys"), str(tmp_path / "keys") + "/",
                str(tmp_path / "new") + "/"):
        _assert_one_line_error(_invoke(["keygen", "--out", out]), "path stem")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]
    assert not any((tmp_path / "keys").iterdir())


def test_enospc_while_writing_is_one_line_and_keeps_the_earlier_output(tmp_path, monkeypatch):
    """A disk that fills up during the write (simulated ENOSPC at fsync): one line naming the
    file, no temporary file left, the earlier key pair intact."""
    import semqam.fileio

    stem = tmp_path / "lab"
    assert _invoke(["keygen", "--out", str(stem)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(semqam.fileio.os, "fsync", full)
    line = _assert_one_line_error(_invoke(["keygen", "--out", str(stem), "--force"]),
                                  str(tmp_path / "lab.key"))
    assert "no space left" in line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --------------------------------------------------------------------------- nodes, signals
def test_node_without_trust_refuses_to_start(tmp_path):
    line = _assert_one_line_error(_invoke(["node", "--port", str(tmp_path / "tty"),
                                           "--bundle-dir", str(tmp_path / "state")]),
                                  "--insecure-accept-unsigned")
    assert "--trust" in line


SIGTERM_APP = """
import sys, time
from pathlib import Path
import typer
from cli.errors import SemqamGroup, run
from semqam.fileio import atomic_dir

app = typer.Typer(cls=SemqamGroup)

@app.command()
def slow(out: Path) -> None:
    with atomic_dir(out) as tmp:
        (tmp / "partial.json").write_text("{}")
        print("ready", flush=True)
        time.sleep(60)

@app.command()
def other() -> None:
    pass

run(app)
"""


def test_sigterm_removes_partial_outputs_like_ctrl_c(tmp_path):
    import signal

    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", SIGTERM_APP, "slow", str(out)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert any(x.name.startswith(".out.new-") for x in tmp_path.iterdir())
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert err.strip() == "terminated"
    assert list(tmp_path.iterdir()) == []  # neither OUT nor OUT.new-* is left


def test_a_missing_node_runtime_is_one_line():
    """`semqam` on an install without ./device_runtime: one line that says how to fix it."""
    import subprocess
    import sys

    code = ("import sys, runpy; sys.modules['semqam_node'] = None; "
            "runpy.run_module('cli.main', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: the node runtime semqam_node is not installed; run `make venv` or "
        "`pip install ./device_runtime`"]
