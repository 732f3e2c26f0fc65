"""environment-file: secrets read at every start, never written into bin/."""

import os

import support
from support import wait_for


def configure(sample, extra=''):
    sample.configure('[web]\nrecipe = buildout_script:service\n'
                     "program = /bin/sh -c 'env; exec sleep 60'\n"
                     'environment-file = secrets.env\n'
                     'environment = PLAIN=shown\n  TOKEN=from-environment\n' + extra)
    code, out = sample.buildout()
    assert code == 0, out


def started_environment(sample):
    """Start the program (it prints its environment, then sleeps); the log."""
    log = sample.path('var', 'log', 'web.log')
    before = os.path.getsize(log) if os.path.exists(log) else 0
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 0, out
    assert wait_for(lambda: os.path.exists(log) and 'PLAIN=' in sample.read(
        'var/log/web.log')[before:])
    wait_for(lambda: 'TOKEN=' in sample.read('var/log/web.log')[before:])
    assert sample.run(['bin/webctl', 'stop'])[0] == 0
    return sample.read('var/log/web.log')[before:]


def test_values_are_read_at_start_and_never_written_into_bin(sample):
    sample.write('secrets.env', '# the database\nDB_PASSWORD=s3cret\n\nTOKEN=from-file\n')
    configure(sample)
    env = started_environment(sample)
    assert 'DB_PASSWORD=s3cret\n' in env and 'PLAIN=shown\n' in env
    assert 'TOKEN=from-file\n' in env            # the file wins over environment
    for script in sample.ls('bin'):
        assert 's3cret' not in sample.read('bin/' + script)
    assert sample.path('secrets.env') in sample.read('bin/webctl')
    sample.write('secrets.env', 'DB_PASSWORD=n3w\n')
    assert 'DB_PASSWORD=n3w\n' in started_environment(sample)


def test_a_changed_file_is_a_change_to_apply(sample):
    sample.write('secrets.env', 'DB_PASSWORD=s3cret\n')
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'environment-file = secrets.env\n')
    assert sample.buildout()[0] == 0
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        sample.write('secrets.env', '# a comment is no change\nDB_PASSWORD=s3cret\n')
        assert 'old settings' not in sample.run(['bin/webctl', 'status'])[1]
        sample.write('secrets.env', 'DB_PASSWORD=rotated\n')
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0 and 'old settings' in out and 'changed: environment-file' in out
        assert 'rotated' not in sample.read('var/run/web.settings')
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_a_missing_file_is_not_configured(sample):
    configure(sample)
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 6, out
    assert out == 'web not started: the environment file %s does not exist; create it' \
        ' (KEY=VALUE lines) or remove the option\n' % sample.path('secrets.env')


def test_a_bad_line_is_named_by_number_and_not_shown(sample):
    sample.write('secrets.env', 'GOOD=1\nthis is the password\n')
    configure(sample)
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 6, out
    assert out == 'web not started: the environment file %s, line 2: expected' \
        ' KEY=VALUE\n' % sample.path('secrets.env')


def test_a_symlink_is_refused(sample):
    sample.write('real.env', 'A=1\n')
    os.symlink(sample.path('real.env'), sample.path('secrets.env'))
    configure(sample)
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 6 and 'is a symlink; refusing to follow it' in out, out


needs_root = support.needs_root


@needs_root
def test_root_refuses_a_file_others_can_read_for_another_user(sample):
    sample.write('secrets.env', 'DB_PASSWORD=s3cret\n')
    os.chmod(sample.path('secrets.env'), 0o640)
    configure(sample, 'user = nobody\ndirectory = /\n')
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 6, out
    assert out == 'web not started: the environment file %s is open to group or others' \
        ' (mode 640); it may hold secrets: chmod 600 %s\n' % ((sample.path('secrets.env'),) * 2)
    os.chmod(sample.path('secrets.env'), 0o600)
    os.chown(sample.path('secrets.env'), 1, 1)          # daemon, neither root nor nobody
    code, out = sample.run(['bin/webctl', 'start'])
    assert code == 6 and 'belongs to uid 1; it must belong to root or nobody' in out, out
    os.chown(sample.path('secrets.env'), 0, 0)
    env = started_environment(sample)
    assert 'DB_PASSWORD=s3cret\n' in env and 'USER=nobody\n' in env
