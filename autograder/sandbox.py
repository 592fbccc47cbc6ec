"""Limits and the sandbox a worker runs in.

With bubblewrap (``bwrap``) the worker sees a minimal, read-only file system: the Python
installation, the third-party packages, the ``convlab`` package and the three ``autograder``
modules the worker needs, each bound read-only at a neutral path; a private ``/tmp``; minimal
``/proc`` and ``/dev``; its scratch folder as the only writable place. Every namespace is
unshared (no network, own PIDs, IPC, UTS), the environment is cleared, capabilities dropped,
and a seccomp filter refuses new processes (threads stay allowed). Resource limits
(:class:`Limits`) apply in both modes. Without bwrap, ``insecure=True`` runs the worker as a
plain subprocess with the resource limits only; the protections that were active are listed in
every results file (:attr:`Sandbox.protections`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: Where things are bound inside the sandbox.
INSIDE = "/opt/convlab-grader"
SCRATCH = "/scratch"
#: The modules of this package the worker imports (nothing else of the grader is bound).
WORKER_MODULES = ("__init__.py", "wire.py", "worker.py")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or unusable and ``--insecure`` was not given."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (one exercise).

    Args:
        wall_s: wall-clock limit of a worker; ``None`` means the exercise's ``timeout_s`` plus
            ``startup_s``. On expiry the whole sandbox is killed and the exercise scores 0
            (flag ``timeout``).
        startup_s: allowance for the interpreter, imports and the notebook's setup cells.
        memory_mb: address-space limit (``RLIMIT_AS``); not applied on CUDA, whose driver
            reserves far more address space than it uses. ``None``: no limit.
        cpu_s: CPU-time limit (``RLIMIT_CPU``).
        file_size_mb: largest file the worker may write (``RLIMIT_FSIZE``).
        open_files: open file descriptors (``RLIMIT_NOFILE``).
        output_bytes: stdout and stderr bytes kept per stream; the rest is discarded.
        threads: ``OMP_NUM_THREADS`` and friends.
        no_fork: refuse new processes with a seccomp filter (bubblewrap mode, x86-64/arm64).
        report_mb: largest total size of the arrays a worker may return.
        tmp_mb: size of the worker's private ``/tmp`` (a tmpfs, held in memory), bubblewrap
            mode.
    """

    wall_s: float | None = None
    startup_s: float = 60.0
    memory_mb: int | None = 4096
    cpu_s: int | None = 900
    file_size_mb: int = 256
    open_files: int = 256
    output_bytes: int = 64 * 1024
    threads: int = 2
    no_fork: bool = True
    report_mb: int = 512
    tmp_mb: int = 128

    def __post_init__(self) -> None:
        for name in ("startup_s", "file_size_mb", "open_files", "output_bytes", "threads",
                     "report_mb", "tmp_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)}")
        for name in ("wall_s", "memory_mb", "cpu_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Limits.{name} must be positive or None, got {value}")

    def wall_for(self, exercise_timeout_s: float) -> float:
        return self.wall_s if self.wall_s is not None else exercise_timeout_s + self.startup_s


# -- seccomp: no new processes ---------------------------------------------------------------
_BPF_LD_W_ABS, _BPF_JEQ, _BPF_JGE, _BPF_JSET, _BPF_RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000
_RET_EPERM, _RET_ENOSYS = 0x00050000 | 1, 0x00050000 | 38
_CLONE_THREAD = 0x00010000
#: arch → (AUDIT_ARCH value, clone, clone3, syscalls refused outright)
_ARCH = {
    "x86_64": (0xC000003E, 56, 435, (57, 58)),  # fork, vfork
    "aarch64": (0xC00000B7, 220, 435, ()),
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def no_fork_filter() -> bytes | None:
    """A classic-BPF seccomp program: ``fork``/``vfork`` fail with EPERM, ``clone`` without
    ``CLONE_THREAD`` fails with EPERM, ``clone3`` with ENOSYS (so libc falls back to
    ``clone``); other architectures' syscalls kill the process. ``None`` on an unknown arch."""
    arch = _ARCH.get(platform.machine())
    if arch is None:
        return None
    audit, clone, clone3, refused = arch
    prog = [_insn(_BPF_LD_W_ABS, 0, 0, 4),                 # A = arch
            _insn(_BPF_JEQ, 1, 0, audit),
            _insn(_BPF_RET, 0, 0, _RET_KILL),
            _insn(_BPF_LD_W_ABS, 0, 0, 0)]                 # A = syscall number
    if platform.machine() == "x86_64":
        prog += [_insn(_BPF_JGE, 0, 1, 0x40000000),        # the x32 ABI: refuse
                 _insn(_BPF_RET, 0, 0, _RET_KILL)]
    for nr in refused:
        prog += [_insn(_BPF_JEQ, 0, 1, nr), _insn(_BPF_RET, 0, 0, _RET_EPERM)]
    prog += [_insn(_BPF_JEQ, 0, 1, clone3), _insn(_BPF_RET, 0, 0, _RET_ENOSYS),
             _insn(_BPF_JEQ, 0, 3, clone),
             _insn(_BPF_LD_W_ABS, 0, 0, 16),               # A = low word of clone's flags
             _insn(_BPF_JSET, 1, 0, _CLONE_THREAD),
             _insn(_BPF_RET, 0, 0, _RET_EPERM),
             _insn(_BPF_RET, 0, 0, _RET_ALLOW)]
    return b"".join(prog)


# -- the command line ------------------------------------------------------------------------
def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_exe() -> Path:
    exe = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return exe if exe.exists() else Path(sys.executable).resolve()


def _package_dir(name: str) -> Path:
    """The folder of package ``convlab`` or ``autograder`` (found through a module file, so a
    namespace package of the same name elsewhere on ``sys.path`` cannot stand in for it)."""
    if name == "autograder":
        return Path(__file__).resolve().parent
    from convlab.exercises import spec

    return Path(spec.__file__).resolve().parents[1]


def _cuda_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir()) + (
        ["/dev/nvidia-caps"] if Path("/dev/nvidia-caps").is_dir() else [])


def _cuda_library_dirs() -> list[str]:
    """Folders outside ``/usr`` holding the CUDA driver's libraries: those this process has
    loaded (``/proc/self/maps`` once CUDA is initialised) and those on ``LD_LIBRARY_PATH``."""
    found: set[str] = set()
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        maps = []
    for line in maps:
        path = line.split()[-1] if line.split() else ""
        if path.startswith("/") and ("libcuda" in path or "libnvidia" in path):
            found.add(str(Path(path).parent))
    for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        if d and Path(d).is_dir():
            found.add(str(Path(d).resolve()))
    return sorted(d for d in found if not d.startswith(("/usr/", "/lib")))


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    protections: list[str]


class Sandbox:
    """Builds worker command lines and runs them under :class:`Limits`.

    ``extra_paths``: folders holding exercise modules outside ``convlab`` (bound read-only and
    put on ``PYTHONPATH``; used by test chapters).
    """

    def __init__(self, limits: Limits, *, insecure: bool = False, device: str = "cpu",
                 extra_paths: tuple[Path, ...] = ()):
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        self.limits = limits
        self.insecure = insecure
        self.device = device
        self.extra_paths = tuple(Path(p).resolve() for p in extra_paths)
        self.bwrap = None if insecure else bwrap_path()
        if not insecure and self.bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed; install it (apt-get install bubblewrap) "
                "or pass --insecure to grade without a sandbox")
        self._seccomp = no_fork_filter() if (limits.no_fork and not insecure) else None

    # environment shared by both modes
    def _env(self, pythonpath: list[str]) -> dict[str, str]:
        threads = str(self.limits.threads)
        return {"PYTHONPATH": ":".join(pythonpath), "HOME": "/tmp", "MPLBACKEND": "Agg",
                "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads, "CONVLAB_DEVICE": self.device,
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
                "USER": "student", "LOGNAME": "student",
                "PATH": "/usr/bin:/bin"}

    @property
    def protections(self) -> list[str]:
        lim = self.limits
        rl = [f"rlimit-cpu={lim.cpu_s}s" if lim.cpu_s else None,
              f"rlimit-as={lim.memory_mb}MiB" if lim.memory_mb and self.device == "cpu" else None,
              f"rlimit-fsize={lim.file_size_mb}MiB", f"rlimit-nofile={lim.open_files}",
              "wall-timeout", f"output-cap={lim.output_bytes}B", "clear-env",
              "process-per-exercise", "data-only-results"]
        rl = [r for r in rl if r]
        if self.insecure:
            return ["insecure", "process-group-kill", *rl]
        extra = ["seccomp-no-fork"] if self._seccomp else []
        return ["bubblewrap", "no-network", "pid-namespace", "ipc-namespace", "uts-namespace",
                "private-tmp", "ro-root", "minimal-filesystem", "scratch-only-writable",
                "cap-drop-all", "die-with-parent", "new-session", *extra, *rl]

    def command(self, scratch: Path) -> Command:
        """The command that runs the worker on ``scratch`` (``scratch/in`` holds the job)."""
        if self.insecure:
            argv = [sys.executable, "-s", "-B", "-m", "autograder.worker", str(scratch)]
            path = [str(_package_dir("autograder").parent), *map(str, self.extra_paths)]
            return Command(argv, self._env(path), (), self.protections)
        ro: list[tuple[str, str]] = []
        prefix = str(Path(sys.base_prefix).resolve())
        ro.append((prefix, prefix))
        site = f"{INSIDE}/site-packages"
        ro.append((str(Path(sysconfig.get_paths()["purelib"]).resolve()), site))
        platlib = str(Path(sysconfig.get_paths()["platlib"]).resolve())
        pythonpath = [f"{INSIDE}/lib", site]
        if platlib != ro[-1][0]:
            ro.append((platlib, f"{INSIDE}/platlib"))
            pythonpath.append(f"{INSIDE}/platlib")
        ro.append((str(_package_dir("convlab")), f"{INSIDE}/lib/convlab"))
        grader = _package_dir("autograder")
        for name in WORKER_MODULES:
            ro.append((str(grader / name), f"{INSIDE}/lib/autograder/{name}"))
        for i, p in enumerate(self.extra_paths):
            ro.append((str(p), f"{INSIDE}/extra{i}"))
            pythonpath.append(f"{INSIDE}/extra{i}")
        argv = [self.bwrap or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--clearenv",
                "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                argv += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                argv += ["--ro-bind", str(target), f"/{link}"]
        for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
            if Path(f).exists():
                argv += ["--ro-bind", f, f]
        # Libraries that ask who the user is (getpass, torch's compile caches) find one name.
        accounts = Path(scratch) / ".accounts"
        accounts.mkdir(exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        (accounts / "passwd").write_text(f"student:x:{uid}:{gid}::/tmp:/bin/false\n")
        (accounts / "group").write_text(f"student:x:{gid}:\n")
        argv += ["--ro-bind", str(accounts / "passwd"), "/etc/passwd",
                 "--ro-bind", str(accounts / "group"), "/etc/group"]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(self.limits.tmp_mb << 20), "--tmpfs", "/tmp"]
        for src, dst in ro:
            argv += ["--ro-bind", src, dst]
        argv += ["--bind", str(scratch), SCRATCH, "--chdir", SCRATCH]
        env = self._env(pythonpath)
        if self.device == "cuda":
            for dev in _cuda_devices():
                argv += ["--dev-bind", dev, dev]
            argv += ["--ro-bind", "/sys", "/sys"]
            libs = _cuda_library_dirs()
            for d in libs:
                argv += ["--ro-bind", d, d]
            if libs:
                env["LD_LIBRARY_PATH"] = ":".join(libs)
        # the root bwrap builds (and the mount points it made in it) read-only too; /tmp and
        # /scratch are mounts of their own and stay writable
        argv += ["--remount-ro", "/"]
        for k, v in env.items():
            argv += ["--setenv", k, v]
        fds: tuple[int, ...] = ()
        if self._seccomp is not None:
            fds = (self._seccomp_fd(),)
            argv += ["--seccomp", str(fds[0])]
        argv += ["--", str(_python_exe()), "-s", "-B", "-m", "autograder.worker", SCRATCH]
        return Command(argv, {}, fds, self.protections)

    def _seccomp_fd(self) -> int:
        assert self._seccomp is not None
        f = tempfile.TemporaryFile()
        f.write(self._seccomp)
        f.flush()
        f.seek(0)
        fd = os.dup(f.fileno())
        f.close()
        return fd

    # -- running ---------------------------------------------------------------------------
    def _set_limits(self) -> None:  # runs in the child between fork and exec
        lim = self.limits
        os.setsid()
        if lim.cpu_s:
            resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_s, lim.cpu_s))
        if lim.memory_mb and self.device == "cpu":
            size = lim.memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        size = lim.file_size_mb << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (lim.open_files, lim.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def run(self, scratch: Path, wall_s: float) -> Outcome:
        """Run the worker on ``scratch`` for at most ``wall_s`` seconds."""
        cmd = self.command(scratch)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd.argv, env=cmd.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=cmd.pass_fds, cwd=str(scratch),
                preexec_fn=self._set_limits)
        finally:
            for fd in cmd.pass_fds:
                os.close(fd)
        streams = [_Capped(proc.stdout, self.limits.output_bytes),
                   _Capped(proc.stderr, self.limits.output_bytes)]
        timed_out = False
        try:
            proc.wait(timeout=wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # The worker is done or out of time: nothing of it may outlive this call.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for s in streams:
            s.join()
        return Outcome(returncode=proc.returncode, timed_out=timed_out,
                       wall_s=time.monotonic() - start, stdout=streams[0].text(),
                       stderr=streams[1].text())


class _Capped(threading.Thread):
    """Reads a stream to its end, keeping the first ``limit`` bytes."""

    def __init__(self, stream: object, limit: int):
        super().__init__(daemon=True)
        self.stream, self.limit, self.kept, self.dropped = stream, limit, bytearray(), 0
        self.start()

    def run(self) -> None:
        while chunk := self.stream.read1(65536):  # type: ignore[attr-defined]
            room = self.limit - len(self.kept)
            self.kept += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)
        self.stream.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        return text + (f"\n[... {self.dropped} more bytes dropped]" if self.dropped else "")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    timed_out: bool
    wall_s: float
    stdout: str
    stderr: str
