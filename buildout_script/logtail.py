"""``ctl log [-n N] [-f]``: the last lines of a log, and what follows.

Following survives rotation: when the name points to a new file (logrotate,
or the keeper's own size rotation), the rest of the old file is read, then
the new one from its start, as ``tail -F`` does.  Each file is opened as
logfiles.open_to_read opens it (root may be the reader of a log dir the
service's user owns): a symlink, FIFO or hard link at the log is refused with
one line, and exit code 1.
"""

import os
import sys
import time

from . import logfiles
from . import trusted


def parse_args(args):
    """(lines, follow) from ``-n N``, ``-nN``, ``-f``; ValueError if wrong."""
    lines, follow = 10, False
    args = list(args)
    while args:
        word = args.pop(0)
        if word in ('-f', '--follow'):
            follow = True
        elif word in ('-n', '--lines') and args:
            lines = _count(args.pop(0))
        elif word.startswith('-n') and len(word) > 2:
            lines = _count(word[2:])
        else:
            raise ValueError('log takes -n LINES and -f, got %r' % word)
    return lines, follow


def _count(text):
    if not text.isdigit():
        raise ValueError('-n needs a number of lines, got %r' % text)
    return int(text)


def last_lines(f, count):
    """The last ``count`` lines of an open binary file, reading from its end."""
    end = f.seek(0, os.SEEK_END)
    data, at = b'', end
    while at > 0 and data.count(b'\n') <= count:
        step = min(65536, at)
        at -= step
        f.seek(at)
        data = f.read(step) + data
    lines = data.splitlines(keepends=True)
    f.seek(end)
    return lines[-count:] if count else []


def _open(path):
    """The log opened to read, or None when the one line saying why not was said."""
    try:
        return open(logfiles.open_to_read(path), 'rb')
    except trusted.Untrusted as e:
        print(e, file=sys.stderr)
    except OSError as e:
        print('%s: %s' % (path, e.strerror), file=sys.stderr)
    return None


def show(path, count, follow, out=None, interval=0.2):
    out = out or sys.stdout.buffer
    f = _open(path)
    if f is None:
        return 1
    try:
        out.writelines(last_lines(f, count))
        out.flush()
        while follow:
            data = f.read()
            if data:
                out.write(data)
                out.flush()
                continue
            try:
                moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except OSError:
                moved = False
            if moved:
                out.write(f.read())         # what came after our last read
                out.flush()
                f.close()
                f = _open(path)
                if f is None:
                    return 1
                continue
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        pass
    finally:
        if f is not None:
            f.close()
    return 0
