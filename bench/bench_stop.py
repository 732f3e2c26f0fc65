#!/usr/bin/env python3
"""Does the cost of `ctl stop` grow with the machine?  One service stopped
with the machine as it is, and with 2,000 more processes of the same user,
in the cron mode and in the supervised mode, side by side.

Why this exists: the cron mode's stop looks for what the service left
behind by its mark in every process of the service's user, so it costs
more on a crowded machine (the issue saw 27 ms with 70 processes and
137 ms with 2,070); a keeper knows the family of the programs it started
(their descendants, and its own children as their subreaper) and should
not look further.

Method.  Three services of this checkout, each with a generated script
shaped as the recipe writes it (bench_control.OursScript: the settings as
a literal, then ``main()``), program ``/bin/sleep TAG``:

  * cron -- ``supervise = false``;
  * supervised -- ``supervise = true``, in a pid dir whose keeper also
    keeps a second service (started once, left running), so the keeper
    lives on: the stop of one service of a buildout;
  * supervised, last -- ``supervise = true`` alone in its pid dir: the
    keeper ends with the stop, and the command waits for that.

Round after round (--runs, default 15, after one untimed warm-up round),
in both conditions in alternating order:

  * machine -- the machine as it is (the bench notes how many processes);
  * crowd -- --crowd more processes (default 2,000) of the bench's user,
    ``sleep`` children of the bench spawned before the round's stops and
    killed (and reaped) after them;

each service, in an order rotated from round to round, is started
(untimed), then its ``bin/NAMEctl stop`` is timed from Popen to wait
(bench_control.Controller.run) and the program checked gone.  A
``python -c pass`` on the same interpreter is timed the same way in each
condition: what the crowd costs any command (process creation, the
kernel's own lists), not ours.  The report
gives the medians, the growth (crowd - machine) and its ratio, and the
median number of processes on the machine and of the user at the stops.
Everything started is stopped at the end, also on Ctrl-C, SIGTERM or
SIGHUP.  Runs on bench/.scratch/venv's Python (bench_control.py makes it;
made here if missing).

Usage:  python3 bench/bench_stop.py [--runs 15] [--crowd 2000]
"""

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_control  # noqa: E402

MODES = ('cron', 'supervised', 'supervised, last')
BASELINE = 'python -c pass'         # what the crowd costs any command
CONDITIONS = ('machine', 'crowd')


class Crowd:
    """``count`` sleeping children of the bench, of its user."""

    def __init__(self, count):
        self.count, self.pids = count, []
        self.argv = [bench_control.SLEEP, '900.%d' % os.getpid()]   # gone in 15 min anyway

    def spawn(self):
        for _ in range(self.count):
            self.pids.append(os.posix_spawn(self.argv[0], self.argv, os.environ))

    def kill(self):
        """KILL and reap every one, also one spawned as Ctrl-C came (not
        yet in the list): found by its command line."""
        strays = [pid for pid, argv in bench_control.processes_with(self.argv[1]).items()
                  if argv == self.argv]
        pids = set(self.pids) | set(strays)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pids = []


def processes():
    """(processes on the machine, processes of our user)."""
    total = mine = 0
    uid = os.getuid()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            total += 1
            try:
                mine += os.stat('/proc/' + entry).st_uid == uid
            except OSError:
                pass
    return total, mine


def bench(args, work):
    tag = '3700.%d' % (os.getpid() % 100000)
    made = {
        'cron': bench_control.OursScript(work / 'cron', tag + '1'),
        'supervised': bench_control.OursScript(work / 'kept', tag + '2', supervise=True),
        'supervised, last': bench_control.OursScript(work / 'last', tag + '3',
                                                     supervise=True),
    }
    neighbour = bench_control.OursScript(work / 'kept', tag + '4', supervise=True,
                                         name='neighbour')
    crowd = Crowd(args.crowd)
    times = {(mode, c): [] for mode in MODES + (BASELINE,) for c in CONDITIONS}
    counts = {c: [] for c in CONDITIONS}
    everyone = list(made.values()) + [neighbour]
    try:
        for ctl in everyone:
            ctl.tmp.mkdir(exist_ok=True)
            ctl.prepare()
        neighbour.run('start')
        for round_no in range(args.runs + 1):       # round 0 is the warm-up
            order = CONDITIONS if round_no % 2 == 0 else CONDITIONS[::-1]
            for condition in order:
                if condition == 'crowd':
                    crowd.spawn()
                try:
                    shift = round_no % len(MODES)
                    for mode in MODES[shift:] + MODES[:shift]:
                        ctl = made[mode]
                        ctl.run('start')
                        pid = bench_control.sleep_pid(ctl.tag)
                        if not pid:
                            raise bench_control.CommandFailed('%s: no program after start'
                                                              % mode)
                        if round_no:
                            counts[condition].append(processes())
                        seconds = ctl.run('stop')
                        if round_no:
                            times[(mode, condition)].append(seconds)
                        if bench_control.proc_state(pid) not in (None, 'Z'):
                            raise bench_control.CommandFailed('%s: program %d survived stop'
                                                              % (mode, pid))
                    started = time.perf_counter()
                    bench_control.wait_blocking(subprocess.Popen(
                        [str(bench_control.VPY), '-c', 'pass'], env=bench_control.clean_env()))
                    if round_no:
                        times[(BASELINE, condition)].append(time.perf_counter() - started)
                finally:
                    crowd.kill()
            print('round %d/%d done' % (round_no, args.runs), file=sys.stderr)
    finally:
        crowd.kill()
        for ctl in everyone:
            try:
                ctl.close()
            except Exception as e:
                print('cleanup of %s: %s' % (ctl.label, e), file=sys.stderr)
            bench_control.kill_tagged(ctl.tag)
    return times, counts


def report(args, times, counts):
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    print('command:  %s' % ' '.join([sys.executable] + sys.argv))
    print('python:   %s   nproc: %d   kernel: %s   load: %s' % (
        platform.python_version(), os.cpu_count(), platform.release(),
        ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('runs:     %d rounds (+1 warm-up), conditions alternated, modes rotated' % args.runs)
    for condition in CONDITIONS:
        print('%-8s  %d processes on the machine, %d of our user (medians at the stops)' % (
            condition + ':', statistics.median(c[0] for c in counts[condition]),
            statistics.median(c[1] for c in counts[condition])))
    print()
    print('median wall-clock ms of `bin/NAMEctl stop`')
    print('%-18s %9s %9s %10s %7s' % ('mode', 'machine', 'crowd', 'growth', 'ratio'))
    for mode in MODES + (BASELINE,):
        base, crowded = ms[(mode, 'machine')], ms[(mode, 'crowd')]
        print('%-18s %9.1f %9.1f %+10.1f %6.2fx' % (mode, base, crowded, crowded - base,
                                                    crowded / base))
    print()
    print('spread (min / max ms)')
    for mode in MODES + (BASELINE,):
        print('%-18s %s' % (mode, '   '.join(
            '%s %.1f / %.1f' % (c, min(times[(mode, c)]) * 1000, max(times[(mode, c)]) * 1000)
            for c in CONDITIONS)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=15)
    p.add_argument('--crowd', type=int, default=2000,
                   help='processes added for the crowded condition')
    args = p.parse_args()
    if args.runs < 1:
        p.error('--runs must be at least 1')
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    bench_control.ensure_venv()
    bench_control.compile_ours()
    work = Path(tempfile.mkdtemp(prefix='bench-stop-'))
    try:
        times, counts = bench(args, work)
    except KeyboardInterrupt:
        print('interrupted; every process the bench started has been stopped', file=sys.stderr)
        return 130
    except bench_control.CommandFailed as e:
        print('failed: %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, times, counts)
    return 0


if __name__ == '__main__':
    sys.exit(main())
