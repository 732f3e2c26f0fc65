"""Processes the tests look at and wait for: facts read through psutil
(a zombie counts as gone everywhere, as it does for ``ctl``), waiting
without timing assertions, and the child subreaper that lets the suite
reap what the commands under test orphan."""

import ctypes
import os
import signal
import socket
import sys
import time

import psutil
import pytest

from buildout_script import process

PR_SET_CHILD_SUBREAPER = 36


# For the modules that drive real processes: their helpers read /proc and
# use process groups and a child subreaper.
linux_only = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='drives /proc and process groups (Linux)')


def wait_for(predicate, timeout=15.0, interval=0.02):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds
    (generous: a deadline against hangs, never an assertion about speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def proc(pid):
    """A psutil.Process (which remembers its start time), or None."""
    if pid is None:                 # psutil.Process(None) is this process
        return None
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def alive(p):
    """True while the psutil.Process ``p`` is the same process and no zombie."""
    if p is None:
        return False
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def gone(p):
    return not alive(p)


def kill(pid):
    """SIGKILL ``pid`` if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def identity_line(pid, later=False):
    """The NAME.identity line (PID START BOOT group) that our commands would
    write for the live process ``pid``, in the form of the backend in use;
    with ``later``, its start time moved on: a forgery that names no process."""
    pid, start, boot = process.identity(pid)
    if later:
        start = ('%.2f' % (float(start) + 0.01)) if '.' in start else str(int(start) + 1)
    return '%d %s %s group\n' % (pid, start, boot)


def start_ticks(pid):
    """Field 22 of /proc/PID/stat: the start time in clock ticks since boot
    (the /proc backend's form only; identity_line() serves both)."""
    with open('/proc/%d/stat' % pid, 'rb') as f:
        data = f.read()
    return int(data[data.rindex(b')') + 2:].split()[19])


def running_with(text):
    """Live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for p in psutil.process_iter(['cmdline', 'status']):
        if p.pid == os.getpid() or p.info['status'] == psutil.STATUS_ZOMBIE:
            continue
        if any(text in arg for arg in (p.info['cmdline'] or ())):
            found.append(p)
    return found


def started_here(directory):
    """Live programs (not our own commands) whose working directory is
    ``directory``."""
    found = []
    for p in psutil.process_iter(['cwd', 'status', 'cmdline']):
        if (p.info['cwd'] == str(directory) and p.info['status'] != psutil.STATUS_ZOMBIE
                and not any(arg.startswith('buildout_script.')
                            for arg in p.info['cmdline'] or [])):
            found.append(p)
    return found


def open_fds(pid):
    """{fd number: target} of a live process (read from /proc: Linux)."""
    base = '/proc/%d/fd' % pid
    fds = {}
    for name in os.listdir(base):
        try:
            fds[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return fds


def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper():
    return sys.platform.startswith('linux') and _prctl(PR_SET_CHILD_SUBREAPER, 1)


def stop_being_subreaper():
    if sys.platform.startswith('linux'):
        _prctl(PR_SET_CHILD_SUBREAPER, 0)


def reap_orphans(popens=()):
    """Reap zombie children that no Popen of ours is waiting for."""
    mine = {p.pid for p in popens if p.returncode is None}
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        if child.pid in mine:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError, OSError):
            pass
