#!/usr/bin/env python3
"""What a keeper costs while all is well: the times it wakes and the CPU
time it uses over a minute of quiet programs (it should not wake at all),
next to supervisord, runit's runsv and zdaemon keeping as many.

    python3 bench/bench_keeper_idle.py [--services 20] [--seconds 60]
        [--only ours,supervisord,runsv,zdaemon] [--runsv PATH]

Method.  Every rival keeps --services quiet programs (``/bin/sleep TAG``),
all at the same time, so one minute of the machine is the same minute for
all:

  * ours -- that many supervised services in one pid dir, started with
    ``python -m buildout_script.ctl ... --supervise true start`` from this
    checkout (as bench_memory.py starts them): one keeper keeps them all;
  * supervisord -- one supervisord with that many ``[program:]`` sections
    and its control socket (as bench_memory.py starts it);
  * runsv -- one runsv per service (as runsvdir would run them), each on a
    service dir whose ``run`` execs the sleep;
  * zdaemon -- one ``zdaemon start`` (a zdrun) per service.

Once all are up, the bench waits 1 s, then reads for each process that
manages (ours: the keeper; the rivals: supervisord, each runsv, each
zdrun) the CPU time it used (utime + stime in /proc/PID/stat) and the
times it was scheduled (voluntary_ctxt_switches + nonvoluntary_ctxt_switches
in /proc/PID/task/*/status, every thread), sleeps --seconds, reads them
again and prints the differences, summed over each rival's processes, with
their PSS (/proc/PID/smaps_rollup).  A process that does nothing while all
is well wakes 0 times.  Then it stops everything (also on Ctrl-C, SIGTERM
or SIGHUP) and checks that nothing is left.  zdaemon and supervisor run
from bench/.scratch/venv (bench_control.py makes it; made here if
missing), ours on the same Python; runsv comes from runit (Debian:
apt-get install runit), skipped with the reason when it is missing.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_control  # noqa: E402
import bench_memory  # noqa: E402

VENV = bench_control.VENV
RIVALS = ('ours', 'supervisord', 'runsv', 'zdaemon')


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wake_ups(pid):
    """Times the threads of ``pid`` were scheduled (context switches)."""
    total = 0
    for task in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/status' % (pid, task)) as f:
            for line in f:
                if line.startswith(('voluntary_ctxt_switches:',
                                    'nonvoluntary_ctxt_switches:')):
                    total += int(line.split()[1])
    return total


class Runsv(bench_memory.Rival):
    label = 'runsv'

    def __init__(self, work, tag, exe):
        super().__init__(work, tag)
        self.exe, self.daemons = exe, []

    def start(self, count):
        self.count = count
        for i in range(1, count + 1):
            service = self.work / ('s%03d' % i)
            service.mkdir()
            (service / 'run').write_text('#!/bin/sh\nexec %s\n' % ' '.join(self.program(i)))
            (service / 'run').chmod(0o755)
            with open(service / 'runsv.log', 'wb') as errors:
                self.daemons.append(subprocess.Popen(
                    [self.exe, str(service)], stdin=subprocess.DEVNULL, stdout=errors,
                    stderr=errors, start_new_session=True))
        if not bench_memory.wait_until(lambda: len(self.programs(None)) == count, 30):
            raise bench_memory.Failed('runsv: not all %d programs ran' % count)

    def programs(self, lines):
        return bench_memory.tagged_sleeps(self.tag, lines)

    def managers(self, lines):
        return [d.pid for d in self.daemons if d.poll() is None]

    def stop(self):
        self.count = 0
        for daemon in self.daemons:
            if daemon.poll() is None:
                daemon.terminate()          # runsv: as `sv exit`, the program TERMed
        for daemon in self.daemons:
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        self.daemons = []

    def clean_up(self):
        self.stop()
        super().clean_up()


class Zdaemon(bench_memory.Rival):
    label = 'zdaemon'

    def __init__(self, work, tag):
        super().__init__(work, tag)
        self.confs = []

    def zdaemon(self, conf, action):
        done = subprocess.run([str(VENV / 'bin' / 'zdaemon'), '-C', str(conf), action],
                              capture_output=True, text=True, timeout=60,
                              env=bench_control.clean_env())
        if action == 'start' and done.returncode != 0:
            raise bench_memory.Failed('zdaemon start: %s%s' % (done.stdout, done.stderr))

    def start(self, count):
        self.count = count
        for i in range(1, count + 1):
            conf = self.work / ('s%03d.conf' % i)
            conf.write_text(textwrap.dedent('''\
                <runner>
                  program %s
                  socket-name %s/s%03d.sock
                  transcript %s/s%03d.log
                </runner>
                ''') % (' '.join(self.program(i)), self.work, i, self.work, i))
            self.confs.append(conf)
        bench_memory.parallel(lambda conf=conf: self.zdaemon(conf, 'start')
                              for conf in self.confs)

    def managers(self, lines):
        """The zdrun processes: the parents of our programs (their command
        lines name our configuration)."""
        lines = bench_memory.command_lines() if lines is None else lines
        parents = set()
        for pid in self.programs(lines):
            try:
                with open('/proc/%d/stat' % pid) as f:
                    parents.add(int(f.read().rsplit(')', 1)[1].split()[1]))
            except OSError:
                pass
        return sorted(pid for pid in parents
                      if any(str(self.work) in a for a in lines.get(pid, ())))

    def stop(self):
        self.count = 0
        bench_memory.parallel(lambda conf=conf: self.zdaemon(conf, 'stop')
                              for conf in self.confs)
        self.confs = []

    def clean_up(self):
        if self.confs:
            self.stop()
        bench_memory.kill_pids(self.managers(None))
        super().clean_up()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--services', type=int, default=20)
    p.add_argument('--seconds', type=float, default=60)
    p.add_argument('--only', help='comma list of %s' % ','.join(RIVALS))
    p.add_argument('--runsv', help='path of runsv; default: PATH')
    a = p.parse_args()
    chosen = a.only.split(',') if a.only else list(RIVALS)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    bench_control.ensure_venv()
    bench_control.compile_ours()
    work = Path(tempfile.mkdtemp(prefix='bench-idle-'))
    tag = '7%04d.' % (os.getpid() % 10000)
    rivals, skipped = [], {}
    if 'ours' in chosen:
        rivals.append(bench_memory.Ours(work / 'ours', tag + '1', bench_control.REPO,
                                        'ours', 4))
    if 'supervisord' in chosen:
        rivals.append(bench_memory.Supervisord(work / 'supervisord', tag + '2'))
    if 'runsv' in chosen:
        exe = a.runsv or shutil.which('runsv')
        if exe:
            rivals.append(Runsv(work / 'runsv', tag + '3', exe))
        else:
            skipped['runsv'] = 'not found (apt-get install runit, or --runsv PATH)'
    if 'zdaemon' in chosen:
        rivals.append(Zdaemon(work / 'zdaemon', tag + '4'))
    rows = []
    try:
        for rival in rivals:
            rival.work.mkdir(parents=True)
            rival.start(a.services)
        time.sleep(1)
        lines = bench_memory.command_lines()
        managers = {r.label: r.managers(lines) for r in rivals}
        before = {pid: (cpu_seconds(pid), wake_ups(pid))
                  for pids in managers.values() for pid in pids}
        time.sleep(a.seconds)
        after = {pid: (cpu_seconds(pid), wake_ups(pid)) for pid in before}
        lines = bench_memory.command_lines()
        for rival in rivals:
            pids = managers[rival.label]
            running = len(rival.programs(lines))
            pss = sum((bench_memory.smaps_rollup(pid) or {}).get('Pss', 0) for pid in pids)
            rows.append((rival.label, len(pids), running,
                         sum(after[pid][1] - before[pid][1] for pid in pids),
                         sum(after[pid][0] - before[pid][0] for pid in pids),
                         pss / bench_memory.MiB))
    except KeyboardInterrupt:
        print('interrupted; stopping everything started', file=sys.stderr)
        return 130
    except bench_memory.Failed as e:
        print('failed: %s' % e, file=sys.stderr)
        return 1
    finally:
        for rival in rivals:
            rival.clean_up()
        left = bench_memory.tagged_sleeps(tag)
        if left:
            print('left running after the stops (killed): %s' % left, file=sys.stderr)
            bench_memory.kill_pids(left)
        shutil.rmtree(work, ignore_errors=True)
    print('command: %s' % ' '.join([sys.executable] + sys.argv))
    print('python %s (venv); %d services each; %gs idle; load %s' % (
        sys.version.split()[0], a.services, a.seconds,
        ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('%-12s %9s %9s %9s %8s %8s' % ('rival', 'managers', 'programs', 'wake-ups',
                                         'CPU s', 'PSS MiB'))
    for row in rows:
        print('%-12s %9d %9d %9d %8.2f %8.1f' % row)
    for label, why in skipped.items():
        print('%-12s skipped: %s' % (label, why))
    ours = [row for row in rows if row[0] == 'ours']
    if ours:
        met = ours[0][3] == 0 and ours[0][4] < 0.005
        print('target, ours: 0 wake-ups and 0.00 s CPU: %s' % ('met' if met else 'NOT met'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
