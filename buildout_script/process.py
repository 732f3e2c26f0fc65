"""Facts about processes: is this PID still the process we started?

A PID alone lies: it is reused.  A process is named here by its identity,
(pid, start time, boot id), which no later process can share.  On Linux the
facts come straight from /proc, a few microseconds each.  psutil (some 20 ms
to import) answers everywhere else, and on Linux too when
BUILDOUT_SCRIPT_PSUTIL=1 is set, so that the test suite proves that backend.
Both must not be mixed on one service: their start times differ in form.
"""

import os
import sys
import time

PROC = (sys.platform.startswith('linux') and os.path.isdir('/proc/self')
        and os.environ.get('BUILDOUT_SCRIPT_PSUTIL') != '1')


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
        if PROC:
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
    if not PROC:
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
    if not PROC:
        import psutil
        try:
            return time.time() - psutil.Process(ident.pid).create_time()
        except psutil.Error:
            return None
    with open('/proc/uptime') as f:
        since_boot = float(f.read().split()[0])
    return max(0.0, since_boot - int(ident.start) / os.sysconf('SC_CLK_TCK'))


def table():
    """Every process on the machine, as Facts (a snapshot)."""
    if not PROC:
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


def family(ident, group, mark=None):
    """Everything a service may have left, as {Identity: pgid}: its process
    group (when ``group``: the leader made one) and every descendant of its
    leader, wherever they moved.  Zombies are left out: they are gone.

    Once the leader is gone its group could be a stranger's (the PID reused
    by a daemonizing fork that called setsid, then exited), so members of a
    leaderless group count only if their environment carries ``mark``, the
    ``NAME=VALUE`` every program we start inherits; and none count while a
    stranger holds the leader's PID.
    """
    if ident is None:
        return {}
    rows = table()
    found = {}
    if group and ident.boot == boot_id():
        members = [f for f in rows if f.pgid == ident.pid]
        if not leads_group(ident):
            holder = facts(ident.pid)       # a stranger with our PID owns the group
            members = [f for f in members
                       if holder is None and mark and carries(f.pid, mark, exact=False)]
        found.update((f.pid, f) for f in members)
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


def children(pid):
    """The PIDs of the children of ``pid`` (Linux 3.5+: /proc/PID/task/TID/children),
    without a look at any other process; None where the kernel cannot say."""
    found = []
    try:
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, tid), 'rb') as f:
                found.extend(int(word) for word in f.read().split())
    except FileNotFoundError:
        return []                       # gone
    except OSError:
        return None
    return found


def descendants(pid):
    """The PIDs of every live descendant of ``pid``, found from the top down
    through children(): a cost that grows with the family, not with the
    machine.  None where the kernel cannot say."""
    found, todo = [], [pid]
    while todo:
        below = children(todo.pop())
        if below is None:
            return None
        found.extend(below)
        todo.extend(below)
    return found


def pss(pid):
    """The proportional set size of ``pid`` in bytes: its share of the
    memory it uses (a page shared by three processes counts a third), so
    that a family's figures add up.  None if it is gone or not ours to
    read.  /proc is read with a small buffer: nothing here may fail for
    lack of memory on a machine short of it."""
    if not PROC:
        import psutil
        try:
            return psutil.Process(pid).memory_full_info().pss
        except (psutil.Error, OSError, AttributeError):
            return None
    try:
        with open('/proc/%d/smaps_rollup' % pid, 'rb', buffering=4096) as f:
            for line in f:
                if line.startswith(b'Pss:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid):
    """User and system CPU time of ``pid`` so far, in seconds; None if gone."""
    if not PROC:
        import psutil
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.Error, OSError):
            return None
        return times.user + times.system
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            fields = f.read().rsplit(b')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return None


def family_cpu(pid, mark):
    """CPU seconds of ``pid`` and every descendant that carries ``mark``."""
    return _family_total(pid, mark, cpu_seconds)


def family_memory(pid, mark):
    """The PSS in bytes of ``pid`` and every descendant that carries
    ``mark`` (workers leak too); None if ``pid``'s own cannot be read."""
    return _family_total(pid, mark, pss)


def _family_total(pid, mark, measure):
    """``measure`` summed over ``pid`` and its marked descendants."""
    total = measure(pid)
    if total is None:
        return None
    for member in descendants(pid) or ():
        if carries(member, mark):
            total += measure(member) or 0
    return total


def leads_group(ident):
    """True while our leader (alive or a zombie) still holds its PID: then
    the group named by that PID can only be ours."""
    leader = facts(ident.pid)
    return (leader is not None and leader.start == ident.start
            and ident.boot == boot_id())


def carries(pid, mark, exact=True):
    """Does the environment of ``pid`` hold ``mark`` (``NAME=VALUE``)?  Not
    ``exact``: or ``mark`` followed by a space and more (a spawned copy's)."""
    if not PROC:
        import psutil
        name, _, value = mark.partition('=')
        try:
            found = psutil.Process(pid).environ().get(name)
        except (psutil.Error, OSError):
            return False
        return found == value or (not exact and (found or '').startswith(value + ' '))
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            environ = b'\0' + f.read()
    except OSError:
        return False
    needle = b'\0' + mark.encode(errors='surrogateescape')
    return needle + b'\0' in environ or (not exact and needle + b' ' in environ)


def marked(mark, uid):
    """Every live process of user ``uid`` whose environment carries ``mark``
    (but this command and its ancestors), as {Identity: pgid}: what a
    service left, wherever it moved, even once its leader is gone."""
    spared = set()
    pid = os.getpid()
    while pid > 1 and pid not in spared:
        spared.add(pid)
        f = facts(pid)
        pid = f.ppid if f else 0
    found = {}
    if not PROC:
        import psutil
        pids = [p.pid for p in psutil.process_iter() if _uid(p) == uid]
    else:
        pids = []
        for name in os.listdir('/proc'):
            if name.isdigit():
                try:
                    if os.stat('/proc/' + name).st_uid == uid:
                        pids.append(int(name))
                except OSError:
                    continue
    for pid in pids:
        if pid not in spared and carries(pid, mark):
            f = facts(pid)
            if f is not None and f.state != 'Z':
                found[Identity(pid, f.start, boot_id())] = f.pgid
    return found


def _uid(p):
    try:
        return p.uids().effective
    except Exception:
        return None


def send(ident, sig):
    """Signal the process if, and only if, it is still the one named: the
    identity is checked after a pidfd is open on it and the signal goes
    through that pidfd, so no PID reused in between can be hit."""
    try:
        pidfd = os.pidfd_open(ident.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        pidfd = None                    # no pidfds here: check, then kill
    try:
        if not is_running(ident):
            return False
        if pidfd is not None:
            import signal
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(ident.pid, sig)
    except ProcessLookupError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return True


def send_group(ident, sig):
    """Signal the process group our leader made, while it leads it.  (A
    pidfd cannot name a group; the members are also signalled one by one
    through their own pidfds by terminate.terminate.)"""
    if not leads_group(ident):
        return False
    try:
        os.killpg(ident.pid, sig)
    except ProcessLookupError:
        return False
    return True


def command(pid):
    """The command line of ``pid``, one line of at most 80 characters, or
    'gone'; to name a process to a person."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            words = f.read(512).split(b'\0')
        text = ' '.join(w.decode(errors='replace') for w in words if w)
        return ' '.join(text.split())[:80] or '?'        # one line, whatever it holds
    except OSError:
        return 'gone'


def signal_number(name):
    """SIGTERM -> 15.  ``signal`` (and the enum module it loads) is imported
    only by the commands that send one, never by status."""
    import signal
    return signal.Signals[name]


def _psutil_facts(pid):
    import psutil
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            state = 'Z' if p.status() == psutil.STATUS_ZOMBIE else 'R'
            return Facts(pid, p.ppid(), os.getpgid(pid), state, '%.2f' % p.create_time())
    except (psutil.Error, OSError):
        return None
