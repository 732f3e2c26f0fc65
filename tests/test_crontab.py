"""The cron option: a marked block in the user's crontab, kept by buildout.

Every test points the ``crontab`` option at a stand-in (the fake_crontab fixture)
that keeps the table in a file: the real user's crontab is never touched.
"""

import shlex

import pytest

from buildout_script.recipes import crontab
from buildout_script.recipes.crontab import CrontabError, parse_schedule, replace_block


# -- the pieces ---------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('*/1 * * * *', '*/1 * * * *'),
    ('  0   3 * * mon-fri ', '0 3 * * mon-fri'),
    ('5,35 8-18/2 1 jan,jul *', '5,35 8-18/2 1 jan,jul *'),
    ('@reboot', '@reboot'),
    ('@HOURLY', '@hourly'),
])
def test_schedule_accepts_five_fields_or_a_nickname(text, expected):
    assert parse_schedule(text) == expected


@pytest.mark.parametrize('text', [
    '', '* * * *', '* * * * * *', 'every minute', '@sometimes', '* * * * 1%2',
    '*/5 * * * *\n* * * * *',
])
def test_schedule_rejects_anything_else(text):
    with pytest.raises(CrontabError, match='expected 5 cron fields'):
        parse_schedule(text)


def test_block_is_appended_then_replaced_in_place_then_removed():
    table = 'MAILTO=me@example.org\n0 1 * * * backup\n'
    one = replace_block(table, '/srv/site', 'web', ['* * * * * /srv/site/bin/web-check'])
    assert one == (table + '# BEGIN buildout_script /srv/site [web]\n'
                   '* * * * * /srv/site/bin/web-check\n'
                   '# END buildout_script /srv/site [web]\n')
    edited = one + '30 2 * * * other\n'
    two = replace_block(edited, '/srv/site', 'web', ['*/5 * * * * /srv/site/bin/web-check'])
    assert two == (table + '# BEGIN buildout_script /srv/site [web]\n'
                   '*/5 * * * * /srv/site/bin/web-check\n'
                   '# END buildout_script /srv/site [web]\n'
                   '30 2 * * * other\n')
    assert replace_block(two, '/srv/site', 'web', None) == table + '30 2 * * * other\n'


def test_blocks_of_other_parts_and_buildouts_are_left_alone():
    table = replace_block('', '/srv/a', 'web', ['1 * * * * a'])
    table = replace_block(table, '/srv/b', 'web', ['2 * * * * b'])
    table = replace_block(table, '/srv/a', 'db', ['3 * * * * c'])
    assert replace_block(table, '/srv/a', 'web', None) == (
        '# BEGIN buildout_script /srv/b [web]\n2 * * * * b\n# END buildout_script /srv/b [web]\n'
        '# BEGIN buildout_script /srv/a [db]\n3 * * * * c\n# END buildout_script /srv/a [db]\n')


def test_a_begin_without_its_end_is_an_error_not_a_guess():
    table = '# BEGIN buildout_script /srv/a [web]\n* * * * * x\n0 1 * * * backup\n'
    with pytest.raises(CrontabError, match='fix it with crontab -e'):
        replace_block(table, '/srv/a', 'web', None)


def test_no_crontab_for_user_reads_as_empty(fake_crontab):
    command, table, log = fake_crontab
    assert crontab.read(command) == ''
    assert crontab.set_block(command, '/srv/a', 'web', ['* * * * * x']) is True
    assert crontab.set_block(command, '/srv/a', 'web', ['* * * * * x']) is False
    assert log.read_text() == '-l\n-l\n-\n-l\n'
    assert crontab.set_block(command, '/srv/a', 'web', None) is True
    assert table.read_text() == ''


def test_a_missing_command_is_an_error():
    with pytest.raises(CrontabError, match="cannot run '/no/such/crontab'"):
        crontab.read('/no/such/crontab')


def test_a_failing_command_is_an_error(tmp_path):
    broken = tmp_path / 'crontab'
    broken.write_text('#!/bin/sh\necho "crontab: permission denied" >&2\nexit 1\n')
    broken.chmod(0o755)
    with pytest.raises(CrontabError, match='permission denied'):
        crontab.read(str(broken))


# -- through buildout ---------------------------------------------------------

def service(command, extra=''):
    return ('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
            'crontab = %s\n%s' % (command, extra))


def test_buildout_installs_replaces_and_removes_the_cron_block(sample, fake_crontab):
    command, table, log = fake_crontab
    table.write_text('MAILTO=ops@example.org\n0 1 * * * /usr/local/bin/backup\n')
    check = shlex.quote(sample.path('bin', 'web-check'))
    begin = '# BEGIN buildout_script %s [web]\n' % sample.dir
    end = '# END buildout_script %s [web]\n' % sample.dir

    sample.configure(service(command, 'cron = */1 * * * *\n'))
    code, out = sample.buildout()
    assert code == 0, out
    assert table.read_text() == ('MAILTO=ops@example.org\n0 1 * * * /usr/local/bin/backup\n'
                                 + begin + '*/1 * * * * %s\n' % check + end)

    # Unchanged: read, not written.
    log.write_text('')
    code, out = sample.buildout()
    assert code == 0, out
    assert log.read_text() == '-l\n'

    # A line the user added after our block stays where it is.
    table.write_text(table.read_text() + '@reboot /usr/local/bin/hello\n')
    sample.configure(service(command, 'cron = 0 * * * *\n'))
    code, out = sample.buildout()
    assert code == 0, out
    assert table.read_text() == ('MAILTO=ops@example.org\n0 1 * * * /usr/local/bin/backup\n'
                                 + begin + '0 * * * * %s\n' % check + end
                                 + '@reboot /usr/local/bin/hello\n')

    # Removing the part removes the block and nothing else.
    sample.configure('', parts=[])
    code, out = sample.buildout()
    assert code == 0, out
    assert table.read_text() == ('MAILTO=ops@example.org\n0 1 * * * /usr/local/bin/backup\n'
                                 '@reboot /usr/local/bin/hello\n')


def test_dropping_the_cron_option_removes_the_block(sample, fake_crontab):
    command, table, log = fake_crontab
    sample.configure(service(command, 'cron = @hourly\n'))
    assert sample.buildout()[0] == 0
    assert '@hourly ' in table.read_text()
    sample.configure(service(command))
    code, out = sample.buildout()
    assert code == 0, out
    assert table.read_text() == ''
    assert 'web-check' in sample.ls('bin')


def test_without_cron_the_crontab_is_never_run(sample, fake_crontab):
    command, table, log = fake_crontab
    sample.configure(service(command))
    assert sample.buildout()[0] == 0
    sample.configure('', parts=[])
    assert sample.buildout()[0] == 0
    assert not log.exists()


def test_a_missing_crontab_command_names_the_option(sample):
    sample.configure(service('/no/such/crontab', 'cron = */5 * * * *\n'))
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'web', option 'crontab': command '/no/such/crontab' not found"
            in out)
    assert 'Traceback' not in out


def test_a_bad_schedule_names_the_option(sample, fake_crontab):
    command, table, log = fake_crontab
    sample.configure(service(command, 'cron = */5 * * *\n'))
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web', option 'cron': expected 5 cron fields" in out
    assert not log.exists()


def test_cron_needs_the_check_script(sample, fake_crontab):
    command, table, log = fake_crontab
    sample.configure(service(command, 'cron = @hourly\ncheck-script =\n'))
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web', option 'cron': needs the check script" in out


def test_a_failing_crontab_leaves_no_script_behind(sample, tmp_path):
    broken = tmp_path / 'crontab'
    broken.write_text('#!/bin/sh\necho "crontab: your account is locked" >&2\nexit 1\n')
    broken.chmod(0o755)
    sample.configure(service(str(broken), 'cron = @hourly\n'))
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web', option 'crontab': " in out
    assert 'your account is locked' in out
    assert sample.ls('bin') == ['buildout']
