"""stop: the configured signal, then the whole family -- process group and
every descendant -- down to the last grandchild, by schedule."""

import os
import signal

import pytest

import support
from support import TREE, gone, python_program, recorder, roles, wait_for

pytestmark = support.linux_only


@pytest.mark.parametrize('mode', ['group', 'setsid'])
def test_stop_kills_children_and_grandchildren_ignoring_term(service, tmp_path, mode):
    tree = tmp_path / 'tree'
    svc = service(program=python_program(tmp_path, 'tree.py', TREE, tree, mode),
                  stop_timeout=0.5)
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


def test_stop_counts_a_zombie_as_gone(service):
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


def test_stop_when_not_running_exits_0(service):
    svc = service()
    r = svc.run('stop')
    assert r.code == 0, r
    assert 'not running' in r.out
    r = svc.run('status')
    assert r.code == 3 and 'not running' in r.out, r
