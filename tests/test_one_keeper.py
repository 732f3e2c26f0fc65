"""One keeper for a pid dir's supervised services (issue 18): shared, never
blocked by one service, no single point of failure, handing over to a
newer version, answering on its socket only to whom it should."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import support
from support import alive, gone, proc, wait_for

pytestmark = pytest.mark.usefixtures('subreaper')



def keepers(pid_dir):
    """The live keepers of ``pid_dir``."""
    return [p for p in support.running_with('buildout_script.keeper')
            if p.cmdline()[-1] == str(pid_dir)]


def ticker(tmp_path, name):
    """A program that prints a numbered line every 5 ms."""
    return support.python_program(tmp_path, name + '.py', TICKER)


TICKER = '''
import itertools, sys, time
for i in itertools.count():
    print('tick %d' % i, flush=True)
    time.sleep(0.005)
'''


def numbers(log):
    return [int(line.split()[1]) for line in log.read_text().splitlines()
            if line.startswith('tick ')]


def test_two_services_share_one_keeper_which_ends_with_the_last(kept):
    a, b = kept('a'), kept('b')
    first, second = a.start_ok(), b.start_ok()
    [keeper] = keepers(a.pid_dir)
    assert a.keeper_pid() == b.keeper_pid() == keeper.pid
    assert first.ppid() == second.ppid() == keeper.pid
    assert a.run('stop').code == 0 and gone(first)
    assert alive(keeper) and alive(second)
    r = b.run('stop')
    assert r.code == 0 and gone(second), r
    assert gone(keeper), 'the keeper outlived the last service it kept'
    assert not (a.pid_dir / '.keeper.sock').exists()


def test_a_long_stop_of_one_service_delays_nothing_of_another(kept, tmp_path):
    """While A waits out its 10 s stop-timeout (it ignores TERM), B is
    killed with -9 and is back at once, its lines still flowing."""
    deaf = support.program(sys.executable, '-c', 'import signal, time\n'
                           'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
                           'time.sleep(300)')
    a = kept('a', deaf, stop_timeout=10)
    b = kept('b', ticker(tmp_path, 'b'))
    slow = a.start_ok()
    first = b.start_ok()
    stopping = a.popen('stop')
    assert wait_for(lambda: json.loads(a.run('status', '--json').out)['keeper-state']
                    == 'stopping')
    started = time.monotonic()
    first.kill()
    assert wait_for(lambda: b.pid_file.exists() and b.read_pid() != first.pid)
    seen = len(numbers(b.log))
    assert wait_for(lambda: len(numbers(b.log)) > seen + 20)
    assert time.monotonic() - started < 5, 'B waited for A'
    assert stopping.poll() is None and alive(slow), 'A was not waiting out its stop-timeout'
    assert b.run('stop').code == 0
    stopping.wait(30)
    assert stopping.returncode == 0 and gone(slow)


def test_kill_9_of_the_keeper_then_one_command_adopts_every_service(kept, tmp_path):
    a, b = kept('a', ticker(tmp_path, 'a')), kept('b', ticker(tmp_path, 'b'))
    programs = [a.start_ok(), b.start_ok()]
    keeper = proc(a.keeper_pid())
    keeper.kill()
    assert wait_for(lambda: gone(keeper))
    r = a.run('status')
    assert 'unsupervised' in r.out, r
    r = a.run('start')
    assert r.code == 0 and 'adopted' in r.out, r
    [new] = keepers(a.pid_dir)
    assert new.pid != keeper.pid
    for svc, program in zip((a, b), programs):         # never a second copy
        assert svc.read_pid() == program.pid and alive(program)
        assert svc.keeper_pid() == new.pid
    assert b.run('stop').code == 0 and a.run('stop').code == 0
    for svc in (a, b):
        found = numbers(svc.log)
        assert found == list(range(len(found))) and len(found) > 10, 'a line lost or twice'


def test_a_newer_version_takes_over_without_stopping_anything(kept, tmp_path, cleanup):
    """A buildout run upgraded the package: its first command asks the old
    keeper to hand over and starts its own, which adopts every program."""
    a, b = kept('a'), kept('b')
    programs = [a.start_ok(), b.start_ok()]
    old = proc(a.keeper_pid())
    newer = tmp_path / 'newer'
    shutil.copytree(support.ROOT / 'buildout_script', newer / 'buildout_script',
                    ignore=shutil.ignore_patterns('__pycache__'))
    later = time.time() + 60
    os.utime(newer / 'buildout_script' / 'keeper.py', (later, later))
    env = dict(a.env(), PYTHONPATH=os.pathsep.join([str(newer), support.python_path()]))
    done = subprocess.run(a.argv('start'), cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done
    assert wait_for(lambda: gone(old))
    [new] = keepers(a.pid_dir)
    assert new.pid != old.pid
    path = new.environ()['PYTHONPATH'].split(os.pathsep)
    assert path.index(str(newer)) < path.index(str(support.ROOT)), path
    for svc, program in zip((a, b), programs):
        assert svc.read_pid() == program.pid and alive(program)
        assert svc.keeper_pid() == new.pid
    for svc in (a, b):
        assert subprocess.run(svc.argv('stop'), cwd=str(tmp_path), env=env).returncode == 0


def test_a_restart_with_new_settings_restarts_that_service_alone(kept):
    a, b = kept('a'), kept('b')
    first, other = a.start_ok(), b.start_ok()
    keeper = a.keeper_pid()
    r = a.run('restart', program=support.program('sleep', '301'))
    assert r.code == 0 and 'restarted' in r.out, r
    assert gone(first) and proc(a.read_pid()).cmdline() == ['sleep', '301']
    assert alive(other) and b.read_pid() == other.pid
    assert a.keeper_pid() == b.keeper_pid() == keeper
    a.run('stop', program=support.program('sleep', '301'))
    b.run('stop')


@support.needs_python_for_nobody
def test_the_keeper_answers_nobody_but_root_and_the_pid_dirs_owner(kept, cleanup):
    a = kept('a', pid_dir=cleanup.mkdtemp() / 'run')
    a.pid_dir = a.options['pid_dir']
    a.start_ok()
    sock_path = a.pid_dir / '.keeper.sock'
    assert oct(sock_path.stat().st_mode & 0o777) == '0o600'
    os.chmod(sock_path, 0o666)              # past the file's mode: the keeper itself refuses
    code = ('import marshal, socket, sys\n'
            's = socket.socket(socket.AF_UNIX)\n'
            's.connect(sys.argv[1])\n'
            's.sendall(marshal.dumps({"command": "stop", "service": {"name": "a"}}))\n'
            's.shutdown(socket.SHUT_WR)\n'
            'print(marshal.loads(s.recv(65536))["message"])\n')
    done = subprocess.run(['runuser', '-u', 'nobody', '--', support.python_for_nobody(), '-c',
                           code, str(sock_path)], capture_output=True, text=True, timeout=30,
                          cwd='/')
    assert done.returncode == 0, done
    assert done.stdout.startswith('refused: uid 65534 may not use the keeper of '), done
    assert json.loads(a.run('status', '--json').out)['state'] == 'running'
    a.run('stop')


@support.needs_python_for_nobody
def test_a_service_of_another_user_and_umask_beside_ours(kept, cleanup):
    base = cleanup.mkdtemp()
    (base / 'theirs').mkdir()
    import pwd
    nobody = pwd.getpwnam('nobody')
    os.chown(base / 'theirs', nobody.pw_uid, nobody.pw_gid)
    facts = base / 'theirs' / 'facts'
    theirs = kept('theirs', support.program('sh', '-c', 'umask > "$1"; id -u >> "$1";'
                                            ' exec sleep 300', 'sh', facts),
                  user='nobody', umask='027', pid_dir=base / 'run', log_dir=base / 'log',
                  directory=base)
    theirs.pid_dir, theirs.log_dir = base / 'run', base / 'log'
    ours = kept('ours', pid_dir=base / 'run', log_dir=base / 'log')
    ours.pid_dir, ours.log_dir = base / 'run', base / 'log'
    program = theirs.start_ok()
    mine = ours.start_ok()
    assert theirs.keeper_pid() == ours.keeper_pid()
    assert wait_for(lambda: facts.exists() and len(facts.read_text().split()) == 2)
    umask, uid = facts.read_text().split()
    assert (int(umask, 8), int(uid)) == (0o027, program.uids().real) and int(uid) != 0
    assert mine.uids().real == 0
    log = theirs.log_dir / 'theirs.log'
    assert log.stat().st_uid == int(uid) and log.stat().st_mode & 0o777 == 0o640
    for fifo in theirs.pid_dir.glob('theirs.*.fifo'):
        assert fifo.stat().st_mode & 0o077 == 0, fifo
    assert theirs.run('stop').code == 0 and ours.run('stop').code == 0
