"""``from buildout_script import Daemon``: a script that daemonizes itself."""

import os
import subprocess
import sys
import textwrap

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, %(repo)r)
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


def run(tmp_path, *args):
    return subprocess.run([sys.executable, 'worker.py', *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def make_script(tmp_path):
    (tmp_path / 'worker.py').write_text(SCRIPT % {'repo': REPO})


def test_start_returns_inside_the_daemon_and_status_agrees_with_ctl(tmp_path):
    make_script(tmp_path)
    started = run(tmp_path, 'start')
    try:
        assert started.returncode == 0, started.stderr
        pid = int((tmp_path / 'var' / 'run' / 'worker.pid').read_text())
        assert started.stdout == 'worker started (pid %d)\n' % pid
        daemon = psutil.Process(pid)
        assert daemon.cwd() == '/'
        assert os.getsid(pid) != os.getsid(0)
        assert run(tmp_path, 'status').stdout == 'running %d 0\n' % pid
        ctl = subprocess.run(
            [sys.executable, '-m', 'buildout_script.ctl', '--name', 'worker', 'status'],
            cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO),
            capture_output=True, text=True)
        assert (ctl.returncode, ctl.stdout.split('(')[0]) == (0, 'worker is running ')
        again = run(tmp_path, 'start')
        assert again.stdout == 'worker is already running (pid %d)\n' % pid
        log = (tmp_path / 'var' / 'log' / 'worker.log').read_text()
        assert 'working in worker.py\n' in log and 'oops on stderr\n' in log
    finally:
        stopped = run(tmp_path, 'stop')
    assert stopped.returncode == 0
    assert not psutil.pid_exists(pid) or daemon.status() == psutil.STATUS_ZOMBIE
    assert run(tmp_path, 'status').returncode == 3


def test_spawn_child_is_untracked_and_ends_after_its_timeout(tmp_path):
    make_script(tmp_path)
    assert run(tmp_path, 'start').returncode == 0
    pid = int((tmp_path / 'var' / 'run' / 'worker.pid').read_text())
    try:
        assert run(tmp_path, 'spawn').returncode == 0
        log = tmp_path / 'var' / 'log' / 'worker.log'
        deadline = psutil.time.monotonic() + 20
        while 'child copy' not in log.read_text():
            assert psutil.time.monotonic() < deadline
            psutil.time.sleep(0.01)
        copy = psutil.Process(int(log.read_text().split('child copy ')[1].split()[0]))
        assert copy.cmdline()[-1:] == ['spawn']
        copy.wait(timeout=10)
        assert run(tmp_path, 'status').returncode == 0
    finally:
        run(tmp_path, 'stop')
