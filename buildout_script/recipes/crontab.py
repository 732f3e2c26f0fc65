"""A marked block of lines in the invoking user's crontab.

The service recipe puts ``<schedule> <bin/NAME-check>`` there between two
marker lines that name the buildout directory and the part::

    # BEGIN buildout_script /srv/site [web]
    */1 * * * * /srv/site/bin/web-check
    # END buildout_script /srv/site [web]

Running buildout again replaces the block in place (also when a changed
option makes buildout uninstall and reinstall the part: the new block takes
the old one's line); uninstalling the part removes it.  Every other line of the table is left as it was, and the table is
written (``crontab -``) only when it changed.
"""

import re
import os
import subprocess

NICKNAMES = ('@reboot', '@yearly', '@annually', '@monthly', '@weekly', '@daily',
             '@midnight', '@hourly')
FIELD = re.compile(r'^[0-9A-Za-z*/,\-]+$')


class CrontabError(Exception):
    """Something the user must fix; the message is one sentence."""


def parse_schedule(text):
    """The schedule normalised to single spaces, or CrontabError."""
    fields = (text or '').split()
    if len(fields) == 1 and fields[0].lower() in NICKNAMES:
        return fields[0].lower()
    if len(fields) != 5 or not all(FIELD.match(f) for f in fields):
        raise CrontabError('expected 5 cron fields such as "*/5 * * * *" or one of %s,'
                           ' got %r' % (', '.join(NICKNAMES), text))
    return ' '.join(fields)


def marker(directory, part):
    return 'buildout_script %s [%s]' % (directory, part)


def block(directory, part, lines):
    """The marked block holding ``lines``."""
    name = marker(directory, part)
    return ['# BEGIN ' + name] + list(lines) + ['# END ' + name]


def find_block(rows, directory, part):
    """(start, stop) of the part's block in ``rows``, or None."""
    name = marker(directory, part)
    begin, end = '# BEGIN ' + name, '# END ' + name
    if begin not in rows:
        return None
    start = rows.index(begin)
    if end not in rows[start:]:
        raise CrontabError('the crontab has the line %r but not its %r line;'
                           ' fix it with crontab -e' % (begin, end))
    return start, rows.index(end, start) + 1


def replace_block(table, directory, part, lines, at=None):
    """``table`` (text) with the block for the part set to ``lines``.

    ``lines=None`` removes the block.  A new block goes to line ``at`` if
    given, else at the end.
    """
    rows = table.splitlines()
    new = [] if lines is None else block(directory, part, lines)
    found = find_block(rows, directory, part)
    if found:
        rows[found[0]:found[1]] = new
    elif at is not None:
        rows[at:at] = new
    else:
        rows.extend(new)
    return ''.join(row + '\n' for row in rows)


def read(command):
    """The current table as text ('' when the user has none)."""
    result = _run([command, '-l'])
    if result.returncode == 0:
        return result.stdout
    if result.returncode == 1 and 'no crontab' in result.stderr.lower():
        return ''
    raise CrontabError('%s -l failed (exit code %d): %s' % (
        command, result.returncode, result.stderr.strip() or 'no message'))


def write(command, table):
    result = _run([command, '-'], table)
    if result.returncode != 0:
        raise CrontabError('%s - failed (exit code %d): %s' % (
            command, result.returncode, result.stderr.strip() or 'no message'))


# Where a removed block was, by (directory, part).  Buildout reinstalls a part
# whose options changed by uninstalling it and installing it again in the same
# run; the new block then takes the old one's place instead of moving to the end.
_vacated = {}


def set_block(command, directory, part, lines):
    """Install (or with ``lines=None`` remove) the part's block; True if it changed."""
    table = read(command)
    at = None
    if lines is None:
        found = find_block(table.splitlines(), directory, part)
        if found:
            _vacated[directory, part] = found[0]
    else:
        at = _vacated.pop((directory, part), None)
        if at is not None:
            at = min(at, len(table.splitlines()))
    new = replace_block(table, directory, part, lines, at)
    if new.splitlines() == table.splitlines():
        return False
    write(command, new)
    return True


def _run(argv, stdin=''):
    # LC_ALL=C: "no crontab for USER" is recognised by its English text.
    env = dict(os.environ, LC_ALL='C')
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    except OSError as e:
        raise CrontabError('cannot run %r: %s' % (argv[0], e.strerror))
