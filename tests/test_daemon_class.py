"""``from buildout_script import Daemon``: a script that daemonizes itself."""

import os
import sys
import textwrap

import pytest

import support
from support import Ctl, gone, proc, wait_for

pytestmark = support.linux_only

SCRIPT = textwrap.dedent('''
    import sys, time
    from buildout_script import Daemon
    daemon = Daemon(name='worker', pid_dir='var/run', catch_all_log='var/log/')
    action = sys.argv[1]
    if action == 'start':
        daemon.start()
        print('working in', sys.argv[0], flush=True)
        print('oops on stderr', file=sys.stderr, flush=True)
        time.sleep(300)
    elif action == 'spawn':
        if daemon.spawn_child(timeout=1):       # the caller exits, as in supay
            import os
            print('child copy', os.getpid(), flush=True)
            time.sleep(300)
    elif action == 'stop':
        sys.exit(daemon.stop().code)
    else:
        status = daemon.status(verbose=False)
        print(status.state, status.pid, status.code)
        sys.exit(status.code)
''')


@pytest.fixture
def worker(cleanup, tmp_path):
    """Run worker.py (the script above) with arguments, in tmp_path."""
    (tmp_path / 'worker.py').write_text(SCRIPT)
    return lambda *args: cleanup.run([sys.executable, 'worker.py', *args])


def test_start_returns_inside_the_daemon_and_status_agrees_with_ctl(worker, cleanup,
                                                                     tmp_path):
    started = worker('start')
    assert started.returncode == 0, started.stderr
    pid = int((tmp_path / 'var' / 'run' / 'worker.pid').read_text())
    assert started.stdout == 'worker started (pid %d)\n' % pid
    daemon = proc(pid)
    assert daemon.cwd() == '/'
    assert os.getsid(pid) != os.getsid(0)
    assert worker('status').stdout == 'running %d 0\n' % pid
    ctl = Ctl(cleanup, tmp_path, name='worker', pid_dir=None, log_dir=None)  # defaults
    r = ctl.run('status')
    assert (r.code, r.out.split('(')[0]) == (0, 'worker is running ')
    again = worker('start')
    assert again.stdout == 'worker is already running (pid %d)\n' % pid
    log = (tmp_path / 'var' / 'log' / 'worker.log').read_text()
    assert 'working in worker.py\n' in log and 'oops on stderr\n' in log

    stopped = worker('stop')
    assert stopped.returncode == 0
    assert gone(daemon)
    assert worker('status').returncode == 3


def test_spawn_child_is_untracked_and_ends_after_its_timeout(worker, tmp_path):
    assert worker('start').returncode == 0
    assert worker('spawn').returncode == 0
    log = tmp_path / 'var' / 'log' / 'worker.log'
    assert wait_for(lambda: 'child copy' in log.read_text(), timeout=20)
    copy = proc(int(log.read_text().split('child copy ')[1].split()[0]))
    assert copy.cmdline()[-1:] == ['spawn']
    copy.wait(timeout=10)
    assert worker('status').returncode == 0
