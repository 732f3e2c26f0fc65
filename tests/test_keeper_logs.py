"""Logs through the keeper: rotated under a writer, every line counted."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import support
from support import Ctl, one_line, program, wait_for
from test_trust import NOBODY, needs_root

LINES = 20000
WRITER = (
    'import sys, time\n'
    'for i in range(%d):\n'
    '    sys.stdout.write("line %%d of the writer, padded to be a bit longer\\n" %% i)\n'
    '    if i %% 100 == 0:\n'
    '        sys.stdout.flush(); time.sleep(0.002)\n'
    'sys.stdout.flush()\n'
    'time.sleep(300)\n' % LINES)


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


def writer(cleanup, tmp_path, **options):
    script = support.script(tmp_path, 'writer.py', WRITER)
    return Ctl(cleanup, tmp_path, supervise='true',
               program=support.program(sys.executable, script), **options)


def rotated(log):
    """The log's files, oldest first: NAME.log.N .. NAME.log.1, NAME.log."""
    numbered = sorted((int(p.name.rsplit('.', 1)[1]), p) for p in log.parent.glob(log.name + '.*')
                      if p.name.rsplit('.', 1)[1].isdigit())
    return [p for _, p in reversed(numbered)] + [log]


def numbers(files):
    """Every line number written, in order; each file ends with a whole line."""
    found = []
    for path in files:
        data = path.read_bytes()
        assert not data or data.endswith(b'\n'), path
        for line in data.decode().splitlines():
            if line.startswith('line '):
                assert line.endswith('longer'), (path, line)     # never split
                found.append(int(line.split()[1]))
    return found


def all_written(log):
    """Every line is in the log's files, once; False while a rotation is
    renaming them under our feet (a file listed is gone when read) or a
    write is under way (read half done).  The caller checks strictly after."""
    try:
        return numbers(rotated(log)) == list(range(LINES))
    except (FileNotFoundError, AssertionError):
        return False


def test_size_rotation_keeps_every_line_whole_and_once(cleanup, tmp_path):
    svc = writer(cleanup, tmp_path, log_max_bytes='64KB', log_backups=100)
    svc.start_ok()
    wait_for(lambda: all_written(svc.log), timeout=60)
    files = rotated(svc.log)
    assert len(files) > 10
    assert numbers(files) == list(range(LINES))
    assert all(f.stat().st_size < 64 * 1024 + 200 for f in files)
    svc.run('stop')


def test_rename_and_reopen_logs_under_a_writer_lose_nothing(cleanup, tmp_path):
    svc = writer(cleanup, tmp_path, log_max_bytes=0)
    svc.start_ok()
    moved = []
    for n in range(1, 6):
        time.sleep(0.1)
        target = svc.log.with_name('svc.log.moved%d' % n)
        os.rename(svc.log, target)              # what logrotate's create does
        moved.append(target)
        r = svc.run('reopen-logs')
        assert r.code == 0, r
    wait_for(lambda: len(numbers(moved + [svc.log])) >= LINES, timeout=60)
    assert numbers(moved + [svc.log]) == list(range(LINES))
    svc.run('stop')


@pytest.mark.skipif(not shutil.which('logrotate'), reason='logrotate is not installed')
def test_real_logrotate_create_with_postrotate_reopen_logs(cleanup, tmp_path):
    svc = writer(cleanup, tmp_path, log_max_bytes=0)
    ctl = tmp_path / 'ctl.sh'
    ctl.write_text('#!/bin/sh\nexec %s "$@"\n' % ' '.join(
        "'%s'" % a for a in svc.argv()))
    ctl.chmod(0o755)
    conf = tmp_path / 'logrotate.conf'
    conf.write_text('%s {\n  create\n  rotate 100\n  postrotate\n    %s reopen-logs\n'
                    '  endscript\n}\n' % (svc.log, ctl))
    svc.start_ok()
    env = svc.env()
    for _ in range(4):
        time.sleep(0.1)
        done = subprocess.run(['logrotate', '-f', '-s', str(tmp_path / 'state'), str(conf)],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done
    wait_for(lambda: all_written(svc.log), timeout=60)
    assert len(rotated(svc.log)) == 5
    assert numbers(rotated(svc.log)) == list(range(LINES))
    svc.run('stop')


def test_log_shows_the_last_lines_and_follows_across_a_reopen(cleanup, tmp_path):
    ticker = support.script(tmp_path, 'ticker.py', (
        'import itertools, time\n'
        'for i in itertools.count():\n'
        '    print("tick", i, flush=True); time.sleep(0.02)\n'))
    svc = Ctl(cleanup, tmp_path, supervise='true',
              program=support.program(sys.executable, ticker))
    svc.start_ok()
    wait_for(lambda: svc.log.exists() and svc.log.read_text().count('tick') >= 5)
    r = svc.run('log', '-n', '3')
    assert r.code == 0 and len(r.out.splitlines()) == 3, r
    assert all(line.startswith('tick ') for line in r.out.splitlines()), r
    followed = tmp_path / 'followed'
    with open(followed, 'w') as out:
        follower = cleanup.popen(svc.argv('log', '-n', '0', '-f'), env=svc.env(), stdout=out)

    def ticks():                            # complete lines only
        text = followed.read_text()
        return [int(line.split()[1]) for line in text[:text.rfind('\n') + 1].splitlines()]
    wait_for(lambda: len(ticks()) >= 3)
    old = svc.log.with_name('svc.log.old')
    os.rename(svc.log, old)
    assert svc.run('reopen-logs').code == 0
    wait_for(lambda: ticks() and ticks()[-1] >= int(old.read_text().split()[-1]) + 5)
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 0
    seen = ticks()
    assert seen == list(range(seen[0], seen[0] + len(seen)))      # nothing missed
    assert seen[-1] > int(old.read_text().split()[-1])              # into the new file
    r = svc.run('log', '-n', 'x')
    assert r.code == 2 and '-n needs a number' in r.err, r
    svc.run('stop')


# == trust nothing another user can write ========================================================

@needs_root
def test_rotation_never_acts_through_a_log_dir_swapped_for_a_symlink(cleanup, tmp_path):
    """The service's user owns var/ and swaps var/log for a symlink to root's
    directory: root's keeper rotates nothing there, writes on in the file it
    has open, says why there, and rotates again once the dir is back."""
    var = tmp_path / 'app' / 'var'
    (var / 'log').mkdir(parents=True)
    for path in (var, var / 'log'):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'svc.log').write_text('ROOT SECRET\n')
    talker = program('sh', '-c', 'i=0; while :; do i=$((i+1)); echo "line $i %s"; sleep 0.005;'
                     ' done' % ('x' * 100))
    svc = Ctl(cleanup, tmp_path, program=talker, user='nobody', supervise='true',
              log_dir=var / 'log', log_max_bytes=1000, log_backups=0)
    svc.log_dir = var / 'log'
    svc.start_ok()
    real = var / 'log.real'
    os.rename(var / 'log', real)
    (var / 'log').symlink_to(victim)
    os.lchown(var / 'log', NOBODY.pw_uid, NOBODY.pw_gid)

    def said():
        try:
            return 'not switching to a new log file' in (real / 'svc.log').read_text()
        except FileNotFoundError:
            return False
    wait_for(said, timeout=5)
    assert os.listdir(victim) == ['svc.log']
    assert (victim / 'svc.log').read_text() == 'ROOT SECRET\n', 'root rotated through the link'
    text = (real / 'svc.log').read_text()
    note = [line for line in text.splitlines() if 'not switching' in line]
    assert len(note) == 1 and 'symlink' in note[0] and 'refusing' in note[0], note
    size = len(text)
    assert wait_for(lambda: (real / 'svc.log').stat().st_size > size + 1000, timeout=5)
    (var / 'log').unlink()                          # the dir is put back: rotation goes on
    os.rename(real, var / 'log')

    def rotated_again():            # the log may be between unlink and create
        try:
            return 'not switching' not in svc.log.read_text()
        except FileNotFoundError:
            return False
    assert wait_for(rotated_again, timeout=5)
    assert svc.run('stop').code == 0
    assert (victim / 'svc.log').read_text() == 'ROOT SECRET\n'


def _log_only(cleanup, tmp_path):
    svc = Ctl(cleanup, tmp_path)
    svc.log_dir.mkdir()
    secret = tmp_path / 'secret'
    secret.write_text('SECRET LINE\n')
    return svc, secret


@pytest.mark.parametrize('planted, why', [('fifo', 'not a regular file'),
                                           ('symlink', 'is a symlink'),
                                           ('hard link', 'has 2 hard links')])
def test_log_refuses_what_was_planted_at_the_log_at_once(cleanup, tmp_path, planted, why):
    svc, secret = _log_only(cleanup, tmp_path)
    if planted == 'fifo':
        os.mkfifo(svc.log)
    elif planted == 'symlink':
        svc.log.symlink_to(secret)
    else:
        os.link(secret, svc.log)
    r = svc.run('log', '-n', '3', timeout=10)
    assert r.code == 1 and r.out == '', r
    assert why in one_line(r.err) and str(svc.log) in r.err, r


@needs_root
def test_log_refuses_a_log_dir_the_service_user_swapped_for_a_symlink(cleanup, tmp_path):
    var = tmp_path / 'var'
    var.mkdir()
    os.chown(var, NOBODY.pw_uid, NOBODY.pw_gid)
    shadow = tmp_path / 'shadow'
    shadow.mkdir()
    (shadow / 'svc.log').write_text('SECRET LINE\n')
    svc = Ctl(cleanup, tmp_path, user='nobody', log_dir=var / 'log')
    (var / 'log').symlink_to(shadow)
    os.lchown(var / 'log', NOBODY.pw_uid, NOBODY.pw_gid)
    r = svc.run('log', '-n', '3', timeout=10)
    assert r.code == 1 and 'SECRET' not in r.out, r
    assert 'symlink' in one_line(r.err) and 'refusing' in r.err, r


def test_log_follow_stops_with_one_line_at_a_fifo_planted_after_a_rotation(cleanup, tmp_path):
    svc, _ = _log_only(cleanup, tmp_path)
    svc.log.write_text('first\n')
    follower = svc.popen('log', '-n', '5', '-f')
    assert follower.stdout.readline() == 'first\n'
    os.rename(svc.log, svc.log.with_name('svc.log.1'))
    os.mkfifo(svc.log)
    out, err = follower.communicate(timeout=5)
    assert follower.returncode == 1, (out, err)
    assert 'not a regular file' in one_line(err), err
