"""Scripts written for supay run unchanged with ``import buildout_script as
supay``: its README's examples and the shape of its tests/test_script.py
(start, status, spawn, stop), each action a separate process as its users
ran them.  The scripts are ours, written in the shape supay's docs show.

Where supay's examples use the shared /tmp or the system's /var/run and
/var/log, the names get a suffix of this test run, so that runs side by side
do not meet, and the files are removed at the end.
"""

import os
import pwd
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import support
from support import alive, gone, proc, wait_for

# Linux only; orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = [support.linux_only, pytest.mark.usefixtures('subreaper')]

# supay's tests/test_script.py, in its shape: a module-level Daemon, one
# function per action, optparse picking the action.
TEST_SCRIPT = '''\
import optparse
import os
from time import sleep

import buildout_script as supay

daemon = supay.Daemon(name=%(name)r, catch_all_log=%(dir)r, pid_dir=%(dir)r)


def run():
    daemon.start()
    print('daemon at work', flush=True)
    while True:
        sleep(5)


def stop():
    daemon.stop()


def spawn():
    daemon.spawn_child()
    print('spawned copy', os.getpid(), flush=True)
    sleep(1)


def status():
    daemon.status()


def main():
    p = optparse.OptionParser()
    options, arguments = p.parse_args()
    if arguments[0] == 'start':
        run()
    if arguments[0] == 'stop':
        stop()
    if arguments[0] == 'spawn':
        spawn()
    if arguments[0] == 'status':
        status()


if __name__ == '__main__':
    main()
'''

# supay's README: Start, Stop, Spawn and Status put together, with its defaults.
README_SCRIPT = '''\
import os
import sys
import time

from buildout_script import Daemon


def do_something():
    print('did something', os.getpid(), flush=True)
    time.sleep(0.5)


def run():
    daemon = Daemon(name=%(name)r)
    daemon.start()
    while True:
        do_something()


def stop():
    daemon = Daemon(name=%(name)r)
    daemon.stop()


daemon = Daemon(name=%(name)r)


def spawn():
    daemon.spawn_child()
    do_something()  # and then expire!


def status():
    daemon.status()


{'start': run, 'stop': stop, 'spawn': spawn, 'status': status}[sys.argv[1]]()
'''


NOBODY_PYTHON = support.python_for_nobody() if sys.platform.startswith('linux') else None
needs_nobody = pytest.mark.skipif(NOBODY_PYTHON is None,
                                  reason='needs root, user nobody, runuser and a Python'
                                         ' >= 3.10 that nobody can run')
needs_root = support.needs_root


class Script:
    """A supay-style script in a directory every user can reach."""

    def __init__(self, cleanup, source, **names):
        self.cleanup = cleanup
        self.dir = cleanup.mkdtemp()
        self.path = self.dir / 'script.py'
        self.path.write_text(source % names)
        self.path.chmod(0o644)

    def run(self, action, user=None):
        """(exit code, stdout, stderr) of ``python script.py ACTION``."""
        env = {'PYTHONPATH': support.python_path(), support.MARK: str(self.cleanup.tmp)}
        if support.PSUTIL:
            env['BUILDOUT_SCRIPT_PSUTIL'] = '1'
        if user:
            argv = ['runuser', '-u', user, '--', 'env'] + [
                '%s=%s' % kv for kv in env.items()] + [NOBODY_PYTHON]
        else:
            argv = [sys.executable]
        done = subprocess.run(argv + [str(self.path), action], cwd=str(self.dir),
                              env=dict(os.environ, **env), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        assert 'Traceback' not in done.stdout + done.stderr, done
        return done.returncode, done.stdout, done.stderr


def sticky_dir(cleanup):
    """A directory like /tmp (everyone may write, sticky) of this test's own."""
    path = cleanup.mkdtemp() / 'tmp'
    path.mkdir()
    path.chmod(0o1777)
    return path


def copy_in(log, word='spawned copy'):
    """The PID a spawned copy wrote into the log."""
    found = wait_for(lambda: word in log.read_text() and log.read_text())
    assert found, 'the copy never wrote to %s' % log
    return int(found.split(word)[-1].split()[0])


def ends_by_itself(pid):
    """True once the process is gone (a zombie counts as gone)."""
    p = proc(pid)
    return p is None or wait_for(lambda: gone(p), timeout=30)


def forget(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def state_files(directory, name):
    return [Path(directory, name + suffix) for suffix in
            ('.pid', '.identity', '.lock', '.stopped', '.restarts', '.log')]


def test_supay_test_script_start_status_spawn_stop(cleanup):
    tmp = sticky_dir(cleanup)
    script = Script(cleanup, TEST_SCRIPT, name='testScript', dir=str(tmp))
    pid_file, log = tmp / 'testScript.pid', tmp / 'testScript.log'

    assert script.run('status') == (0, 'testScript process is not running.\n', '')
    code, out, err = script.run('start')
    assert (code, err) == (0, '')
    pid = int(pid_file.read_text())
    assert out == 'testScript started (pid %d)\n' % pid
    daemon = proc(pid)
    assert alive(daemon) and daemon.cwd() == '/'
    assert script.run('status') == (
        0, 'testScript process is running with PID: %d\n' % pid, '')

    assert script.run('spawn') == (0, '', '')       # the caller returns at once
    copy = copy_in(log)
    assert copy != pid and int(pid_file.read_text()) == pid
    assert ends_by_itself(copy), 'the spawned copy did not end'
    assert alive(daemon)

    assert script.run('stop') == (0, 'testScript stopped (pid %d)\n' % pid, '')
    assert wait_for(lambda: gone(daemon))
    assert not pid_file.exists()
    assert script.run('status') == (0, 'testScript process is not running.\n', '')
    text = log.read_text()
    assert 'testScript started (pid %d)\ndaemon at work\n' % pid in text


def test_spawn_child_timeout_ends_a_copy_that_would_run_on(cleanup):
    tmp = sticky_dir(cleanup)
    source = TEST_SCRIPT.replace('daemon.spawn_child()', 'daemon.spawn_child(timeout=1)')
    source = source.replace('    sleep(1)\n', '    sleep(300)\n')
    script = Script(cleanup, source, name='testScript', dir=str(tmp))
    assert script.run('spawn') == (0, '', '')
    copy = copy_in(tmp / 'testScript.log')
    assert not (tmp / 'testScript.pid').exists()
    assert ends_by_itself(copy), 'the copy outlived its timeout'


@needs_root
def test_readme_examples_with_supays_defaults(cleanup):
    """As root: /var/run/NAME.pid and /var/log/NAME.log, as supay wrote them."""
    name = 'thisScript-%s' % uuid.uuid4().hex[:8]
    script = Script(cleanup, README_SCRIPT, name=name)
    pid_file, log = Path('/var/run', name + '.pid'), Path('/var/log', name + '.log')
    try:
        code, out, err = script.run('start')
        assert (code, err) == (0, '')
        pid = int(pid_file.read_text())
        assert out == '%s started (pid %d)\n' % (name, pid)
        assert script.run('status') == (
            0, '%s process is running with PID: %d\n' % (name, pid), '')
        assert script.run('spawn') == (0, '', '')
        copies = wait_for(lambda: [
            int(line.split()[-1]) for line in log.read_text().splitlines()
            if line.startswith('did something') and int(line.split()[-1]) != pid])
        assert copies and ends_by_itself(copies[0])
        assert script.run('stop') == (0, '%s stopped (pid %d)\n' % (name, pid), '')
        assert not pid_file.exists()
        assert 'did something %d\n' % pid in log.read_text()
    finally:
        script.run('stop')
        forget(*state_files('/var/run', name), log)


@needs_root
def test_readme_catch_all_log_and_log_false(cleanup):
    base = cleanup.mkdtemp()
    (base / 'logs').mkdir()
    source = '''\
import sys
from buildout_script import Daemon
home = %(home)r
daemons = {
    'paths': Daemon(name='myScript', pid_dir=home, stdin=home + '/logs',
                    stdout=home + '/logs', stderr=home + '/logs'),
    'file': Daemon(name='myScript', pid_dir=home, catch_all_log=home + '/all.log'),
    'nolog': Daemon(log=False),
}
for key, d in sorted(daemons.items()):
    print(key, d.name, d.pid, d.stdin, d.stdout, d.stderr)
'''
    script = Script(cleanup, source, home=str(base))
    code, out, err = script.run('show')
    assert (code, err) == (0, '')
    lines = dict(line.split(' ', 1) for line in out.splitlines())
    logs = base / 'logs' / 'myScript.log'
    assert lines['paths'] == 'myScript %s %s %s %s' % (base / 'myScript.pid', logs, logs, logs)
    assert lines['file'] == 'myScript %s %s %s %s' % (
        base / 'myScript.pid', os.devnull, base / 'all.log', base / 'all.log')
    assert lines['nolog'] == 'PythonDaemon /var/run/PythonDaemon.pid %s %s %s' % (
        (os.devnull,) * 3)


@needs_nobody
def test_an_ordinary_user_gets_one_line_for_supays_root_defaults(cleanup):
    name = 'thisScript-%s' % uuid.uuid4().hex[:8]
    script = Script(cleanup, README_SCRIPT, name=name)
    for action in ('start', 'stop', 'spawn'):
        code, out, err = script.run(action, user='nobody')
        assert code == 1, (action, out, err)
        assert len(err.splitlines()) == 1, err
        assert err.startswith(name + ': ') and ('/var/run' in err or '/var/log' in err)
        assert 'pid_dir' in err or 'catch_all_log' in err
    assert not Path('/var/run', name + '.pid').exists()


@needs_nobody
def test_an_ordinary_user_runs_supays_test_script_in_tmp(cleanup):
    """supay's own example, pid_dir='/tmp' and catch_all_log='/tmp'."""
    name = 'testScript-%s' % uuid.uuid4().hex[:8]
    script = Script(cleanup, TEST_SCRIPT, name=name, dir='/tmp')
    pid_file = Path('/tmp', name + '.pid')
    nobody = pwd.getpwnam('nobody').pw_uid
    try:
        code, out, err = script.run('start', user='nobody')
        assert (code, err) == (0, ''), out
        pid = int(pid_file.read_text())
        assert pid_file.stat().st_uid == nobody
        assert proc(pid).uids().real == nobody
        assert script.run('status', user='nobody') == (
            0, '%s process is running with PID: %d\n' % (name, pid), '')
        assert script.run('spawn', user='nobody') == (0, '', '')
        assert ends_by_itself(copy_in(Path('/tmp', name + '.log')))
        assert script.run('stop', user='nobody') == (
            0, '%s stopped (pid %d)\n' % (name, pid), '')
        assert not pid_file.exists()
    finally:
        script.run('stop', user='nobody')
        forget(*state_files('/tmp', name))


@needs_nobody
def test_a_state_file_someone_else_left_in_a_sticky_dir_is_refused(cleanup):
    """root meets nobody's PID file in a /tmp-like directory: one line, no
    signal sent; its owner still controls it."""
    tmp = sticky_dir(cleanup)
    script = Script(cleanup, TEST_SCRIPT, name='testScript', dir=str(tmp))
    assert script.run('start', user='nobody')[0] == 0
    daemon = proc(int((tmp / 'testScript.pid').read_text()))
    for action, expected in (('status', 4), ('stop', 1), ('start', 1)):
        code, out, err = script.run(action)
        assert (code, out) == (expected, ''), (action, err)
        assert err == 'testScript: %s belongs to nobody (uid %d), who could have forged' \
            ' it; refusing to trust it (remove it); or pass Daemon(pid_dir=DIR) a directory' \
            ' of yours\n' % (
                tmp / 'testScript.pid', daemon.uids().real), err
    assert alive(daemon)
    assert script.run('stop', user='nobody')[0] == 0
    assert wait_for(lambda: gone(daemon))


def test_a_pid_dir_that_cannot_be_made_is_one_line(cleanup):
    base = cleanup.mkdtemp()
    (base / 'file').write_text('')
    source = TEST_SCRIPT.replace('pid_dir=%(dir)r', 'pid_dir=%(dir)r + "/file/run"')
    script = Script(cleanup, source, name='testScript', dir=str(base))
    code, out, err = script.run('start')
    assert (code, out) == (1, '')
    assert err.startswith('testScript: cannot ') and len(err.splitlines()) == 1, err
    assert str(base / 'file' / 'run') in err


def test_errors_go_to_err_writer_as_one_line_and_exit_1(tmp_path):
    """supay's err_writer; checked before anything forks, so in-process."""
    import io
    from buildout_script import Daemon
    (tmp_path / 'file').write_text('')
    writer = io.StringIO()
    daemon = Daemon(name='testScript', pid_dir=str(tmp_path / 'file' / 'run'),
                    catch_all_log=str(tmp_path) + '/', err_writer=writer)
    with pytest.raises(SystemExit) as exit:
        daemon.start()
    assert exit.value.code == 1
    assert writer.getvalue().startswith('testScript: cannot use the pid dir %s'
                                        % (tmp_path / 'file' / 'run'))
    assert len(writer.getvalue().splitlines()) == 1


def test_mistakes_in_the_arguments_are_value_errors_that_name_them():
    from buildout_script import Daemon
    with pytest.raises(ValueError, match=r'^Daemon\(name=\.\.\.\): a service name'):
        Daemon(name='my script')
    with pytest.raises(ValueError, match='spawn_child'):
        Daemon(name='ok', pid_dir='/nonexistent').spawn_child(timeout=0)
