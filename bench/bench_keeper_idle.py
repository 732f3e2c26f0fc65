#!/usr/bin/env python3
"""What a keeper costs while all is well: its RSS, and the CPU time it uses
over a minute with a quiet program (it should not wake at all).

    python3 bench/bench_keeper_idle.py [--seconds 60]

Starts a supervised ``sleep`` service from this checkout in a temp dir,
reads /proc/KEEPER/status (VmRSS) and /proc/KEEPER/stat (utime + stime)
before and after the idle time, and the number of times it was scheduled
(voluntary context switches), then stops the service.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def status_field(pid, name):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(name + ':'):
                return line.split()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=60)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix='bench-idle-')
    ctl = [sys.executable, '-m', 'buildout_script.ctl', '--name', 'idle', '--program',
           'sleep 100000', '--supervise', '--pid-dir', work + '/run', '--log-dir',
           work + '/log']
    env = dict(os.environ, PYTHONPATH=ROOT)
    try:
        done = subprocess.run(ctl + ['start'], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit('start failed: ' + done.stdout + done.stderr)
        with open(os.path.join(work, 'run', 'idle.keeper')) as f:
            keeper = int(f.read().split()[1])
        time.sleep(1)
        cpu0 = cpu_seconds(keeper)
        switches0 = int(status_field(keeper, 'voluntary_ctxt_switches'))
        time.sleep(a.seconds)
        cpu = cpu_seconds(keeper) - cpu0
        switches = int(status_field(keeper, 'voluntary_ctxt_switches')) - switches0
        rss = int(status_field(keeper, 'VmRSS')) / 1024
        print('keeper pid %d, python %s' % (keeper, sys.version.split()[0]))
        print('RSS %.1f MiB; CPU %.2f s over %gs idle; woken %d times'
              % (rss, cpu, a.seconds, switches))
    finally:
        subprocess.run(ctl + ['stop'], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
