"""``python -m buildout_script.ctl`` against real processes.

Every test runs ctl as a subprocess in its own tmp_path and leaves nothing
running (see support.Cleanup).  No assertion is about speed: waits have
generous deadlines only so that a broken build fails instead of hanging.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request

import psutil
import pytest

import support
from support import Ctl, alive, gone, proc, program, script, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='drives /proc and process groups (Linux)')


@pytest.fixture(scope='module', autouse=True)
def subreaper():
    """Orphaned daemons become our children, so their zombies can be reaped."""
    became = support.become_subreaper()
    yield
    if became:
        support.reap_orphans()
        support.stop_being_subreaper()


@pytest.fixture
def cleanup(tmp_path):
    c = support.Cleanup(tmp_path)
    try:
        yield c
    finally:
        c.finish()


@pytest.fixture
def service(cleanup, tmp_path):
    """A factory of Ctl objects for this test (default program: sleep 300)."""
    def make(program=None, name='svc', **options):
        return Ctl(cleanup, tmp_path, name=name,
                   program=program or support.program('sleep', '300'), **options)
    return make


# -- programs ------------------------------------------------------------------------------

# Records every catchable signal it gets (one name a line) in OUT; exits on
# those listed in argv[2].  OUT.ready appears once the handlers are in place.
RECORDER = '''
import os, signal, sys, time
out = sys.argv[1]
exit_on = set(filter(None, (sys.argv[2] if len(sys.argv) > 2 else '').split(',')))
def got(num, frame):
    name = signal.Signals(num).name
    with open(out, 'a') as f:
        f.write(name + '\\n')
    if name in exit_on:
        os._exit(0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, got)
open(out + '.ready', 'w').close()
while True:
    time.sleep(1)
'''

# Ignores TERM; forks a child that forks a grandchild (which leaves the
# process group with setsid when argv[2] says so); each writes "ROLE PID".
TREE = '''
import os, signal, sys, time
out, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def report(role):
    with open(out, 'a') as f:
        f.write('%s %d\\n' % (role, os.getpid()))
if os.fork() == 0:
    if os.fork() == 0:
        if mode == 'setsid':
            os.setsid()
        report('grandchild')
    else:
        report('child')
else:
    report('leader')
while True:
    time.sleep(1)
'''

# A leader with one worker in its process group; both write "ROLE PID".
WORKERS = '''
import os, sys, time
out = sys.argv[1]
role = 'worker' if os.fork() == 0 else 'leader'
with open(out, 'a') as f:
    f.write('%s %d\\n' % (role, os.getpid()))
while True:
    time.sleep(1)
'''

# Listens on 127.0.0.1:PORT after DELAY seconds.
LISTENER = '''
import socket, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
'''

# Creates FILE after DELAY seconds, then waits.
CREATOR = '''
import sys, time
time.sleep(float(sys.argv[2]))
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# One line to stdout, then one to stderr, then FLAG; then waits.
PRINTER = '''
import sys, time
print('out-line', flush=True)
print('err-line', file=sys.stderr, flush=True)
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# Writes what it was started with (cwd, umask, env, argv) to OUT as JSON.
DUMPER = '''
import json, os, sys, time
mask = os.umask(0)
os.umask(mask)
facts = {'cwd': os.getcwd(), 'umask': mask, 'argv': sys.argv[2:],
         'greeting': os.environ.get('GREETING')}
with open(sys.argv[1] + '.tmp', 'w') as f:
    json.dump(facts, f)
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    time.sleep(1)
'''


def py(tmp_path, name, source, *args):
    """A --program that runs ``source`` (saved in tmp_path) with ``args``."""
    return program(sys.executable, script(tmp_path, name, source), *args)


def roles(path, count, allow_gone=False):
    """{role: psutil.Process} once ``count`` lines are in ``path`` (a role
    whose process has already gone is None if ``allow_gone``)."""
    def read():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= count else None
    lines = wait_for(read)
    assert lines, 'the program did not report its processes in %s' % path
    found = {}
    for line in lines:
        role, pid = line.split()
        found[role] = proc(int(pid))
        assert allow_gone or found[role] is not None, line
    return found


def recorder(tmp_path, out, exit_on='SIGTERM,SIGINT'):
    """A service program that records signals; ready once its handlers are."""
    return dict(program=py(tmp_path, 'recorder.py', RECORDER, out, exit_on),
                ready='exec:' + program('test', '-e', '%s.ready' % out))


def started_here(directory):
    """Live processes (not ctl itself) whose working directory is ``directory``."""
    found = []
    for p in psutil.process_iter(['cwd', 'status', 'cmdline']):
        if (p.info['cwd'] == str(directory) and p.info['status'] != psutil.STATUS_ZOMBIE
                and 'buildout_script.ctl' not in (p.info['cmdline'] or [])):
            found.append(p)
    return found


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# == 1. identity: act only on the process we started ===========================================

@pytest.mark.parametrize('forged', [False, True], ids=['no-identity', 'forged-identity'])
def test_pid_file_of_a_stranger_is_never_signalled(service, cleanup, tmp_path, forged):
    out = tmp_path / 'stranger.signals'
    stranger = cleanup.popen([sys.executable, str(script(tmp_path, 'stranger.py', RECORDER)),
                              str(out), ''])
    assert wait_for(lambda: os.path.exists('%s.ready' % out))
    svc = service(reload_signal='HUP')
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('%d\n' % stranger.pid)
    if forged:
        boot = open('/proc/sys/kernel/random/boot_id').read().strip()
        svc.identity_file.write_text('%d %d %s group\n' % (
            stranger.pid, support.start_ticks(stranger.pid) + 1, boot))

    r = svc.run('status')
    assert r.code == 1, r
    assert 'not running' in r.out and 'PID file' in r.out, r
    for action, code in ((('kill', 'TERM'), 7), (('reload',), 7), (('pid',), 1)):
        r = svc.run(*action)
        assert r.code == code, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert not svc.pid_file.exists()

    assert stranger.poll() is None, 'the stranger was killed'
    assert not out.exists(), 'the stranger got %s' % out.read_text()


def test_start_beside_a_stranger_pid_file_starts_ours_and_spares_it(service, cleanup,
                                                                      tmp_path):
    out = tmp_path / 'stranger.signals'
    stranger = cleanup.popen([sys.executable, str(script(tmp_path, 'stranger.py', RECORDER)),
                              str(out), ''])
    assert wait_for(lambda: os.path.exists('%s.ready' % out))
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('%d\n' % stranger.pid)
    ours = svc.start_ok()
    assert ours.pid != stranger.pid
    assert svc.run('stop').code == 0
    assert gone(ours)
    assert stranger.poll() is None and not out.exists()


def test_forged_start_time_makes_status_dead_and_stop_harmless(service, tmp_path):
    # A stranger (it does not carry the service's mark) whose PID the record
    # names, with a start time one tick off: a reused PID.
    import shlex
    out = tmp_path / 'signals'
    svc = service()
    stranger = svc.cleanup.popen(shlex.split(recorder(tmp_path, out, exit_on='')['program']))
    wait_for(lambda: os.path.exists('%s.ready' % out))
    p = proc(stranger.pid)
    boot = open('/proc/sys/kernel/random/boot_id').read().strip()
    svc.pid_dir.mkdir()
    svc.identity_file.write_text('%d %d %s group\n' % (p.pid, support.start_ticks(p.pid) + 1,
                                                        boot))
    svc.pid_file.write_text('%d\n' % p.pid)

    r = svc.run('status')
    assert r.code == 1, r
    assert 'not running' in r.out, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert alive(p), 'stop killed a process its identity does not name'
    assert not out.exists(), out.read_text()


def test_status_json_and_pid_name_the_started_process(service):
    svc = service()
    r = svc.run('status', '--json')
    assert r.code == 3
    assert json.loads(r.out)['state'] == 'stopped'
    p = svc.start_ok()
    r = svc.run('status', '--json')
    assert r.code == 0, r
    facts = json.loads(r.out)
    assert facts['state'] == 'running' and facts['pid'] == p.pid, facts
    r = svc.run('pid')
    assert (r.code, r.out) == (0, '%d\n' % p.pid), r
    r = svc.run('status')
    assert r.code == 0 and 'running' in r.out and str(p.pid) in r.out, r


# == 2. start confirms the exec and waits until ready ===========================================

def test_start_of_missing_program_exits_5_naming_it(service, tmp_path):
    missing = tmp_path / 'bin' / 'no-such-program'
    svc = service(program=program(missing, '--serve'))
    r = svc.run('start')
    assert r.code == 5, r
    assert str(missing) in one_line(r.err), r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert svc.run('status').code == 3


def test_start_of_non_executable_file_exits_5(service, tmp_path):
    plain = tmp_path / 'not-executable'
    plain.write_text('#!/bin/sh\nsleep 300\n')
    plain.chmod(0o644)
    svc = service(program=program(plain))
    r = svc.run('start')
    assert r.code == 5, r
    assert str(plain) in r.err, r
    assert not svc.pid_file.exists()


def test_start_in_missing_directory_exits_6(service, tmp_path):
    svc = service(directory=tmp_path / 'no-such-dir')
    r = svc.run('start')
    assert r.code == 6, r
    assert 'no-such-dir' in one_line(r.err), r
    assert not svc.pid_file.exists()


def test_program_dying_during_startup_fails_with_its_last_log_lines(service, tmp_path):
    svc = service(program=program(sys.executable, '-c',
                                  "import sys; print('boom-marker'); sys.exit(3)"),
                  ready='tcp:127.0.0.1:%d' % support.free_port())
    r = svc.run('start')
    assert r.code == 1, r
    assert 'boom-marker' in r.err, r
    assert 'status 3' in r.err, r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert svc.run('status').code == 3


def test_start_waits_for_tcp_readiness(service, tmp_path):
    port = support.free_port()
    svc = service(program=py(tmp_path, 'listener.py', LISTENER, port, 0.3),
                  ready='tcp:127.0.0.1:%d' % port)
    svc.start_ok()
    socket.create_connection(('127.0.0.1', port), timeout=10).close()


def test_start_waits_for_http_readiness(service, tmp_path):
    port = support.free_port()
    (tmp_path / 'index.html').write_text('hello')
    svc = service(program=program(sys.executable, '-m', 'http.server', '--bind',
                                  '127.0.0.1', port),
                  ready='http://127.0.0.1:%d/' % port)
    svc.start_ok()
    with urllib.request.urlopen('http://127.0.0.1:%d/index.html' % port, timeout=10) as r:
        assert r.status == 200 and r.read() == b'hello'


def test_start_waits_for_exec_readiness(service, tmp_path):
    flag = tmp_path / 'ready-flag'
    svc = service(program=py(tmp_path, 'creator.py', CREATOR, flag, 0.3),
                  ready='exec:' + program('test', '-e', flag))
    svc.start_ok()
    assert flag.exists()


def test_start_with_alive_probe_returns_a_live_program(service):
    svc = service(ready='alive:0.3')
    p = svc.start_ok()
    assert alive(p)
    assert svc.run('status').code == 0


def test_alive_probe_fails_a_program_that_exits_before_it(service, tmp_path):
    svc = service(program=program(sys.executable, '-c',
                                  'import time; time.sleep(0.1)'),
                  ready='alive:3')
    r = svc.run('start')
    assert r.code == 1, r
    assert not svc.pid_file.exists()


def test_start_never_ready_fails_and_stops_the_program(service, tmp_path):
    marker = str(tmp_path / 'never-ready.py')
    svc = service(program=py(tmp_path, 'never-ready.py', CREATOR, tmp_path / 'x', 300),
                  ready='tcp:127.0.0.1:%d' % support.free_port(), start_timeout=1)
    r = svc.run('start')
    assert r.code == 1, r
    assert 'not ready' in r.err, r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert wait_for(lambda: not support.running_with(marker)), 'left running'


def test_http_probe_not_ready_on_404(service, tmp_path):
    port = support.free_port()
    svc = service(program=program(sys.executable, '-m', 'http.server', '--bind',
                                  '127.0.0.1', port),
                  ready='http://127.0.0.1:%d/no-such-page' % port, start_timeout=1)
    r = svc.run('start')
    assert r.code == 1, r
    assert '404' in r.err, r
    assert not svc.pid_file.exists()
    assert wait_for(lambda: not started_here(tmp_path)), 'the server was left running'


def test_failed_start_leaves_no_worker_of_a_dead_leader(service, tmp_path):
    out = tmp_path / 'workers'
    source = WORKERS.replace("while True:", "if role == 'leader':\n"
                             "    time.sleep(0.2)\n    sys.exit(3)\nwhile True:")
    svc = service(program=py(tmp_path, 'workers.py', source, out),
                  ready='tcp:127.0.0.1:%d' % support.free_port())
    r = svc.run('start')
    assert r.code == 1, r
    assert not svc.pid_file.exists()
    worker = roles(out, 2, allow_gone=True)['worker']
    assert worker is not None
    assert wait_for(lambda: gone(worker), timeout=5), 'the worker outlived the failed start'


def test_garbage_pid_file_is_reported_not_guessed(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('not a pid\n')
    r = svc.run('status')
    assert r.code == 4, r
    assert str(svc.pid_file) in one_line(r.err), r
    r = svc.run('start')
    assert r.code == 1 and str(svc.pid_file) in one_line(r.err), r


def test_start_when_running_exits_0_and_keeps_the_pid(service):
    svc = service()
    p = svc.start_ok()
    r = svc.run('start')
    assert r.code == 0 and 'already running' in r.out, r
    assert svc.read_pid() == p.pid


# == 3. concurrent commands ============================================================================

def test_eight_concurrent_starts_leave_one_process(service, tmp_path):
    marker = str(tmp_path / 'one.py')
    svc = service(program=py(tmp_path, 'one.py', CREATOR, tmp_path / 'x', 300),
                  ready='alive:0.2')
    starts = [svc.popen('start') for _ in range(8)]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in starts]
    assert [code for code, _, _ in results] == [0] * 8, results
    assert not any('Traceback' in out + err for _, out, err in results)
    running = support.running_with(marker)
    assert [p.pid for p in running] == [svc.read_pid()], results


# == 4. stop: the whole process group, by schedule =======================================================

@pytest.mark.parametrize('mode', ['group', 'setsid'])
def test_stop_kills_children_and_grandchildren_ignoring_term(service, tmp_path, mode):
    tree = tmp_path / 'tree'
    svc = service(program=py(tmp_path, 'tree.py', TREE, tree, mode), stop_timeout=0.5)
    leader = svc.start_ok()
    family = roles(tree, 3)
    assert family['leader'].pid == leader.pid
    if mode == 'setsid':
        assert os.getpgid(family['grandchild'].pid) != leader.pid
    r = svc.run('stop')
    assert r.code == 0, r
    for role, p in family.items():
        assert gone(p), '%s %d survived the stop' % (role, p.pid)
    assert not svc.pid_file.exists()
    assert svc.run('status').code == 3


def test_stop_sends_the_configured_stop_signal(service, tmp_path):
    out = tmp_path / 'signals'
    svc = service(stop_signal='INT', **recorder(tmp_path, out, exit_on='SIGINT'))
    p = svc.start_ok()
    r = svc.run('stop')
    assert r.code == 0, r
    assert gone(p)
    assert out.read_text() == 'SIGINT\n'


def test_stop_counts_a_zombie_as_gone(service, tmp_path):
    """Here the stopped program stays a zombie (our subreaper reaps only at
    tear-down, like a busy or broken init): stop and status must not wait
    for it or call it running."""
    svc = service()
    p = svc.start_ok()
    os.kill(p.pid, signal.SIGKILL)
    assert wait_for(lambda: gone(p))
    r = svc.run('status')
    assert r.code == 1, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert svc.run('status').code == 3


def test_start_after_a_crash_stops_the_leftover_worker(service, tmp_path):
    out = tmp_path / 'workers'
    svc = service(program=py(tmp_path, 'workers.py', WORKERS, out))
    svc.start_ok()
    first = roles(out, 2)
    first['leader'].kill()
    assert wait_for(lambda: gone(first['leader']))
    assert alive(first['worker'])
    r = svc.run('status')
    assert r.code == 1, r
    out.unlink()
    svc.start_ok()
    assert wait_for(lambda: gone(first['worker'])), 'the old worker survived a new start'
    second = roles(out, 2)
    assert second['leader'].pid != first['leader'].pid


def test_stop_when_not_running_exits_0(service):
    svc = service()
    r = svc.run('stop')
    assert r.code == 0, r
    assert 'not running' in r.out
    r = svc.run('status')
    assert r.code == 3 and 'not running' in r.out, r


# == 5. state files ==========================================================================================

def test_pid_file_holds_the_bare_pid(service):
    svc = service()
    p = svc.start_ok()
    assert svc.pid_file.read_bytes() == b'%d\n' % p.pid
    assert svc.identity_file.read_text().split()[0] == str(p.pid)
    assert not [n for n in os.listdir(svc.pid_dir) if n.endswith('.tmp')]


def test_pid_file_hard_link_is_refused_not_written_through(service, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.write_text('precious\n')
    svc = service()
    svc.pid_dir.mkdir()
    other = tmp_path / 'stale.pid'
    other.write_text('999999\n')
    os.link(other, svc.pid_file)
    r = svc.run('start')                    # a hard link could be anyone's file
    assert r.code == 1 and 'hard links' in one_line(r.err), r
    assert other.read_text() == '999999\n'


def test_pid_file_symlink_is_not_followed(service, tmp_path):
    target = tmp_path / 'target'
    target.write_text('precious\n')
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.symlink_to(target)
    r = svc.run('start')
    assert r.code != 0, r
    assert 'symlink' in one_line(r.err) and str(svc.pid_file) in r.err, r
    assert target.read_text() == 'precious\n'
    assert svc.pid_file.is_symlink()
    assert not started_here(tmp_path)


def test_identity_symlink_is_replaced_not_followed(service, tmp_path):
    target = tmp_path / 'target'
    target.write_text('precious\n')
    svc = service()
    svc.pid_dir.mkdir()
    svc.identity_file.symlink_to(target)
    p = svc.start_ok()
    assert target.read_text() == 'precious\n'
    assert not svc.identity_file.is_symlink()
    assert svc.identity_file.read_text().split()[0] == str(p.pid)


def test_world_writable_pid_dir_without_sticky_bit_is_refused(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_dir.chmod(0o777)
    r = svc.run('start')
    assert r.code != 0, r
    assert str(svc.pid_dir) in one_line(r.err), r
    assert not svc.pid_file.exists()
    assert not started_here(svc.tmp)


def test_world_writable_pid_dir_with_sticky_bit_is_accepted(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_dir.chmod(0o1777)
    svc.start_ok()
    assert svc.run('stop').code == 0


# == 6. logs and descriptors ====================================================================================

def test_output_is_appended_to_the_log_never_truncated(service, tmp_path):
    flag = tmp_path / 'printed'
    svc = service(program=py(tmp_path, 'printer.py', PRINTER, flag),
                  ready='exec:' + program('test', '-e', flag))
    svc.log_dir.mkdir()
    svc.log.write_text('before-line\n')
    svc.start_ok()
    assert svc.run('stop').code == 0
    svc.start_ok()
    assert svc.run('stop').code == 0
    lines = svc.log.read_text().splitlines()
    assert lines == ['before-line', 'out-line', 'err-line', 'out-line', 'err-line'], lines


def test_stdout_and_stderr_go_to_separate_files(service, tmp_path):
    flag = tmp_path / 'printed'
    svc = service(program=py(tmp_path, 'printer.py', PRINTER, flag),
                  ready='exec:' + program('test', '-e', flag),
                  stdout='out.log', stderr=tmp_path / 'elsewhere' / 'err.log')
    svc.start_ok()
    assert (svc.log_dir / 'out.log').read_text() == 'out-line\n'
    assert (tmp_path / 'elsewhere' / 'err.log').read_text() == 'err-line\n'
    assert not svc.log.exists()


def test_inherited_descriptors_are_closed(service, tmp_path):
    secret = tmp_path / 'secret'
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        svc = service()
        r = svc.run('start', pass_fds=(fd,))
        assert r.code == 0, r
        fds = support.open_fds(svc.read_pid())
    finally:
        os.close(fd)
    assert sorted(fds) == [0, 1, 2], fds
    assert fds[0] == '/dev/null'
    assert fds[1] == fds[2] == str(svc.log)
    assert str(secret) not in fds.values()


def test_directory_umask_and_environment_reach_the_program(service, tmp_path):
    out = tmp_path / 'facts.json'
    work = tmp_path / 'work'
    work.mkdir()
    svc = service(program=py(tmp_path, 'dumper.py', DUMPER, out, 'a b', '--x'),
                  directory=work, umask='027', environment='GREETING=hello\n# note\n',
                  ready='exec:' + program('test', '-e', out))
    svc.start_ok()
    facts = json.loads(out.read_text())
    assert facts == {'cwd': str(work), 'umask': 0o027, 'argv': ['a b', '--x'],
                     'greeting': 'hello'}, facts


# == 7. --user ====================================================================================================

def _nobody():
    try:
        return pwd.getpwnam('nobody')
    except KeyError:
        return None


needs_root_and_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or _nobody() is None or _nobody().pw_uid == 0,
    reason='needs root and a non-root user "nobody"')


@needs_root_and_nobody
def test_user_runs_the_program_as_that_user(service):
    nobody = _nobody()
    svc = service(user='nobody')
    p = svc.start_ok()
    assert p.uids().real == p.uids().effective == nobody.pw_uid
    assert p.gids().real == nobody.pw_gid
    assert svc.pid_file.stat().st_uid == 0
    assert svc.identity_file.stat().st_uid == 0
    assert svc.log.stat().st_uid == nobody.pw_uid
    assert svc.run('stop').code == 0
    assert gone(p)


@needs_root_and_nobody
def test_log_symlink_is_not_chowned_to_the_service_user(service, tmp_path):
    nobody = _nobody()
    target = tmp_path / 'root-only'
    target.write_text('precious\n')
    target.chmod(0o600)
    svc = service(user='nobody')
    svc.log_dir.mkdir()
    os.chown(svc.log_dir, nobody.pw_uid, nobody.pw_gid)   # the service owns its logs
    svc.log.symlink_to(target)                            # ... and plants a link
    svc.run('start')
    assert target.stat().st_uid == 0, 'root\'s file now belongs to nobody'
    assert target.read_text() == 'precious\n'


def test_user_that_does_not_exist_is_not_configured(service):
    svc = service(user='no-such-user-bsctl')
    r = svc.run('start')
    assert r.code == 6, r
    assert 'no-such-user-bsctl' in one_line(r.err)
    assert not svc.pid_file.exists()


# == 8. user errors: one line, LSB codes, and the other actions ======================================================

@pytest.mark.parametrize('args, options, code, words', [
    (['bogus'], {}, 2, ['bogus']),
    (['status'], {'stop_signal': 'FOO'}, 2, ['stop-signal', 'FOO']),
    (['status'], {'name': None}, 2, ['--name']),
    (['status'], {'umask': '999'}, 2, ['umask']),
    (['status'], {'ready': 'carrier-pigeon:1'}, 2, ['ready']),
    (['reload'], {}, 3, ['reload-signal']),
    (['reload'], {'reload_signal': 'HUP'}, 7, ['not running']),
    (['kill'], {}, 2, ['SIGNAL']),
    (['kill', 'FOO'], {}, 2, ['FOO']),
    (['spawn'], {}, 2, ['SECONDS']),
    (['spawn', 'soon'], {}, 2, ['soon']),
    (['stop', 'now'], {}, 2, ['now']),
    (['status'], {'name': 'a/b'}, 2, ['name']),
    (['start'], {'program': ''}, 2, ['program']),
    (['start'], {'start_timeout': 'soon'}, 2, ['start-timeout']),
    (['start'], {'environment': 'no equals sign'}, 2, ['environment']),
    (['pid'], {}, 3, ['not running']),
    (['status'], {}, 3, ['not running']),
], ids=lambda v: '-'.join(v) if isinstance(v, list) else (
    ','.join('%s=%s' % kv for kv in v.items()) or 'defaults') if isinstance(v, dict)
    else str(v) if isinstance(v, int) else '')
def test_user_errors_are_one_line_with_the_lsb_code(service, args, options, code, words):
    svc = service()
    r = svc.run(*args, **options)
    assert r.code == code, r
    line = one_line(r.out + r.err)
    for word in words:
        assert word in line, r
    assert not svc.pid_file.exists()


def test_restart_gives_a_new_process(service):
    svc = service()
    old = svc.start_ok()
    r = svc.run('restart')
    assert r.code == 0, r
    new = proc(svc.read_pid())
    assert new.pid != old.pid and alive(new)
    assert gone(old)


def test_restart_of_stopped_service_starts_it(service):
    svc = service()
    r = svc.run('restart')
    assert r.code == 0, r
    assert alive(proc(svc.read_pid()))


def test_try_restart_of_stopped_service_leaves_it_stopped(service):
    svc = service()
    r = svc.run('try-restart')
    assert r.code == 0, r
    assert svc.run('status').code == 3
    assert not svc.pid_file.exists()


def test_try_restart_of_running_service_restarts_it(service):
    svc = service()
    old = svc.start_ok()
    assert svc.run('try-restart').code == 0
    assert svc.read_pid() != old.pid and gone(old)


def test_reload_and_kill_signal_the_program_only(service, tmp_path):
    out = tmp_path / 'signals'
    svc = service(reload_signal='HUP', **recorder(tmp_path, out))
    p = svc.start_ok()
    assert svc.run('reload').code == 0
    assert svc.run('force-reload').code == 0
    assert svc.run('kill', 'USR1').code == 0
    assert svc.run('kill', 'SIGUSR2').code == 0
    assert wait_for(lambda: out.exists() and len(out.read_text().split()) == 4)
    assert out.read_text().split() == ['SIGHUP', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']
    assert alive(p) and svc.read_pid() == p.pid


def test_force_reload_without_reload_signal_restarts(service):
    svc = service()
    old = svc.start_ok()
    assert svc.run('force-reload').code == 0
    assert svc.read_pid() != old.pid and gone(old)


def test_foreground_is_tracked_and_stoppable(service, tmp_path):
    svc = service()
    fg = svc.popen('foreground')
    assert wait_for(lambda: svc.pid_file.exists() and svc.run('status').code == 0)
    r = svc.run('status', '--json')
    assert json.loads(r.out)['pid'] == fg.pid, r
    assert svc.run('pid').out == '%d\n' % fg.pid
    assert wait_for(lambda: proc(fg.pid).cmdline()[:2] == ['sleep', '300'])  # exec'd
    r = svc.run('start')
    assert r.code == 0 and str(fg.pid) in r.out, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert fg.wait(timeout=30) == -signal.SIGTERM
    assert svc.run('status').code == 3


def test_foreground_refuses_when_already_running(service):
    svc = service()
    p = svc.start_ok()
    r = svc.run('foreground')
    assert r.code == 1 and str(p.pid) in r.err, r


def test_foreground_of_missing_program_exits_5_and_leaves_no_pid_file(service, tmp_path):
    svc = service(program=program(tmp_path / 'no-such-program'))
    r = svc.run('foreground')
    assert r.code == 5, r
    assert 'no-such-program' in one_line(r.err)
    assert not svc.pid_file.exists() and not svc.identity_file.exists()


def test_spawned_program_inherits_no_descriptors(service, tmp_path):
    secret = tmp_path / 'secret'
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        svc = service()
        r = svc.run('spawn', '60', pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.code == 0, r
    spawned = int(re.search(r'pid (\d+)', r.out).group(1))
    fds = support.open_fds(spawned)
    assert sorted(fds) == [0, 1, 2], fds


def test_spawn_keeper_holds_no_inherited_descriptors(service, tmp_path):
    secret = tmp_path / 'secret'
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        svc = service()
        r = svc.run('spawn', '60', pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.code == 0, r
    keeper = proc(int(re.search(r'pid (\d+)', r.out).group(1))).parent()
    assert 'buildout_script.ctl' in keeper.cmdline()
    fds = support.open_fds(keeper.pid)
    assert str(secret) not in fds.values(), fds
    assert sorted(fds) == [0, 1, 2], fds


def test_main_with_rendered_settings_as_a_generated_script_calls_it(service, tmp_path):
    """bin/NAMEctl: ``main(argv, settings)`` with settings parsed at build time."""
    svc = service()
    rendered = {'name': 'svc', 'program': 'sleep 300', 'pid-dir': str(svc.pid_dir),
                'log-dir': str(svc.log_dir), 'stop-signal': 'TERM'}
    generated = tmp_path / 'svcctl'
    generated.write_text(
        '#!%s\nimport sys\nimport buildout_script.ctl, buildout_script.config\n'
        'settings = buildout_script.config.parse(%r)\n'
        'sys.exit(buildout_script.ctl.main(sys.argv[1:], settings))\n'
        % (sys.executable, rendered))
    generated.chmod(0o755)

    def run(*args):
        done = subprocess.run([str(generated)] + list(args), cwd='/', env=svc.env(),
                              capture_output=True, text=True, timeout=60)
        assert 'Traceback' not in done.stdout + done.stderr, done
        return done

    assert run('status').returncode == 3
    assert run('start').returncode == 0
    pid = svc.read_pid()
    done = run('status', '--json')
    assert json.loads(done.stdout)['pid'] == pid, done
    assert run('pid').stdout == '%d\n' % pid
    done = run('--stop-signal', 'FOO', 'stop')
    assert done.returncode == 2 and 'stop-signal' in done.stderr, done
    assert alive(proc(pid))
    done = run('bogus')
    assert done.returncode == 2, done
    done = run('--stop-timeout', '5', 'stop')
    assert done.returncode == 0, done
    assert gone(proc(pid)) and run('status').returncode == 3


def test_spawn_runs_an_extra_instance_for_its_timeout(service, tmp_path):
    out = tmp_path / 'facts.json'
    svc = service(program=py(tmp_path, 'dumper.py', DUMPER, out))
    r = svc.run('spawn', '1', 'extra-arg')
    assert r.code == 0, r
    spawned = int(re.search(r'pid (\d+)', r.out).group(1))
    assert wait_for(lambda: out.exists()), 'the spawned program did not run'
    assert json.loads(out.read_text())['argv'] == ['extra-arg']
    assert not svc.pid_file.exists()            # untracked
    assert wait_for(lambda: gone(proc(spawned)), timeout=20), 'not stopped after 1 s'
    assert wait_for(lambda: not support.running_with(str(tmp_path / 'dumper.py')))


def test_spawn_of_missing_program_exits_5(service, tmp_path):
    svc = service(program=program(tmp_path / 'no-such-program'))
    r = svc.run('spawn', '1')
    assert r.code == 5, r
    assert 'no-such-program' in one_line(r.err)


# == 9. privilege: an error naming the path, never "not running" ===============================================

def _python_for_nobody():
    """An interpreter user nobody can run (sys.executable may sit under /root)."""
    if os.geteuid() != 0 or _nobody() is None or not shutil.which('runuser'):
        return None
    for python in (sys.executable, '/usr/bin/python3'):
        try:
            done = subprocess.run(
                ['runuser', '-u', 'nobody', '--', python, '-c',
                 'import sys; sys.exit(sys.version_info < (3, 10))'],
                cwd='/', capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return python
    return None


NOBODY_PYTHON = _python_for_nobody() if sys.platform.startswith('linux') else None
needs_runuser = pytest.mark.skipif(
    NOBODY_PYTHON is None, reason='needs root, user nobody, runuser and a Python >= 3.10'
                                  ' that nobody can run')


def as_nobody(svc, *action, **options):
    return svc.run(*action, python=NOBODY_PYTHON, cwd=svc.tmp,
                   prefix=['runuser', '-u', 'nobody', '--', 'env',
                           'PYTHONPATH=%s' % support.ROOT, '%s=%s' % (
                               support.MARK, svc.cleanup.tmp)], **options)


@pytest.fixture
def private_service(cleanup, tmp_path):
    """A running service (root's) whose pid dir is root-only (0700), in a
    directory user nobody can reach."""
    base = cleanup.mkdtemp()
    svc = Ctl(cleanup, base, program=program('sleep', '300'), reload_signal='HUP')
    p = svc.start_ok()
    svc.pid_dir.chmod(0o700)
    return svc, p


@needs_runuser
@pytest.mark.parametrize('action', [['stop'], ['start'], ['restart']])
def test_commands_without_permission_exit_4_naming_the_path(private_service, action):
    svc, p = private_service
    r = as_nobody(svc, *action)
    assert r.code == 4, r
    assert str(svc.pid_dir) in one_line(r.err), r
    assert 'not running' not in r.output
    assert alive(p) and svc.read_pid() == p.pid


@needs_runuser
def test_unreadable_pid_file_is_an_error_not_not_running(private_service):
    svc, p = private_service
    svc.pid_dir.chmod(0o755)
    svc.pid_file.chmod(0o600)
    svc.identity_file.chmod(0o600)
    for action in ('status', 'pid'):
        r = as_nobody(svc, action)
        assert r.code == 4, r
        assert str(svc.pid_file) in one_line(r.err), r
        assert 'not running' not in r.output
    assert alive(p)


@needs_runuser
@pytest.mark.parametrize('action, code', [('status', 4), ('pid', 4)])
def test_status_in_unsearchable_pid_dir_is_an_error_not_not_running(private_service,
                                                                      action, code):
    svc, p = private_service
    r = as_nobody(svc, action)
    assert 'not running' not in r.output, r
    assert r.code == code, r
    assert str(svc.pid_dir) in r.err, r


@needs_runuser
@pytest.mark.parametrize('action', [['kill', 'HUP'], ['reload']])
def test_signal_in_unsearchable_pid_dir_is_an_error_not_not_running(private_service,
                                                                      action):
    svc, p = private_service
    r = as_nobody(svc, *action)
    assert 'not running' not in r.output, r
    assert r.code == 4, r


# -- found in review: failure paths that must not leave anything behind ----------------------


def test_start_that_cannot_record_its_program_stops_it(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.identity_file.mkdir()               # the record cannot be written
    r = svc.run('start')
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1 and str(svc.identity_file) in r.err, r
    assert not svc.pid_file.exists()
    assert svc.cleanup.leftovers() == [], 'the unrecorded program runs on'


def test_spawned_program_that_exits_early_leaves_no_child(service, tmp_path):
    svc = service(program=program('sh', '-c', 'sleep 300 & exit 0'))
    r = svc.run('spawn', '1')
    assert r.code == 0, r
    assert wait_for(lambda: svc.cleanup.leftovers() == [], timeout=20)


def test_force_reload_without_reload_signal_leaves_a_stopped_service_stopped(service):
    svc = service()
    r = svc.run('force-reload')
    assert r.code == 0, r
    assert svc.run('status').code == 3


def test_foreground_of_a_file_that_is_no_program_is_exit_5(service, tmp_path):
    junk = tmp_path / 'junk'
    junk.write_text('not a program\n')
    junk.chmod(0o755)
    svc = service(program=program(junk))
    r = svc.run('foreground')
    assert r.code == 5, r
    assert 'junk' in r.err
    assert not svc.pid_file.exists()


def test_foreground_session_that_ended_is_not_restarted_by_the_check(service):
    svc = service(program=program('true'))
    assert svc.run('foreground').code == 0
    check = subprocess.run(
        [sys.executable, '-m', 'buildout_script.check'] + svc.argv()[3:],
        cwd=svc.tmp, env=svc.env(), capture_output=True, text=True, timeout=60)
    assert (check.returncode, check.stdout) == (0, ''), check
    assert svc.cleanup.leftovers() == []


@pytest.mark.parametrize('url', ['http://127.0.0.1:abc/', 'http://user@127.0.0.1/',
                                 'http:///path'])
def test_malformed_ready_url_is_a_usage_error(service, url):
    r = service().run('start', ready=url)
    assert r.code == 2, r
    assert 'ready' in r.err and len(r.err.strip().splitlines()) == 1, r
