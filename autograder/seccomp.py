"""The seccomp filter the worker puts on the student's process before any student code runs.

A classic-BPF program, installed with ``prctl(PR_SET_SECCOMP)`` (and ``PR_SET_NO_NEW_PRIVS``)
from the worker's trusted parent code right after ``fork``; a filter cannot be removed, and
it is inherited by anything the process could start. It refuses, with ``EPERM``:

* new processes (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``; ``clone3`` fails
  with ``ENOSYS`` so that libc falls back to ``clone``) and new programs (``execve``,
  ``execveat``);
* with ``no_threads``: new threads too (``clone`` with ``CLONE_THREAD``);
* reaching into other processes: ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``,
  ``pidfd_open``, ``pidfd_getfd``;
* memory that ``RLIMIT_AS`` does not count: ``memfd_create``, ``memfd_secret``, System V
  shared memory (``shmget``, ``shmat``);
* ``io_uring`` (it performs file operations outside the filter's sight) and ``userfaultfd``;
* signals to any process but itself (``kill``, ``tkill``, ``tgkill``, ``rt_sigqueueinfo``,
  ``rt_tgsigqueueinfo`` with another target), so the worker's parent, which grades the other
  exercises, cannot be stopped by one of them.

Syscalls of another architecture (the x32 ABI on x86-64 included) kill the process.

Imports: the standard library only (it runs inside the sandbox).
"""

from __future__ import annotations

import ctypes
import platform
import struct

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_EPERM, _ENOSYS = 0x00050000 | 1, 0x00050000 | 38
_CLONE_THREAD = 0x00010000

#: Syscall numbers per architecture.
_ARCH = {
    "x86_64": {
        "audit": 0xC000003E, "clone": 56, "clone3": 435,
        "signals": (62, 200, 234, 129, 297),  # kill, tkill, tgkill, rt_(tg)sigqueueinfo
        "refused": {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "ptrace": 101,
                    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
                    "pidfd_open": 434, "pidfd_getfd": 438, "memfd_create": 319,
                    "memfd_secret": 447, "shmget": 29, "shmat": 30, "io_uring_setup": 425,
                    "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 323},
    },
    "aarch64": {
        "audit": 0xC00000B7, "clone": 220, "clone3": 435,
        "signals": (129, 130, 131, 138, 240),
        "refused": {"execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270,
                    "process_vm_writev": 271, "kcmp": 272, "pidfd_open": 434,
                    "pidfd_getfd": 438, "memfd_create": 279, "memfd_secret": 447,
                    "shmget": 194, "shmat": 196, "io_uring_setup": 425, "io_uring_enter": 426,
                    "io_uring_register": 427, "userfaultfd": 282},
    },
}


def supported() -> bool:
    """Whether this machine's architecture has a filter."""
    return platform.machine() in _ARCH


def refused_syscalls() -> tuple[str, ...]:
    """The names of the syscalls the filter refuses on this architecture."""
    arch = _ARCH.get(platform.machine())
    return tuple(sorted(arch["refused"])) if arch else ()


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(no_threads: bool, own_pid: int | None = None) -> bytes | None:
    """The filter's BPF program for this architecture, or ``None`` on an unknown one. With
    ``own_pid``, signals may target that process only."""
    arch = _ARCH.get(platform.machine())
    if arch is None:
        return None
    prog = [_insn(_LD_W_ABS, 0, 0, 4),                 # A = arch
            _insn(_JEQ, 1, 0, arch["audit"]),
            _insn(_RET, 0, 0, _KILL),
            _insn(_LD_W_ABS, 0, 0, 0)]                 # A = syscall number
    if platform.machine() == "x86_64":
        prog += [_insn(_JGE, 0, 1, 0x40000000),        # the x32 ABI: refuse
                 _insn(_RET, 0, 0, _KILL)]
    for nr in sorted(arch["refused"].values()):
        prog += [_insn(_JEQ, 0, 1, nr), _insn(_RET, 0, 0, _EPERM)]
    if own_pid is not None:
        for nr in arch["signals"]:
            prog += [_insn(_JEQ, 0, 4, nr),
                     _insn(_LD_W_ABS, 0, 0, 16),       # A = low word of the first argument
                     _insn(_JEQ, 1, 0, own_pid),
                     _insn(_RET, 0, 0, _EPERM),
                     _insn(_RET, 0, 0, _ALLOW)]
    prog += [_insn(_JEQ, 0, 1, arch["clone3"]), _insn(_RET, 0, 0, _ENOSYS)]
    if no_threads:
        prog += [_insn(_JEQ, 0, 1, arch["clone"]), _insn(_RET, 0, 0, _EPERM)]
    else:
        prog += [_insn(_JEQ, 0, 3, arch["clone"]),
                 _insn(_LD_W_ABS, 0, 0, 16),           # A = low word of clone's flags
                 _insn(_JSET, 1, 0, _CLONE_THREAD),
                 _insn(_RET, 0, 0, _EPERM)]
    prog.append(_insn(_RET, 0, 0, _ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_PR_SET_DUMPABLE = 4


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def install(no_threads: bool, own_pid: int | None = None) -> None:
    """Put the filter on the calling process (all its future threads and children); with
    ``own_pid`` (the caller's pid), its signals reach itself only.

    Raises:
        OSError: if the kernel refuses it; RuntimeError on an unknown architecture.
    """
    prog = program(no_threads, own_pid)
    if prog is None:
        raise RuntimeError(f"no seccomp filter for architecture {platform.machine()}")
    libc = _libc()
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def not_dumpable() -> None:
    """Make the calling process non-dumpable: a process without ``CAP_SYS_PTRACE`` can then
    neither trace it nor open its ``/proc/<pid>/{mem,fd,...}``, even under the same user."""
    if _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
