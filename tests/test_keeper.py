"""Supervised mode (``--supervise``): the pid dir's keeper, real kills."""

import os
import signal
import subprocess
import sys

import pytest

import support
from support import Ctl, alive, gone, proc, wait_for


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


def test_start_runs_a_keeper_that_ps_names_and_the_program_as_its_child(kept):
    svc = kept()
    program = svc.start_ok()
    keeper = proc(svc.keeper_pid())
    assert program.ppid() == keeper.pid
    assert keeper.cmdline()[1:] == ['-S', '-m', 'buildout_script.keeper', str(svc.pid_dir)]
    assert keeper.name() == 'keeper'
    st = svc.status_json()
    assert st['state'] == 'running' and st['pid'] == program.pid
    assert st['keeper'] == keeper.pid and st['supervised'] and st['restarts'] == 0
    r = svc.run('stop')
    assert r.code == 0 and 'stopped (pid %d)' % program.pid in r.out, r
    assert gone(program) and gone(keeper)
    assert not (svc.pid_dir / 'svc.keeper').exists()
    assert svc.run('status').code == 3


def test_kill_9_of_the_program_brings_it_back_at_once(kept):
    svc = kept()
    first = svc.start_ok()
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: svc.pid_file.exists() and svc.read_pid() != first.pid)
    wait_for(lambda: svc.status_json()['restarts'] == 1)
    st = svc.status_json()
    assert st['state'] == 'running' and st['last-exit'] == 'killed by SIGKILL', st
    assert 'restarted it' in svc.log.read_text()
    svc.run('stop')


def test_keeper_gives_up_after_the_restart_limit_and_the_check_says_critical(kept):
    svc = kept(program=support.program(sys.executable, '-c', 'import time; time.sleep(0.3)'),
               restart_limit=2, ready='alive:0.1')
    svc.start_ok()
    wait_for(lambda: 'gave up' in svc.run('status').out, timeout=30)
    assert svc.run('status').code == 3
    check = subprocess.run(svc.argv()[:1] + ['-m', 'buildout_script.check']
                           + svc.argv()[3:], env=svc.env(), capture_output=True, text=True)
    assert check.returncode == 2 and 'gave up' in check.stdout, check
    assert svc.run('start').code == 0       # a person's start resumes
    svc.run('stop')


def test_kill_9_of_the_keeper_leaves_the_program_and_the_next_command_adopts_it(kept):
    # Each line in two writes: the keeper may well die in the middle of one.
    svc = kept(program=support.program(sys.executable, '-c', 'import sys, time, itertools\n'
                               'for i in itertools.count():\n'
                               '    sys.stdout.write("line"); sys.stdout.flush()\n'
                               '    time.sleep(0.003)\n'
                               '    sys.stdout.write(" %d\\n" % i); sys.stdout.flush()\n'
                               '    time.sleep(0.007)'))
    program = svc.start_ok()
    keeper = proc(svc.keeper_pid())
    keeper.kill()
    wait_for(lambda: gone(keeper))
    assert alive(program)
    r = svc.run('status')
    assert r.code == 0 and 'unsupervised' in r.out, r
    r = svc.run('start')
    assert r.code == 0 and 'adopted' in r.out, r
    assert svc.read_pid() == program.pid          # never a second copy
    assert svc.status_json()['keeper'] != keeper.pid
    # What it wrote meanwhile waited in the pipe: every line is there once.
    r = svc.run('stop')
    assert r.code == 0 and gone(program), r
    numbers = [int(l.split()[1]) for l in svc.log.read_text().splitlines()
               if l.startswith('line ')]
    assert numbers == list(range(len(numbers))) and len(numbers) > 10, svc.log.read_text()[:600]


def test_supervise_turned_off_while_kept_goes_through_the_keeper_until_it_ends(kept):
    svc = kept()
    program = svc.start_ok()
    keeper = proc(svc.keeper_pid())
    plain = svc.run                             # the same service, supervise = false
    r = plain('status', supervise='false')
    assert r.code == 0 and 'kept by pid %d' % keeper.pid in r.out, r
    r = plain('restart', supervise='false')      # hands over to the cron mode
    assert r.code == 0 and 'restarted (pid %d, was %d)' % (svc.read_pid(), program.pid) \
        in r.out, r
    assert gone(program) and gone(keeper)
    program = proc(svc.read_pid())
    r = plain('status', supervise='false')
    assert r.code == 0 and 'kept' not in r.out, r
    assert plain('stop', supervise='false').code == 0 and gone(program)
    # A stop behind a keeper's back would be undone by its restart.
    program = svc.start_ok()
    keeper = proc(svc.keeper_pid())
    r = plain('stop', supervise='false')
    assert r.code == 0 and gone(program) and gone(keeper), r
    assert plain('status', supervise='false').code == 3 and not svc.pid_file.exists()


def test_status_says_starting_while_the_keeper_waits_for_ready(kept):
    svc = kept(ready='alive:1')
    start = svc.popen('start')
    assert wait_for(lambda: svc.pid_file.exists())
    r = svc.run('status')
    assert r.code == 0 and r.out.startswith('svc is starting (pid %d, waiting for alive:1;'
                                            % svc.read_pid()), r
    assert start.wait(timeout=30) == 0
    assert svc.status_json()['state'] == 'running'
    import time; print(time.strftime('%T'), svc.log.read_text())
    svc.run('stop')


def test_check_adopts_an_unsupervised_program_with_a_warning(kept):
    svc = kept()
    program = svc.start_ok()
    proc(svc.keeper_pid()).kill()
    wait_for(lambda: 'unsupervised' in svc.run('status').out)
    argv = svc.argv()
    check = subprocess.run(argv[:1] + ['-m', 'buildout_script.check'] + argv[3:],
                           env=svc.env(), capture_output=True, text=True)
    assert check.returncode == 1 and 'adopted' in check.stdout, check
    st = svc.status_json()
    assert st['pid'] == program.pid and st['supervised'] and st['adopted']
    program.kill()                  # adopted: restarted, its exit status unknown
    wait_for(lambda: svc.status_json()['pid'] not in (None, program.pid))
    assert 'unknown' in svc.status_json()['last-exit']
    svc.run('stop')


def test_restart_keeps_the_keeper_and_kill_reaches_the_program(kept):
    svc = kept()
    first = svc.start_ok()
    keeper = svc.keeper_pid()
    r = svc.run('restart')
    assert r.code == 0 and 'restarted' in r.out, r
    assert svc.keeper_pid() == keeper and svc.read_pid() != first.pid
    assert gone(first)
    second = svc.read_pid()
    r = svc.run('kill', 'KILL')
    assert r.code == 0, r
    wait_for(lambda: svc.read_pid() not in (second,) if svc.pid_file.exists() else False)
    assert svc.keeper_pid() == keeper
    svc.run('stop')


def test_stop_stops_what_the_program_left_to_the_subreaper(kept, tmp_path):
    script = support.script(tmp_path, 'forker.py', (
        'import subprocess, sys, time\n'
        'subprocess.Popen(["sleep", "300"], start_new_session=True)\n'
        'time.sleep(300)\n'))
    svc = kept(program=support.program(sys.executable, script))
    program = svc.start_ok()
    wait_for(lambda: program.children())
    orphan = program.children()[0]
    r = svc.run('stop')
    assert r.code == 0 and gone(program) and gone(orphan), r


def test_start_of_a_missing_program_exits_5_and_leaves_no_keeper(kept, tmp_path):
    svc = kept(program=support.program(str(tmp_path / 'no-such-program')))
    r = svc.run('start')
    assert r.code == 5 and 'program not found' in r.err, r
    assert not svc.pid_file.exists()
    assert svc.run('status').code == 3


def test_supervise_alone_on_the_command_line_means_true(cleanup, tmp_path):
    svc = Ctl(cleanup, tmp_path, program=support.program('sleep', '300'))
    argv = svc.argv() + ['--supervise', 'start']
    done = subprocess.run(argv, env=svc.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'kept by pid' in done.stdout, done
    done = subprocess.run(svc.argv() + ['--supervise', 'stop'], env=svc.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'stopped' in done.stdout, done


def test_a_program_killed_during_its_backoff_wait_is_restarted_after_its_leftovers(kept, tmp_path):
    """The second program dies within restart-delay of the first restart,
    so the keeper waits (about 3 s), while the child it left takes 4 s to
    end after TERM: the next program starts once the child is gone."""
    launches, child = tmp_path / 'launches', tmp_path / 'child'
    script = support.script(tmp_path, 'slow_child.py', (
        'import os, signal, time\n'
        'with open(%r, "a") as f:\n'
        '    f.write("launch\\n")\n'
        'if open(%r).read().count("launch") == 2 and os.fork() == 0:\n'
        '    signal.signal(signal.SIGTERM, lambda *a: (time.sleep(4), os._exit(0)))\n'
        '    open(%r, "w").write(str(os.getpid()))\n'
        'time.sleep(300)\n') % (str(launches), str(launches), str(child)))
    svc = kept(program=support.program(sys.executable, script), restart_delay=3, stop_timeout=10)
    first = svc.start_ok()
    # Not launches.exists(): killed between creating it and writing its line,
    # the first would leave the second program counting one launch, not two.
    assert wait_for(lambda: launches.exists() and 'launch' in launches.read_text())
    os.kill(first.pid, signal.SIGKILL)
    assert wait_for(lambda: child.exists() and child.read_text()), \
        (launches.read_text(), svc.told())
    second = proc(svc.read_pid())
    os.kill(second.pid, signal.SIGKILL)
    assert wait_for(lambda: 'next restart in' in svc.log.read_text()), svc.told()
    assert wait_for(lambda: launches.read_text().count('launch') == 3, timeout=15), \
        svc.told()
    assert gone(proc(int(child.read_text())))
    assert svc.status_json()['state'] == 'running'
    svc.run('stop')
