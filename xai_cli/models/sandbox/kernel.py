"""The kernel walls of the sandbox: resource limits, Landlock and a seccomp filter.

Each layer is applied in the forked model process after everything it needs was imported, and before
the model file is opened. A layer the platform does not have is skipped with a note (macOS has no
seccomp or Landlock; an old kernel or a container may lack either); the others still apply.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import sys
from collections.abc import Sequence

# clone() flags: a new thread shares the address space (CLONE_VM) and the thread group (CLONE_THREAD);
# anything else is a new process.
_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_WRITE_ACCESS = (os.O_WRONLY, os.O_RDWR)
_CREATE_FLAGS = (os.O_CREAT, os.O_TRUNC, os.O_APPEND)

# Started a process, made or changed a file, reached the network, or another process's memory: the
# model process is killed on the spot (SIGSYS), which the parent reports as a refused model.
_KILL_ALWAYS = (
    "execve", "execveat", "fork", "vfork", "socket", "socketpair", "connect", "bind", "listen", "accept",
    "accept4", "creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown",
    "fchown", "lchown", "fchownat", "truncate", "mknod", "mknodat", "utime", "utimes", "utimensat",
    "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "add_key", "request_key", "keyctl", "pidfd_open", "pidfd_send_signal",
    "pidfd_getfd", "name_to_handle_at", "open_by_handle_at", "userfaultfd", "setns", "unshare",
    "init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff", "reboot",
)  # fmt: skip


def apply_resource_limits(max_memory: int, max_cpu_seconds: int) -> str | None:
    """No file may grow (RLIMIT_FSIZE 0), no core dumps, the data segment capped, CPU time capped; a
    note naming the limits this platform refused (macOS has no RLIMIT_DATA cap that it enforces)."""
    limits = [
        ("file size", resource.RLIMIT_FSIZE, (0, 0)),
        ("core dumps", resource.RLIMIT_CORE, (0, 0)),
        # RLIMIT_DATA counts the private memory a process writes (heap, anonymous maps), not the address
        # space libraries reserve without touching, which RLIMIT_AS would count and torch reserves in GBs.
        ("memory", resource.RLIMIT_DATA, (max_memory, max_memory)),
    ]
    if max_cpu_seconds > 0:
        # The soft limit sends SIGXCPU (reported as a time-out); the hard one kills a process that ignores it.
        limits.append(("CPU time", resource.RLIMIT_CPU, (max_cpu_seconds, max_cpu_seconds + 5)))
    refused = []
    for name, which, values in limits:
        try:
            resource.setrlimit(which, values)
        except (OSError, ValueError):
            refused.append(name)
    return (
        f"resource limits skipped: the system refused the {', '.join(refused)} limit(s)" if refused else None
    )


def apply_landlock(read_roots: Sequence[str], list_only: Sequence[str] = ()) -> str | None:
    """Reads only beneath ``read_roots`` (and listings of ``list_only``), no writes anywhere; a note when
    Landlock is not available."""
    try:
        from landlock import FSAccess, Ruleset, landlock_abi_version
    except ImportError:
        return "Landlock skipped: the 'landlock' package is missing (pip install 'xai-cli[sandbox]')"
    try:
        if landlock_abi_version() < 1:
            return "Landlock skipped: this kernel does not have it"
        ruleset = Ruleset(restrict_rules=FSAccess.all())
        for root in read_roots:
            rights = FSAccess.READ_FILE | (FSAccess.READ_DIR if os.path.isdir(root) else 0)
            with contextlib.suppress(OSError):
                ruleset.allow(root, rules=rights)
        for folder in list_only:
            with contextlib.suppress(OSError):
                ruleset.allow(folder, rules=FSAccess.READ_DIR)
        ruleset.apply()
    except (OSError, Exception) as exc:  # the library raises its own error types too
        return f"Landlock skipped: the kernel refused it ({type(exc).__name__}: {exc})"
    return None


def apply_seccomp() -> str | None:
    """Kill the process on any system call that starts a process, touches the network or changes files."""
    if not sys.platform.startswith("linux"):
        return "seccomp skipped: it exists on Linux only"
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, RuntimeError):
        return "seccomp skipped: pyseccomp or libseccomp is missing (pip install 'xai-cli[sandbox]')"
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        _add_rules(seccomp, rules)
        rules.load()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"seccomp skipped: the kernel refused the filter ({exc})"
    return None


def _add_rules(seccomp: object, rules: object) -> None:
    kill = seccomp.KILL_PROCESS  # type: ignore[attr-defined]
    arg, masked_eq, ne = seccomp.Arg, seccomp.MASKED_EQ, seccomp.NE  # type: ignore[attr-defined]
    add = rules.add_rule  # type: ignore[attr-defined]
    for name in _KILL_ALWAYS:
        _add_if_known(add, kill, name)
    # glibc tries clone3 first and falls back to clone when it is missing; clone's flags can be read.
    _add_if_known(add, seccomp.ERRNO(errno.ENOSYS), "clone3")  # type: ignore[attr-defined]
    _add_if_known(add, seccomp.ERRNO(errno.ENOSYS), "openat2")  # type: ignore[attr-defined]
    _add_if_known(add, kill, "clone", arg(0, masked_eq, _CLONE_THREAD, 0))
    for name, flags_arg in (("open", 1), ("openat", 2)):
        for access in _WRITE_ACCESS:
            _add_if_known(add, kill, name, arg(flags_arg, masked_eq, os.O_ACCMODE, access))
        for flag in _CREATE_FLAGS:
            _add_if_known(add, kill, name, arg(flags_arg, masked_eq, flag, flag))
    for request in (_TIOCSTI, _TIOCLINUX):
        _add_if_known(add, kill, "ioctl", arg(1, masked_eq, 0xFFFFFFFF, request))
    pid = os.getpid()
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        _add_if_known(add, kill, name, arg(0, ne, pid))


def _add_if_known(add: object, action: object, name: str, *conditions: object) -> None:
    try:
        add(action, name, *conditions)  # type: ignore[operator]
    except (ValueError, RuntimeError) as exc:
        if "syscall" not in str(exc).lower() and "resolve" not in str(exc).lower():
            raise
