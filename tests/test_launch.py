"""What a program is started with (log files appended, no inherited
descriptors, its directory, umask and environment), and a program that
cannot be launched: exit 5 or 6 with one line naming why, nothing recorded."""

import json
import os

import pytest

import support
from support import DUMPER, PRINTER, one_line, program, python_program

pytestmark = support.linux_only


def test_output_is_appended_to_the_log_never_truncated(service, tmp_path):
    flag = tmp_path / 'printed'
    svc = service(program=python_program(tmp_path, 'printer.py', PRINTER, flag),
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
    svc = service(program=python_program(tmp_path, 'printer.py', PRINTER, flag),
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
    svc = service(program=python_program(tmp_path, 'dumper.py', DUMPER, out, 'a b', '--x'),
                  directory=work, umask='027', environment='GREETING=hello\n# note\n',
                  ready='exec:' + program('test', '-e', out))
    svc.start_ok()
    facts = json.loads(out.read_text())
    assert facts == {'cwd': str(work), 'umask': 0o027, 'argv': ['a b', '--x'],
                     'greeting': 'hello'}, facts


# -- cannot be launched -------------------------------------------------------------------

def missing_program(tmp_path):
    missing = tmp_path / 'bin' / 'no-such-program'
    return dict(program=program(missing, '--serve')), str(missing)


def not_executable(tmp_path):
    plain = tmp_path / 'not-executable'
    plain.write_text('#!/bin/sh\nsleep 300\n')
    plain.chmod(0o644)
    return dict(program=program(plain)), str(plain)


def not_a_program(tmp_path):
    junk = tmp_path / 'junk'
    junk.write_text('not a program\n')
    junk.chmod(0o755)
    return dict(program=program(junk)), str(junk)


def missing_directory(tmp_path):
    return dict(directory=tmp_path / 'no-such-dir'), 'no-such-dir'


def unknown_user(tmp_path):
    return dict(user='no-such-user-bsctl'), 'no-such-user-bsctl'


@pytest.mark.parametrize('action, cause, code', [
    (['start'], missing_program, 5),
    (['start'], not_executable, 5),
    (['start'], missing_directory, 6),
    (['start'], unknown_user, 6),
    (['foreground'], missing_program, 5),
    (['foreground'], not_a_program, 5),
    (['spawn', '1'], missing_program, 5),
], ids=lambda v: v[0] if isinstance(v, list) else v.__name__.replace('_', '-')
    if callable(v) else str(v))
def test_program_that_cannot_be_launched_exits_5_or_6_in_one_line(service, tmp_path,
                                                                  action, cause, code):
    options, named = cause(tmp_path)
    svc = service(**options)
    r = svc.run(*action)
    assert r.code == code, r
    assert named in one_line(r.err), r
    assert not svc.pid_file.exists() and not svc.identity_file.exists()
    assert svc.run('status').code == 3
