"""Trust nothing another user can write (issue 8, points 1-3, 6, 9).

A root-run command acts only on state files that are regular files of its
own (or root's), writable by nobody else, in a pid dir nobody else can
write; it follows no symlink another user could plant, in any component;
nothing it opens can block it, and every wait for the lock is bounded.
The other user is ``nobody``: CI runs as root.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import psutil
import pytest

import support
from support import Ctl, alive, gone, one_line, program, wait_for


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


@pytest.fixture
def service(cleanup, tmp_path):
    made = []

    def make(program=None, name='svc', **options):
        made.append(Ctl(cleanup, tmp_path, name=name,
                        program=program or support.program('sleep', '300'), **options))
        return made[-1]
    yield make
    for svc in made:        # Cleanup reads every *.pid: no FIFO, no 4 GiB file
        if svc.pid_file.exists() and not svc.pid_file.is_file() or (
                svc.pid_file.is_file() and svc.pid_file.stat().st_size > 4096):
            svc.pid_file.unlink()


NOBODY = support.nobody()
needs_root = support.needs_root_and_nobody


def victim(cleanup):
    """A root process a forged record could name (it carries no mark)."""
    p = cleanup.popen(['sleep', '300'])
    return psutil.Process(p.pid)


def forge(svc, pid, owner=None):
    """Write a record naming ``pid`` with its true identity, as another user could."""
    start = support.start_ticks(pid)
    with open('/proc/sys/kernel/random/boot_id') as f:
        boot = f.read().strip()
    svc.pid_dir.mkdir(exist_ok=True)
    svc.identity_file.write_text('%d %d %s group\n' % (pid, start, boot))
    svc.pid_file.write_text('%d\n' % pid)
    if owner is not None:
        for path in (svc.identity_file, svc.pid_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)


ACTIONS = [(['status'], 4), (['pid'], 4), (['kill', 'TERM'], 4), (['reload'], 4),
           (['stop'], 1), (['restart'], 1)]


# == 1. state another user wrote is never acted on ==================================================

@needs_root
@pytest.mark.parametrize('action, code', ACTIONS)
def test_record_another_user_left_in_a_sticky_pid_dir_is_never_read(service, cleanup, action,
                                                                   code):
    """Others may not replace our files in a sticky dir, but may plant the
    ones not made yet: ctl refuses such a pid dir, whatever it holds."""
    svc = service(reload_signal='HUP')
    svc.pid_dir.mkdir()
    svc.pid_dir.chmod(0o1777)
    p = victim(cleanup)
    forge(svc, p.pid, owner=NOBODY)
    r = svc.run(*action)
    assert r.code in (code, 6), r
    line = one_line(r.err)
    assert line.startswith('svc: the pid dir %s is writable by everyone (sticky' % svc.pid_dir), r
    time.sleep(0.05)
    assert alive(p), 'root acted on a record user nobody wrote'


@needs_root
@pytest.mark.parametrize('action, code', ACTIONS)
def test_pid_dir_owned_by_the_service_user_is_refused(service, cleanup, action, code):
    svc = service(reload_signal='HUP', user='nobody')
    p = victim(cleanup)
    forge(svc, p.pid)
    os.chown(svc.pid_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    r = svc.run(*action)
    assert r.code in (code, 6), r
    assert str(svc.pid_dir) in one_line(r.err) and 'nobody' in r.err, r
    time.sleep(0.05)
    assert alive(p)


@pytest.mark.parametrize('action', [['kill', 'TERM'], ['reload'], ['status'], ['pid']])
def test_world_writable_pid_dir_is_refused_by_every_action(service, cleanup, action):
    svc = service(reload_signal='TERM')
    p = victim(cleanup)
    forge(svc, p.pid)
    svc.pid_dir.chmod(0o777)
    r = svc.run(*action)
    assert r.code == 4, r
    assert 'chmod go-w' in one_line(r.err), r
    time.sleep(0.05)
    assert alive(p)


def test_group_writable_pid_file_is_refused(service, cleanup):
    svc = service()
    p = victim(cleanup)
    forge(svc, p.pid)
    svc.pid_file.chmod(0o664)
    r = svc.run('stop')
    assert r.code == 1, r
    assert 'writable by others' in one_line(r.err), r
    assert alive(p)


@needs_root
def test_service_user_gets_logs_but_never_the_pid_dir(service):
    svc = service(user='nobody')
    svc.start_ok()
    assert svc.pid_dir.stat().st_uid == 0
    assert not svc.pid_dir.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert svc.log.stat().st_uid == NOBODY.pw_uid
    assert svc.run('stop').code == 0


# == 2. no path is followed where another user could have planted a link ===========================

@needs_root
@pytest.mark.parametrize('which', ['pid_dir', 'log_dir'])
def test_symlink_in_a_directory_the_service_user_owns_is_not_followed(cleanup, tmp_path,
                                                                       which):
    var = tmp_path / 'var'
    var.mkdir()
    os.chown(var, NOBODY.pw_uid, NOBODY.pw_gid)     # the service user owns var/
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    svc = Ctl(cleanup, tmp_path, program=program('sleep', '300'), user='nobody',
              pid_dir=var / 'run', log_dir=var / 'log')
    getattr(svc, which).__class__                   # a Path
    (var / ('run' if which == 'pid_dir' else 'log')).symlink_to(elsewhere)
    os.lchown(var / ('run' if which == 'pid_dir' else 'log'), NOBODY.pw_uid, NOBODY.pw_gid)
    r = svc.run('start')
    assert r.code != 0, r
    assert 'symlink' in one_line(r.err) and 'refusing' in r.err, r
    assert os.listdir(elsewhere) == [], 'root wrote through the planted link'


def test_log_symlink_is_refused_without_user_too(service, tmp_path):
    target = tmp_path / 'precious'
    target.write_text('precious\n')
    svc = service()
    svc.log_dir.mkdir()
    svc.log.symlink_to(target)
    r = svc.run('start')
    assert r.code == 6, r
    assert 'symlink' in one_line(r.err) and str(svc.log) in r.err, r
    assert target.read_text() == 'precious\n'
    assert not svc.pid_file.exists()


def test_log_dir_others_can_write_is_refused_without_user(service):
    svc = service()
    svc.log_dir.mkdir()
    svc.log_dir.chmod(0o777)
    r = svc.run('start')
    assert r.code == 6, r
    assert str(svc.log_dir) in one_line(r.err) and 'chmod go-w' in r.err, r


@needs_root
def test_hard_link_at_the_log_is_refused_and_not_chowned(service, tmp_path):
    target = tmp_path / 'root-only'
    target.write_text('precious\n')
    target.chmod(0o600)
    svc = service(user='nobody')
    svc.log_dir.mkdir()
    os.chown(svc.log_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    os.link(target, svc.log)
    r = svc.run('start')
    assert r.code == 6, r
    assert 'hard links' in one_line(r.err), r
    assert target.stat().st_uid == 0
    assert target.read_text() == 'precious\n'


# == 3. nothing hangs ===============================================================================

@pytest.mark.parametrize('action, code', [(['status'], 4), (['stop'], 1), (['start'], 1)])
def test_fifo_at_the_pid_file_is_refused_at_once(service, action, code):
    svc = service()
    svc.pid_dir.mkdir()
    os.mkfifo(svc.pid_file)
    r = svc.run(*action, timeout=20)
    assert r.code == code, r
    assert 'not a regular file' in one_line(r.err), r


def test_fifo_at_the_log_is_refused_at_once(service):
    svc = service()
    svc.log_dir.mkdir()
    os.mkfifo(svc.log)
    r = svc.run('start', timeout=20)
    assert r.code == 6, r
    assert 'not a regular file' in one_line(r.err), r
    assert not svc.pid_file.exists()


def test_huge_sparse_pid_file_is_refused_with_one_line(service):
    svc = service()
    svc.pid_dir.mkdir()
    with open(svc.pid_file, 'wb') as f:
        f.truncate(4 << 30)
    r = svc.run('status')
    assert r.code == 4, r
    assert 'larger than' in one_line(r.err), r


def test_lock_is_private(service):
    svc = service()
    svc.start_ok()
    mode = (svc.pid_dir / 'svc.lock').stat().st_mode
    assert stat.S_IMODE(mode) == 0o600, oct(mode)
    assert svc.run('stop').code == 0


def test_an_older_lock_others_could_read_is_made_private(service):
    svc = service()
    svc.pid_dir.mkdir()
    lock = svc.pid_dir / 'svc.lock'
    lock.write_text('')
    lock.chmod(0o644)
    assert svc.run('stop').code == 0
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


HOLDER = '''import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[1] + '.held', 'w').close()
time.sleep(300)
'''


def hold_the_lock(svc):
    svc.pid_dir.mkdir(exist_ok=True)
    lock = svc.pid_dir / (svc.name + '.lock')
    p = svc.cleanup.popen([sys.executable, '-c', HOLDER, str(lock)])
    assert wait_for(lambda: os.path.exists(str(lock) + '.held'))
    os.unlink(str(lock) + '.held')
    return p


def test_a_held_lock_is_waited_for_within_a_bound_naming_the_holder(service):
    svc = service()
    holder = hold_the_lock(svc)
    r = svc.run('start', prefix=['env', 'BUILDOUT_SCRIPT_LOCK_WAIT=1.3'])
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 2, r                      # waiting ..., then giving up
    assert 'waiting for' in lines[0] and 'pid %d' % holder.pid in lines[0], r
    assert 'giving up' in lines[1] and 'pid %d' % holder.pid in lines[1], r
    assert not svc.pid_file.exists()


def test_a_held_lock_makes_the_check_unknown(service):
    svc = service()
    hold_the_lock(svc)
    argv = ['env', 'BUILDOUT_SCRIPT_LOCK_WAIT=0.3'] + svc.argv()
    argv[argv.index('buildout_script.ctl')] = 'buildout_script.check'
    done = subprocess.run(argv, env=svc.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done
    assert 'svc UNKNOWN' in done.stdout and 'giving up' in done.stdout, done


# == 6. stop works on a read-only disk =============================================================

def read_only(svc, *action):
    """Run ctl with its pid dir (bind-)mounted read-only, in a mount namespace."""
    d = str(svc.pid_dir)
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    argv = ['unshare', '-m', 'sh', '-c', script, d] + svc.argv(*action)
    done = subprocess.run(argv, env=svc.env(), cwd=str(svc.tmp), capture_output=True,
                          text=True, timeout=60)
    return support.Result(argv, done.returncode, done.stdout, done.stderr)


def _can_mount():
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return False
    done = subprocess.run(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none /mnt'],
                          capture_output=True)
    return done.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason='needs unshare -m and mount (root)')


@needs_mount
@pytest.mark.parametrize('lock_file, supervise', [(True, 'false'), (False, 'false'),
                                                  (True, 'true')])
def test_stop_on_a_read_only_pid_dir_stops_and_warns(service, lock_file, supervise):
    svc = service(supervise=supervise)
    p = svc.start_ok()
    if not lock_file:
        (svc.pid_dir / 'svc.lock').unlink()     # and none can be made: the dir is locked
    r = read_only(svc, 'stop')
    assert r.code == 0, r
    line = one_line(r.out)
    assert line.startswith('svc stopped (pid %d); warning: cannot write %s' % (
        p.pid, svc.pid_dir / 'svc.stopped')), r
    assert 'Read-only file system' in line, r
    assert gone(p)
    assert 'Traceback' not in r.output


# == 9. smaller ======================================================================================

@needs_root
def test_a_service_of_another_user_gets_a_clean_environment(service, cleanup):
    out = cleanup.mkdtemp() / 'env.txt'
    out.touch()
    os.chown(out, NOBODY.pw_uid, NOBODY.pw_gid)
    svc = service(program=program('/bin/sh', '-c', 'env > "$0"; exec sleep 300', out),
                  user='nobody', directory='/', environment='GREETING=hello',
                  ready='exec:' + program('test', '-s', out))
    r = svc.run('start', prefix=['env', 'ROOT_SECRET=s3cret', 'LANG=C.UTF-8'])
    assert r.code == 0, r
    env = dict(line.split('=', 1) for line in out.read_text().splitlines() if '=' in line)
    assert 'ROOT_SECRET' not in env, env
    assert set(env) <= {'PATH', 'LANG', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'GREETING',
                        'BUILDOUT_SCRIPT_SERVICE', 'PWD', 'SHLVL', '_'}, env
    assert env['USER'] == env['LOGNAME'] == 'nobody' and env['GREETING'] == 'hello'
    assert env['LANG'] == 'C.UTF-8'
    assert env['BUILDOUT_SCRIPT_SERVICE'] == '%s/svc' % svc.pid_dir
    assert svc.run('stop').code == 0


@pytest.mark.parametrize('action', [['status'], ['pid'], ['kill', 'HUP']])
def test_pid_and_kill_on_a_refused_pid_file_answer_as_status(service, action):
    svc = service()
    svc.pid_dir.mkdir()
    os.mkfifo(svc.pid_file)
    r = svc.run(*action, timeout=20)
    assert r.code == 4, r


def test_status_json_prints_json_on_errors_too(service):
    svc = service()
    svc.pid_dir.mkdir()
    os.mkfifo(svc.pid_file)
    r = svc.run('status', '--json', timeout=20)
    assert r.code == 4, r
    answer = json.loads(r.out)
    assert answer['state'] == 'unknown' and answer['code'] == 4
    assert 'not a regular file' in answer['error']
    r = svc.run('status', '--json', umask='999')
    assert r.code == 2, r
    assert json.loads(r.out)['code'] == 2


def test_daemon_stop_that_never_ran_says_not_running(tmp_path):
    from buildout_script import Daemon
    outcome = Daemon(name='worker', pid_dir=str(tmp_path / 'run'), verbose=False).stop()
    assert (outcome.code, outcome.message) == (0, 'worker is not running')
