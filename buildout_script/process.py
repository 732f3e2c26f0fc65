"""Facts about processes: is this PID still the process we started?

A PID alone lies: it is reused.  A process is named here by its identity,
(pid, start time, boot id), which no later process can share.  On Linux the
facts come straight from /proc, a few microseconds each; psutil (about 20 ms
to import) is only the fallback for other systems.
"""

import os
import sys

LINUX = sys.platform.startswith('linux') and os.path.isdir('/proc/self')


class Identity(tuple):
    """(pid, start, boot): start is the start time since boot (clock ticks
    on Linux), boot the boot id, so a reboot invalidates every record."""
    __slots__ = ()

    def __new__(cls, pid, start, boot):
        return tuple.__new__(cls, (pid, start, boot))

    pid = property(lambda self: self[0])
    start = property(lambda self: self[1])
    boot = property(lambda self: self[2])

    def __str__(self):
        return '%d %s %s' % self

    @classmethod
    def from_text(cls, text):
        """Parse what ``str(identity)`` wrote; ValueError if it is not that."""
        pid, start, boot = text.split()
        return cls(int(pid), start, boot)


class Facts:
    """One line of the process table; ``state`` is 'Z' for a zombie."""
    __slots__ = ('pid', 'ppid', 'pgid', 'state', 'start')

    def __init__(self, pid, ppid, pgid, state, start):
        self.pid, self.ppid, self.pgid, self.state, self.start = pid, ppid, pgid, state, start


_boot = None


def boot_id():
    global _boot
    if _boot is None:
        if LINUX:
            with open('/proc/sys/kernel/random/boot_id') as f:
                _boot = f.read().strip()
        else:
            import psutil
            _boot = '%d' % psutil.boot_time()
    return _boot


def facts(pid):
    """The process table line of ``pid``, or None if there is no such process."""
    if pid <= 0:
        return None
    if not LINUX:
        return _psutil_facts(pid)
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold anything.
    rest = data[data.rindex(b')') + 2:].split()
    return Facts(pid, int(rest[1]), int(rest[2]), rest[0].decode(), rest[19].decode())


def identity(pid):
    """The identity of the live process ``pid``, or None."""
    f = facts(pid)
    return Identity(pid, f.start, boot_id()) if f else None


def is_running(ident):
    """True if the process named by ``ident`` exists and is not a zombie."""
    f = facts(ident.pid)
    return (f is not None and f.state != 'Z'
            and f.start == ident.start and ident.boot == boot_id())


def uptime(ident):
    """Seconds since the process started (None if unknown)."""
    if not LINUX:
        import psutil
        import time
        try:
            return time.time() - psutil.Process(ident.pid).create_time()
        except psutil.Error:
            return None
    with open('/proc/uptime') as f:
        since_boot = float(f.read().split()[0])
    return max(0.0, since_boot - int(ident.start) / os.sysconf('SC_CLK_TCK'))


def table():
    """Every process on the machine, as Facts (a snapshot)."""
    if not LINUX:
        import psutil
        return [f for f in (_psutil_facts(p) for p in psutil.pids()) if f]
    rows = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                f = facts(int(name))
            except (OSError, ValueError, IndexError):
                continue
            if f:
                rows.append(f)
    return rows


def family(ident, group):
    """Everything a service may have left, as {Identity: pgid}: its process
    group (when ``group``: the leader made one) and every descendant of its
    leader, wherever they moved.  Zombies are left out: they are gone."""
    rows = table()
    found = {}
    if group and _group_is_ours(ident):
        found.update((f.pid, f) for f in rows if f.pgid == ident.pid)
    if is_running(ident):
        children = {}
        for f in rows:
            children.setdefault(f.ppid, []).append(f)
        stack, seen = [ident.pid], {ident.pid}
        while stack:                    # below group members too: a
            for f in children.get(stack.pop(), ()):    # grandchild may setsid
                if f.pid not in seen:
                    seen.add(f.pid)
                    found[f.pid] = f
                    stack.append(f.pid)
        found[ident.pid] = facts(ident.pid)
    boot = boot_id()
    return {Identity(f.pid, f.start, boot): f.pgid
            for f in found.values() if f and f.state != 'Z'}


def _group_is_ours(ident):
    """The group named by our leader's PID is ours while the leader is our
    process, or, in this boot, while no process holds that PID at all: the
    kernel never hands out a PID that still names a live group."""
    if ident.boot != boot_id():
        return False
    leader = facts(ident.pid)
    return leader is None or leader.start == ident.start


def send(ident, sig):
    """Signal the process if, and only if, it is still the one named."""
    if not is_running(ident):
        return False
    try:
        os.kill(ident.pid, sig)
    except ProcessLookupError:
        return False
    return True


def send_group(ident, sig):
    """Signal the process group our leader made, if it is still ours."""
    if not _group_is_ours(ident):
        return False
    try:
        os.killpg(ident.pid, sig)
    except ProcessLookupError:
        return False
    return True


def signal_number(name):
    """SIGTERM -> 15, from the C module: the ``signal`` wrapper's enums
    cost a ctl command some 4 ms to import."""
    import _signal
    return getattr(_signal, name)


def _psutil_facts(pid):
    import psutil
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            state = 'Z' if p.status() == psutil.STATUS_ZOMBIE else 'R'
            return Facts(pid, p.ppid(), os.getpgid(pid), state, '%.2f' % p.create_time())
    except (psutil.Error, OSError):
        return None
