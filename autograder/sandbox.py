"""Limits and the sandbox a worker runs in.

With bubblewrap (``bwrap``) the worker sees a minimal, read-only file system: the Python
installation, the third-party packages, the ``convlab`` package and the four ``autograder``
modules the worker needs, each bound read-only at a neutral path; a private ``/tmp`` and a
``/scratch`` working folder, both size-capped tmpfs mounts and the only writable places; a
minimal ``/dev`` made read-only (its device nodes work, nothing can be stored there, so no
``/dev/shm``); of ``/proc`` only ``/proc/cpuinfo`` on the CPU (so no mount table, no other
process to look at).
Every namespace is unshared (no network, own PIDs, IPC, UTS), the environment is cleared and
capabilities dropped. No host folder is writable inside.

The job reaches the worker on its stdin; the report comes back on a pipe that only the
worker's trusted parent holds (:mod:`autograder.worker`), never through a file. The student's
process, the parent's child, carries a seccomp filter (:mod:`autograder.seccomp`) and, on the
CPU, no threads. Resource limits (:class:`Limits`) apply in both modes. Without bwrap,
``insecure=True`` runs the worker as a plain subprocess with the resource limits, the
parent/child split and the seccomp filter only; the protections in force are listed in every
results file (:attr:`Sandbox.protections`).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import seccomp, wire

#: Where things are bound inside the sandbox.
INSIDE = "/opt/convlab-grader"
SCRATCH = "/scratch"
#: The modules of this package the worker imports (nothing else of the grader is bound).
WORKER_MODULES = ("__init__.py", "seccomp.py", "wire.py", "worker.py")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or unusable and ``--insecure`` was not given."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (one exercise).

    Args:
        wall_s: wall-clock limit of one exercise; ``None`` means the exercise's ``timeout_s``
            plus ``startup_s``. On expiry the exercise's process is killed and it scores 0
            (flag ``timeout``); a cell it was stuck in is charged at once to the later
            exercises that would run it.
        total_s: wall-clock limit of a notebook (all its exercises, one worker); ``None``
            means ``startup_s`` plus the sum of the exercises' limits. On expiry the whole
            sandbox is killed and the exercises not graded yet score 0 (flag ``timeout``).
        startup_s: allowance for the interpreter, imports and the notebook's setup cells.
        memory_mb: address-space limit (``RLIMIT_AS``); not applied on CUDA, whose driver
            reserves far more address space than it uses. ``None``: no limit.
        cpu_s: CPU-time limit (``RLIMIT_CPU``).
        file_size_mb: largest file the worker may write (``RLIMIT_FSIZE``).
        open_files: open file descriptors (``RLIMIT_NOFILE``).
        output_bytes: stdout and stderr bytes kept per stream; the rest is discarded.
        threads: ``OMP_NUM_THREADS`` and friends with CUDA or without the seccomp filter; on
            the CPU with the filter the student's process is single-threaded.
        no_fork: put the seccomp filter on the student's process (x86-64/arm64): no new
            processes or programs, no tracing, no memfd or System V shared memory, and on the
            CPU no threads.
        report_mb: largest total size of the arrays a worker may return.
        tmp_mb: size of the worker's private ``/tmp`` (a tmpfs, held in memory), bubblewrap
            mode.
        scratch_mb: size of the worker's ``/scratch``, its working folder (a tmpfs),
            bubblewrap mode.
    """

    wall_s: float | None = None
    total_s: float | None = None
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
    scratch_mb: int = 256

    def __post_init__(self) -> None:
        for name in ("startup_s", "file_size_mb", "open_files", "output_bytes", "threads",
                     "report_mb", "tmp_mb", "scratch_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)}")
        for name in ("wall_s", "total_s", "memory_mb", "cpu_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Limits.{name} must be positive or None, got {value}")

    def wall_for(self, exercise_timeout_s: float) -> float:
        """One exercise's budget: ``wall_s``, else its own time plus ``startup_s``."""
        return self.wall_s if self.wall_s is not None else exercise_timeout_s + self.startup_s

    def total_for(self, walls: list[float]) -> float:
        """A notebook's total budget: ``total_s``, else the worker's start-up plus the sum of
        its exercises' budgets."""
        return self.total_s if self.total_s is not None else self.startup_s + sum(walls)


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
        self.seccomp = limits.no_fork and seccomp.supported()
        #: On the CPU the student's process gets no threads at all (seccomp); CUDA needs them.
        self.no_threads = self.seccomp and device == "cpu"

    # environment shared by both modes
    def _env(self, pythonpath: list[str]) -> dict[str, str]:
        threads = "1" if self.no_threads else str(self.limits.threads)
        return {"PYTHONPATH": ":".join(pythonpath), "HOME": "/tmp", "MPLBACKEND": "Agg",
                "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads, "CONVLAB_DEVICE": self.device,
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
                "USER": "student", "LOGNAME": "student",
                "PATH": "/usr/bin:/bin",
                # a CUDA check in the worker's parent must not initialise CUDA before the fork
                "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}

    @property
    def protections(self) -> list[str]:
        """The protections in force, each checked by the grader's tests
        (``tests/test_grader_sandbox.py`` probes every name)."""
        lim = self.limits
        out = ["process-per-exercise", "trusted-parent-report", "data-only-results",
               "wall-timeout", f"output-cap={lim.output_bytes}B", "clear-env"]
        if lim.cpu_s:
            out.append(f"rlimit-cpu={lim.cpu_s}s")
        if lim.memory_mb and self.device == "cpu":
            out.append(f"rlimit-as={lim.memory_mb}MiB")
        out += [f"rlimit-fsize={lim.file_size_mb}MiB", f"rlimit-nofile={lim.open_files}"]
        if self.seccomp:
            out += ["seccomp-no-fork", "seccomp-no-exec", "seccomp-no-ptrace",
                    "seccomp-no-memfd", "seccomp-no-sysv-shm", "seccomp-signals-to-self-only",
                    "non-dumpable-parent"]
            if self.no_threads:
                out.append("seccomp-no-threads")
        if self.insecure:
            return ["insecure", *out]
        out += ["bubblewrap", "no-network", "pid-namespace", "uts-namespace",
                "cap-drop-all", "new-session", "ro-root",
                "minimal-filesystem", f"private-tmp={lim.tmp_mb}MiB",
                f"scratch-tmpfs={lim.scratch_mb}MiB"]
        if self.device == "cpu":
            out += ["proc-cpuinfo-only", "read-only-dev"]
        return out

    def _worker_args(self, report_fd: int, wipe: list[str]) -> list[str]:
        args = ["-s", "-B", "-m", "autograder.worker", "--report-fd", str(report_fd)]
        for folder in wipe:
            args += ["--wipe", folder]
        if self.seccomp:
            args.append("--seccomp")
        if self.no_threads:
            args.append("--no-threads")
        return args

    def command(self, workdir: Path, report_fd: int) -> Command:
        """The command that runs the worker; the job goes to its stdin, the report comes back
        on ``report_fd``. ``workdir`` is a private host folder (the insecure mode's working
        folder; in bubblewrap mode it holds only the two account files bound read-only)."""
        if self.insecure:
            argv = [sys.executable, *self._worker_args(report_fd, [str(workdir)])]
            path = [str(_package_dir("autograder").parent), *map(str, self.extra_paths)]
            return Command(argv, self._env(path), (report_fd,), self.protections)
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
                "--hostname", "sandbox", "--cap-drop", "ALL", "--clearenv",
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
        accounts = Path(workdir) / ".accounts"
        accounts.mkdir(exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        (accounts / "passwd").write_text(f"student:x:{uid}:{gid}::/tmp:/bin/false\n")
        (accounts / "group").write_text(f"student:x:{gid}:\n")
        argv += ["--ro-bind", str(accounts / "passwd"), "/etc/passwd",
                 "--ro-bind", str(accounts / "group"), "/etc/group"]
        if self.device == "cuda":  # the CUDA driver reads /proc; mount tables become visible
            argv += ["--proc", "/proc"]
        else:  # of /proc, only what torch's CPU detection reads (no process, no mount table)
            for f in ("/proc/cpuinfo", "/sys/devices/system/cpu"):
                if Path(f).exists():
                    argv += ["--ro-bind", f, f]
        # /dev: null, zero, full, random, urandom, tty and an empty shm folder, made read-only
        # below (device nodes stay usable; nothing can be stored there)
        argv += ["--dev", "/dev",
                 "--size", str(self.limits.tmp_mb << 20), "--tmpfs", "/tmp",
                 "--size", str(self.limits.scratch_mb << 20), "--tmpfs", SCRATCH]
        for src, dst in ro:
            argv += ["--ro-bind", src, dst]
        argv += ["--chdir", SCRATCH]
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
        else:
            argv += ["--remount-ro", "/dev"]
        # the root bwrap builds (and the mount points it made in it) read-only too; /tmp and
        # /scratch are mounts of their own and stay writable
        argv += ["--remount-ro", "/"]
        for k, v in env.items():
            argv += ["--setenv", k, v]
        argv += ["--", str(_python_exe()), *self._worker_args(report_fd, ["/tmp", SCRATCH])]
        return Command(argv, {}, (report_fd,), self.protections)

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

    def run(self, job: bytes, wall_s: float, workdir: Path | None = None) -> Outcome:
        """Run the worker on one packed ``job`` (:func:`wire.pack_job`) for at most ``wall_s``
        seconds of the exercise's own time (plus ``startup_s`` for the worker to start)."""
        return self.run_many([(job, wall_s)], wall_s + self.limits.startup_s, workdir)

    def run_many(self, jobs: list[tuple[bytes, float]], total_s: float,
                 workdir: Path | None = None) -> Outcome:
        """Run one worker on several packed jobs (one notebook's exercises), each with its own
        wall-time budget (enforced by the worker's parent, which kills the exercise's child),
        all of them within ``total_s`` seconds (enforced here: the whole sandbox is killed).
        ``Outcome.reports`` holds the reports received, in the jobs' order; a job whose report
        is missing ran out of the total budget. ``workdir``: a private host folder (a
        temporary one when ``None``)."""
        with contextlib.ExitStack() as stack:
            if workdir is None:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                    prefix="convlab-worker-")))
            return self._run(wire.pack_jobs(jobs), total_s, Path(workdir), len(jobs))

    def _run(self, stdin: bytes, wall_s: float, workdir: Path, count: int) -> Outcome:
        report_r, report_w = os.pipe()
        try:
            cmd = self.command(workdir, report_w)
            start = time.monotonic()
            proc = subprocess.Popen(
                cmd.argv, env=cmd.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=cmd.pass_fds, cwd=str(workdir),
                preexec_fn=self._set_limits)
        except BaseException:
            os.close(report_r)
            raise
        finally:
            os.close(report_w)
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
        streams = [_Capped(proc.stdout, self.limits.output_bytes),
                   _Capped(proc.stderr, self.limits.output_bytes)]
        cap = ((self.limits.report_mb << 20) + wire.MAX_JSON_BYTES + 64) * max(count, 1)
        report = _Capped(os.fdopen(report_r, "rb", buffering=0), cap, keep_overflow=False)
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
        # Everything in the sandbox is dead (bwrap's PID namespace ends with its init; the
        # insecure worker's process group was killed): the pipes reach EOF. A bounded wait
        # all the same, so that nothing here can hang on a descriptor someone kept.
        for s in (*streams, report):
            s.join(timeout=10)
            s.close()
        feeder.join(timeout=1)
        reports = tuple(wire.unframe(bytes(report.kept)))[:count]
        return Outcome(returncode=proc.returncode, timed_out=timed_out,
                       wall_s=time.monotonic() - start, stdout=streams[0].text(),
                       stderr=streams[1].text(), report=reports[0] if reports else b"",
                       report_overflow=report.dropped > 0, reports=reports,
                       report_times=_arrivals(reports, report.marks, start))


def _arrivals(reports: tuple[bytes, ...], marks: list[tuple[int, float]],
              start: float) -> tuple[float, ...]:
    """Seconds from the worker's start until each report had fully arrived (the time of the
    read that completed its frame): the worker's start-up and each exercise's own time."""
    times, end, k = [], 0, 0
    for message in reports:
        end += 8 + len(message)
        while k < len(marks) and marks[k][0] < end:
            k += 1
        if k == len(marks):
            break
        times.append(marks[k][1] - start)
    return tuple(times)


def _feed(stream: Any, data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, OSError, ValueError):  # the worker died or stopped reading
        pass
    finally:
        with contextlib.suppress(OSError, ValueError):
            stream.close()


class _Capped(threading.Thread):
    """Reads a stream to its end, keeping the first ``limit`` bytes (with ``keep_overflow``
    false, an overflow keeps nothing: a truncated report is no report)."""

    def __init__(self, stream: Any, limit: int, keep_overflow: bool = True):
        super().__init__(daemon=True)
        self.stream, self.limit, self.kept, self.dropped = stream, limit, bytearray(), 0
        self.keep_overflow = keep_overflow
        #: (bytes read so far, time.monotonic()) after each read
        self.marks: list[tuple[int, float]] = []
        self.start()

    def run(self) -> None:
        try:
            while chunk := (self.stream.read1(65536) if hasattr(self.stream, "read1")
                            else self.stream.read(65536)):
                room = self.limit - len(self.kept)
                if room < len(chunk) and not self.keep_overflow:
                    self.dropped += len(self.kept) + len(chunk)
                    self.kept = bytearray()
                    self.limit = 0
                    continue
                self.kept += chunk[:max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)
                self.marks.append((len(self.kept) + self.dropped, time.monotonic()))
        except (OSError, ValueError):  # closed under us after a bounded wait
            pass

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.close()

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
    report: bytes = b""  # the first job's report
    report_overflow: bool = False
    reports: tuple[bytes, ...] = ()
    #: seconds from the worker's start until each report had arrived (for timing)
    report_times: tuple[float, ...] = ()
