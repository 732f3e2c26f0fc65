#!/usr/bin/env python3
"""How long does `bin/NAMEctl start|status|stop` take, next to zdaemon and supervisord?

Why this exists: the ctl command is run by people at a prompt, by cron every
minute (through `bin/NAME-check`), and by deploy scripts that restart many
services in a row.  Its cost is mostly interpreter start-up plus whatever it
imports and waits for, so the honest yardstick is the tools people would use
instead, timed the same way on the same machine:

  * ctl (generated script)  -- a script written like the one the recipe
    generates (settings rendered as a Python literal, then
    ``main(argv, SETTINGS)``), run directly: what `bin/benchctl status` costs.
  * python -m buildout_script.ctl -- the same command with ``--option value``
    flags, parsed at run time.
  * zdaemon  -- ``zdaemon -C zdaemon.conf start|status|stop``; the daemon
    manager (zdrun) is spawned by start and exits after stop.
  * supervisord -- ``supervisorctl -c supervisord.conf start|status|stop
    bench`` against one supervisord started (untimed) for the whole bench, with
    the *default* ``startsecs=1``, which is what supervisor users get.

Every controller runs the same program, ``/bin/sleep <seconds>``, where the
seconds value is a per-controller tag (e.g. ``3600.123400``) so the bench can
find the program in /proc, check that start really left it running and that
stop really left it gone, and kill anything left over.

All controllers, ours included, run on the interpreter of a scratch virtualenv
(bench/.scratch/venv, git-ignored) that holds zdaemon 5, supervisor 4 and
psutil; so interpreter start-up is the same for every column and the python
that runs this script needs nothing installed.  Ours gets the repository root
on PYTHONPATH (``-m``) or in ``sys.path`` (generated script); it is not
installed into the venv.

Each round runs start, status, stop for every controller, in an order rotated
from round to round so machine noise and cache effects hit all alike.  One
untimed warm-up round comes first (it also writes our __pycache__).  Wall-clock
is measured from Popen to a blocking wait's return with ``time.perf_counter``.
Output of the controllers goes to files, not pipes, so a daemon that keeps an
inherited pipe open cannot make a command look slow (or hang the bench).

Two checkouts side by side: ``--also DIR`` adds a generated script run from
another checkout of buildout_script (say a worktree of the commit before a
change: ``git worktree add /tmp/before COMMIT``), timed in the same rounds,
and the report gives the difference of the medians, this checkout's minus
the other's.  ``--supervise`` renders ours (both checkouts) with ``supervise
= true``, so start, stop and the check go through the keeper.  ``--only``
picks the controllers by their short names (script, -m, zdaemon,
supervisor, also).

Usage:  python3 bench/bench_control.py [--runs N] [--keep] [--supervise]
            [--also DIR] [--only script,-m,zdaemon,supervisor,also]
"""

import argparse
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCRATCH = BENCH / '.scratch'
VENV = SCRATCH / 'venv'
VPY = VENV / 'bin' / 'python'
REQUIREMENTS = ['zdaemon>=5,<6', 'supervisor>=4,<5', 'psutil']
ACTIONS = ('start', 'status', 'check', 'stop')
# 'check' is bin/NAME-check on the healthy service (no probe); the rivals
# have no watchdog command, so their row is the status command again: the
# least a cron line built on them ("status || start") runs every minute.
TOTAL_ACTIONS = ('start', 'status', 'stop')
SLEEP = shutil.which('sleep', path='/bin:/usr/bin') or '/bin/sleep'
COMMAND_TIMEOUT = 60


class CommandFailed(Exception):
    """A controller command exited with an unexpected code (or timed out)."""


# --------------------------------------------------------------------------
# The scratch virtualenv

def ensure_venv():
    """Create bench/.scratch/venv and install the rivals into it, once."""
    if not VPY.exists():
        print('creating %s' % VENV, file=sys.stderr)
        subprocess.run([sys.executable, '-m', 'venv', str(VENV)], check=True)
    probe = [str(VPY), '-c', 'import zdaemon, supervisor, psutil']
    if subprocess.run(probe, stderr=subprocess.DEVNULL).returncode != 0:
        print('installing %s into %s' % (' '.join(REQUIREMENTS), VENV), file=sys.stderr)
        subprocess.run([str(VPY), '-m', 'pip', 'install', '-q'] + REQUIREMENTS, check=True)


def compile_ours(root=REPO):
    """pip byte-compiled the rivals when it installed them; do the same for
    ours, so that PYTHONDONTWRITEBYTECODE (set on some machines) does not
    leave our modules to be compiled on every run."""
    subprocess.run([str(VPY), '-m', 'compileall', '-q', str(root / 'buildout_script')],
                   check=True)


def venv_version(dist):
    out = subprocess.run([str(VPY), '-c', 'import importlib.metadata as m; print(m.version(%r))' % dist],
                         capture_output=True, text=True)
    return out.stdout.strip() or '?'


# --------------------------------------------------------------------------
# Processes, found through /proc by their tagged command line

def processes_with(tag):
    """{pid: argv} of every process whose command line contains ``tag``."""
    found = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = f.read().split(b'\0')[:-1]
        except OSError:
            continue
        if tag.encode() in argv:
            found[int(entry)] = [a.decode(errors='replace') for a in argv]
    return found


def sleep_pid(tag):
    """PID of the running ``sleep <tag>`` program, or None (zombies have no cmdline)."""
    for pid, argv in processes_with(tag).items():
        if argv[1:] == [tag] and os.path.basename(argv[0]) == 'sleep':
            return pid
    return None


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def kill_tagged(tag):
    """Last resort: SIGKILL every process carrying ``tag`` (sleep, zdrun)."""
    for pid in processes_with(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Controllers: one class each; ``argv(action)`` is what gets timed

class Controller:
    label = '?'
    expect = {'start': 0, 'status': 0, 'check': 0, 'stop': 0}

    def __init__(self, tmp, tag):
        self.tmp = Path(tmp)
        self.tag = tag
        self.program = [SLEEP, tag]
        self.cwd = self.tmp
        self.env = clean_env()
        self.samples = {a: [] for a in ACTIONS}
        self.error = None

    def prepare(self):
        """Write config files, start resident helpers.  Not timed."""

    def argv(self, action):
        raise NotImplementedError

    def close(self):
        """Stop everything this controller may have left running."""
        if sleep_pid(self.tag):
            try:
                self.run('stop')
            except Exception:
                pass
        kill_tagged(self.tag)

    def run(self, action):
        """Run one command; return its wall-clock seconds; raise CommandFailed."""
        argv = self.argv(action)
        out = self.tmp / 'command.out'
        with open(out, 'w+b') as f:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=f, stderr=subprocess.STDOUT)
            rc = wait_blocking(proc)
            elapsed = time.perf_counter() - t0
            f.seek(0)
            output = f.read().decode(errors='replace')
        if rc != self.expect[action]:
            raise CommandFailed('%s %s: exit %s (expected %s)\n$ %s\n%s' % (
                self.label, action, rc, self.expect[action],
                ' '.join(shlex.quote(a) for a in argv), output.rstrip()))
        return elapsed


def wait_blocking(proc):
    """Wait in one blocking waitpid, not subprocess's timeout loop.

    ``subprocess.run(timeout=...)`` polls with sleeps of up to 50 ms, which
    would round every measurement up by tens of milliseconds; a timer thread
    that kills a hung command keeps the wait exact.
    """
    timer = threading.Timer(COMMAND_TIMEOUT, proc.kill)
    timer.start()
    try:
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    return 'killed after %ss' % COMMAND_TIMEOUT if rc == -signal.SIGKILL else rc


def clean_env():
    env = dict(os.environ)
    for var in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'VIRTUAL_ENV'):
        env.pop(var, None)
    return env


class OursModule(Controller):
    """``python -m buildout_script.ctl --name ... ACTION`` from the repo root."""
    label = 'python -m buildout_script.ctl'
    short = '-m'

    def __init__(self, tmp, tag, root=REPO, supervise=False):
        super().__init__(tmp, tag)
        self.cwd = root
        self.env['PYTHONPATH'] = str(root)
        self.supervise = supervise

    def argv(self, action):
        module = 'check' if action == 'check' else 'ctl'
        action = [] if action == 'check' else [action]
        return [str(VPY), '-m', 'buildout_script.' + module, '--name', 'bench',
                '--program', shlex.join(self.program),
                '--pid-dir', str(self.tmp / 'run'), '--log-dir', str(self.tmp / 'log'),
                '--supervise', 'true' if self.supervise else 'false', *action]


class OursScript(Controller):
    """A script shaped like the recipe's output: settings as a literal, then
    main().  ``root``: the checkout of buildout_script it runs (this one, or
    another given with --also); ``supervise``: the service's setting."""
    label = 'ctl (generated script)'
    short = 'script'

    def __init__(self, tmp, tag, root=REPO, supervise=False, label=None, short=None,
                 name='bench'):
        super().__init__(tmp, tag)
        self.root, self.supervise, self.name = Path(root), supervise, name
        self.label, self.short = label or self.label, short or self.short
        self.cwd = self.root
        self.script = self.tmp / (name + 'ctl')
        self.check_script = self.tmp / (name + '-check')

    def prepare(self):
        raw = {'name': self.name, 'program': shlex.join(self.program),
               'pid-dir': str(self.tmp / 'run'), 'log-dir': str(self.tmp / 'log'),
               'supervise': 'true' if self.supervise else 'false'}
        # Render the settings with the same interpreter the script will run on.
        code = ('import sys; sys.path[0:0] = [%r]; from buildout_script.config import parse; '
                'print(repr(parse(%r)))' % (str(self.root), raw))
        settings = subprocess.run([str(VPY), '-c', code], capture_output=True, text=True,
                                  env=clean_env(), check=True).stdout.strip()
        for command, path in (('ctl', self.script), ('check', self.check_script)):
            path.write_text(
                '#!%s\n'
                'import sys\n'
                'sys.path[0:0] = [%r]\n'
                'from buildout_script.%s import main\n'
                'SETTINGS = %s\n'
                'if __name__ == "__main__":\n'
                '    sys.exit(main(sys.argv[1:], SETTINGS))\n' % (VPY, str(self.root), command,
                                                                 settings))
            path.chmod(0o755)

    def argv(self, action):
        if action == 'check':
            return [str(self.check_script)]
        return [str(self.script), action]


class Zdaemon(Controller):
    """``zdaemon -C zdaemon.conf ACTION``; start waits until zdrun reports the pid."""
    label = 'zdaemon'
    short = 'zdaemon'

    def prepare(self):
        self.conf = self.tmp / 'zdaemon.conf'
        self.conf.write_text(textwrap.dedent('''\
            <runner>
              program %s
              socket-name %s
              transcript %s
            </runner>
            ''') % (shlex.join(self.program), self.tmp / 'zdsock', self.tmp / 'transcript.log'))

    def argv(self, action):
        action = 'status' if action == 'check' else action
        return [str(VENV / 'bin' / 'zdaemon'), '-C', str(self.conf), action]


class Supervisor(Controller):
    """``supervisorctl -c supervisord.conf ACTION bench`` against one resident supervisord."""
    label = 'supervisord'
    short = 'supervisor'

    def __init__(self, tmp, tag):
        super().__init__(tmp, tag)
        self.daemon = None

    def prepare(self):
        self.conf = self.tmp / 'supervisord.conf'
        sock = self.tmp / 'supervisor.sock'
        # startsecs is left at its default (1 s): supervisorctl start returns
        # only once the program has stayed up that long.
        self.conf.write_text(textwrap.dedent('''\
            [unix_http_server]
            file = {sock}

            [supervisord]
            logfile = {tmp}/supervisord.log
            pidfile = {tmp}/supervisord.pid
            childlogdir = {tmp}
            nodaemon = true

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl = unix://{sock}

            [program:bench]
            command = {program}
            autostart = false
            autorestart = false
            stdout_logfile = {tmp}/bench.out
            stderr_logfile = {tmp}/bench.err
            ''').format(sock=sock, tmp=self.tmp, program=shlex.join(self.program)))
        log = open(self.tmp / 'supervisord.console', 'ab')
        self.daemon = subprocess.Popen([str(VENV / 'bin' / 'supervisord'), '-c', str(self.conf)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       env=self.env, start_new_session=True)
        log.close()
        ping = [str(VENV / 'bin' / 'supervisorctl'), '-c', str(self.conf), 'pid']
        if not wait_for(lambda: subprocess.run(ping, capture_output=True).returncode == 0, 15):
            raise CommandFailed('supervisord did not come up; see %s' % (self.tmp / 'supervisord.log'))

    def argv(self, action):
        action = 'status' if action == 'check' else action
        return [str(VENV / 'bin' / 'supervisorctl'), '-c', str(self.conf), action, 'bench']

    def close(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()          # supervisord stops its programs on TERM
            try:
                self.daemon.wait(15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        kill_tagged(self.tag)


def controllers_for(args):
    """(short name, factory(tmp, tag)) of each controller the run compares."""
    made = [('script', lambda tmp, tag: OursScript(tmp, tag, supervise=args.supervise)),
            ('-m', lambda tmp, tag: OursModule(tmp, tag, supervise=args.supervise)),
            ('zdaemon', Zdaemon), ('supervisor', Supervisor)]
    if args.also:
        made.append(('also', lambda tmp, tag: OursScript(
            tmp, tag, root=Path(args.also).resolve(), supervise=args.supervise,
            label='ctl (%s)' % args.also, short='also')))
    if args.only:
        made = [(short, factory) for short, factory in made if short in args.only]
    return [factory for _, factory in made]


# --------------------------------------------------------------------------
# The bench

def cycle(ctl, notes, timed):
    """start, status, stop once; check the program really ran and really went.

    "Gone" means no longer running: a zombie counts as gone (it has exited and
    holds nothing but a process-table slot) and is noted, because the program
    of a double-forked daemon is reaped by PID 1, and this machine's PID 1
    reaps orphans only every ~2 s, while supervisord and zdrun reap their own
    children at once.
    """
    pid = None
    for action in ACTIONS:
        seconds = ctl.run(action)
        if timed:
            ctl.samples[action].append(seconds)
        if action == 'start':
            pid = sleep_pid(ctl.tag)
            if not pid:
                notes.append('%s: program not running yet when start returned' % ctl.label)
                if not wait_for(lambda: sleep_pid(ctl.tag), 5):
                    raise CommandFailed('%s start: exit 0 but %s never ran'
                                        % (ctl.label, shlex.join(ctl.program)))
                pid = sleep_pid(ctl.tag)
        elif action == 'stop':
            state = proc_state(pid)
            if state == 'Z':
                notes.append('%s: program exited but not yet reaped (zombie) when stop returned'
                             % ctl.label)
            elif state is not None:
                notes.append('%s: program still running when stop returned' % ctl.label)
                if not wait_for(lambda: proc_state(pid) in (None, 'Z'), 10):
                    kill_tagged(ctl.tag)
                    raise CommandFailed('%s stop: exit 0 but the program kept running'
                                        % ctl.label)


def proc_state(pid):
    """The one-letter state of ``pid`` from /proc (R, S, Z, ...), or None if gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def bench(runs, keep, factories):
    tag_base = '3600.%d' % (os.getpid() % 100000)
    tmps, controllers, notes = [], [], []
    baseline = []       # `python -c pass`, once per round: the floor every column stands on
    try:
        for i, cls in enumerate(factories):
            tmp = tempfile.mkdtemp(prefix='bench_control-')
            tmps.append(tmp)
            ctl = cls(tmp, '%s%d' % (tag_base, i + 1))
            controllers.append(ctl)
            try:
                ctl.prepare()
            except (CommandFailed, subprocess.CalledProcessError, OSError) as e:
                ctl.error = describe(e)
        for round_no in range(runs + 1):               # round 0 is the warm-up
            shift = round_no % len(controllers)
            t0 = time.perf_counter()
            wait_blocking(subprocess.Popen([str(VPY), '-c', 'pass'], env=clean_env()))
            if round_no:
                baseline.append(time.perf_counter() - t0)
            for ctl in controllers[shift:] + controllers[:shift]:
                if ctl.error:
                    continue
                try:
                    cycle(ctl, notes, timed=round_no > 0)
                except CommandFailed as e:
                    ctl.error = str(e)
                    ctl.close()
            print('round %d/%d done' % (round_no, runs), file=sys.stderr)
        return controllers, notes, baseline
    finally:
        for ctl in controllers:
            try:
                ctl.close()
            except Exception as e:
                print('cleanup of %s: %s' % (ctl.label, e), file=sys.stderr)
        for ctl in controllers:
            kill_tagged(ctl.tag)
        if keep:
            print('kept: %s' % ' '.join(tmps), file=sys.stderr)
        else:
            for tmp in tmps:
                shutil.rmtree(tmp, ignore_errors=True)


def describe(e):
    if isinstance(e, subprocess.CalledProcessError):
        return '%s\n%s' % (e, (e.stderr or '').rstrip())
    return str(e)


# --------------------------------------------------------------------------
# Report

def ms(values):
    return statistics.median(values) * 1000 if values else None


def fmt_ms(value):
    return 'failed' if value is None else '%.1f' % value


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return '-'
    return '%.2fx' % (a / b)


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: '  '.join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return [line(header), line(['-' * w for w in widths])] + [line(r) for r in rows]


def report(controllers, notes, baseline, runs, argv, supervise=False):
    labels = [c.label for c in controllers]
    lines = [
        'command:    %s' % ' '.join(shlex.quote(a) for a in argv),
        'runs:       %d timed rounds (+1 warm-up), controllers interleaved, order rotated per round' % runs,
        'python:     %s (bench: %s)' % (
            subprocess.run([str(VPY), '-c', 'import sys; print(sys.version.split()[0])'],
                           capture_output=True, text=True).stdout.strip(),
            platform.python_version()),
        'nproc:      %d   kernel: %s' % (len(os.sched_getaffinity(0)), platform.release()),
        'program:    %s <tag>%s' % (SLEEP, ', supervise = true (ours)' if supervise else ''),
        'load:       %s (1, 5, 15 min, at the end)' % ' '.join(
            open('/proc/loadavg').read().split()[:3]),
        'baseline:   %.1f ms median for `python -c pass` on the same interpreter' % ms(baseline),
        'check:      ours: NAME-check on the healthy service (no probe);'
        ' rivals: their status again',
        '',
        'median wall-clock ms per command',
    ]
    if any(c.short in ('zdaemon', 'supervisor') for c in controllers):
        lines.insert(4, 'rivals:     zdaemon %s, supervisor %s (startsecs=1, the default)' % (
            venv_version('zdaemon'), venv_version('supervisor')))
    rows = []
    for action in ACTIONS + ('total',):
        cells = [action]
        for c in controllers:
            if c.error or not c.samples['start']:
                cells.append('failed')
            elif action == 'total':
                cells.append(fmt_ms(sum(ms(c.samples[a]) for a in TOTAL_ACTIONS)))
            else:
                cells.append(fmt_ms(ms(c.samples[action])))
        rows.append(cells)
    lines += table(['action'] + labels, rows)

    def median_of(i, c):
        cell = rows[i][1 + controllers.index(c)]
        return None if cell == 'failed' else float(cell)

    ours = [c for c in controllers if c.short in ('script', '-m')]
    rivals = [c for c in controllers if c.short in ('zdaemon', 'supervisor')]
    if ours and rivals:
        lines += ['', 'ratio of medians (ours / rival; below 1 means ours is faster)']
        ratio_header = ['action'] + ['%s / %s' % (o.short, r.short)
                                     for o in ours for r in rivals]
        ratio_rows = []
        for i, action in enumerate(ACTIONS + ('total',)):
            ratio_rows.append([action] + [fmt_ratio(median_of(i, o), median_of(i, r))
                                          for o in ours for r in rivals])
        lines += table(ratio_header, ratio_rows)
    also = [c for c in controllers if c.short == 'also']
    script = [c for c in controllers if c.short == 'script']
    if also and script:
        lines += ['', 'this checkout against %s (generated scripts): difference of medians'
                  % also[0].root]
        diff_rows = []
        for i, action in enumerate(ACTIONS + ('total',)):
            a, b = median_of(i, script[0]), median_of(i, also[0])
            diff_rows.append([action, '-' if None in (a, b) else '%+.1f' % (a - b),
                              fmt_ratio(a, b)])
        lines += table(['action', 'ms (this - other)', 'ratio'], diff_rows)

    lines += ['', 'spread: min / max ms']
    spread = []
    for action in ACTIONS:
        cells = [action]
        for c in controllers:
            s = c.samples[action]
            cells.append('%.1f / %.1f' % (min(s) * 1000, max(s) * 1000) if s and not c.error else '-')
        spread.append(cells)
    lines += table(['action'] + labels, spread)

    if notes:
        lines += ['', 'notes:']
        counts = {}
        for n in notes:
            counts[n] = counts.get(n, 0) + 1
        lines += ['  %s (%d times)' % (n, k) for n, k in counts.items()]
    failures = [c for c in controllers if c.error]
    if failures:
        lines += ['', 'failures (verbatim):']
        for c in failures:
            lines += ['  ' + l for l in c.error.splitlines()]
    print('\n'.join(('    ' + l).rstrip() for l in lines))
    return 1 if failures else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=15, help='timed rounds (default 15)')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directories')
    parser.add_argument('--supervise', action='store_true',
                        help='ours with supervise = true (the keeper), not the cron mode')
    parser.add_argument('--also', metavar='DIR',
                        help='another checkout of buildout_script (say the commit before a'
                             ' change): its generated script too, in the same rounds')
    parser.add_argument('--only', type=lambda text: text.split(','),
                        help='comma list of script, -m, zdaemon, supervisor, also'
                             ' (default: all; also only with --also)')
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    factories = controllers_for(args)
    if not factories:
        parser.error('--only leaves no controller')
    # SIGTERM/SIGHUP unwind through the same finally blocks as Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    ensure_venv()
    compile_ours()
    if args.also:
        compile_ours(Path(args.also))
    try:
        controllers, notes, baseline = bench(args.runs, args.keep, factories)
    except KeyboardInterrupt:
        print('interrupted; every process the bench started has been stopped', file=sys.stderr)
        return 130
    return report(controllers, notes, baseline, args.runs, [sys.executable] + sys.argv,
                  args.supervise)


if __name__ == '__main__':
    sys.exit(main())
