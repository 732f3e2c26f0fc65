"""Recipes that render a template: an executable script (the default) or a file.

The 2006 ``build_script`` idea: a template filled with Python ``%``-formatting
from the part's options, so a shell's ``$VAR`` and ``${VAR}`` in a template
survive.  Buildout has already expanded its own ``${section:option}``
references by the time a recipe sees the options.

    [webctl]
    recipe = buildout_script
    template = paster-check
    pidfile = ${buildout:directory}/var/paster.pid
    start = ${buildout:bin-directory}/paster serve --daemon production.ini

A key may carry a filter after a colon: ``%(start:argv)s`` is the option split
as a shell would (``shlex``) and rendered as a Python list, ``%(name:repr)s``
is the Python literal of the text, ``%(pidfile:path)s`` the literal of the path
made absolute against the buildout directory, ``%(dir:quote)s`` the text quoted
for a POSIX shell.
"""

import os
import shlex
import tempfile

import zc.buildout

from buildout_script.config import SettingError

# templates/: its files are the templates a part may name; templates/service/
# holds the service recipe's own, which are not for other parts.


def templates_directory():
    """templates/ inside the package (a wheel, an sdist, the strict editable
    build), or at the top of the checkout when the package is imported from
    the checkout itself: a develop egg's checkout may come first on sys.path."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inside = os.path.join(package, 'templates')
    beside = os.path.join(os.path.dirname(package), 'templates')
    if not os.path.isdir(inside) and os.path.isfile(os.path.join(beside, 'service', 'ctl')):
        return beside
    return inside


TEMPLATES = templates_directory()
SERVICE_TEMPLATES = os.path.join(TEMPLATES, 'service')


def bundled_templates():
    """Names of the templates that ship with the package."""
    return sorted(n for n in os.listdir(TEMPLATES) if not n.startswith(('.', '_'))
                  and os.path.isfile(os.path.join(TEMPLATES, n)))


def part_error(part, option, message):
    """The one-sentence error buildout prints without a traceback."""
    if option:
        return zc.buildout.UserError("Part %r, option %r: %s" % (part, option, message))
    return zc.buildout.UserError("Part %r: %s" % (part, message))


def find_template(part, template, template_dir, base):
    """The path of ``template``: in ``template_dir``, then bundled, then a file.

    Raises UserError naming every place it looked.
    """
    template = template.strip()
    if not template:
        raise part_error(part, 'template', 'is empty; give the name of a bundled'
                         ' template (%s), a path, or inline: and the text'
                         % ', '.join(bundled_templates()))
    places = []
    if template_dir:
        places.append(os.path.join(base, template_dir, template))
    if '/' not in template:
        places.append(os.path.join(TEMPLATES, template))
    places.append(os.path.join(base, os.path.expanduser(template)))
    for path in places:
        if os.path.isfile(path):
            return path
    if os.path.isfile(os.path.join(SERVICE_TEMPLATES, template)):
        raise part_error(part, 'template', '%r is the service recipe\'s own template;'
                         ' for bin/NAMEctl and bin/NAME-check use recipe ='
                         ' buildout_script:service' % template)
    raise part_error(part, 'template', 'no template %r in %s' % (
        template, ', '.join(dict.fromkeys(os.path.dirname(p) for p in places))))


INLINE = 'inline:'


def inline_text(template):
    """The text of ``template = inline:`` (the template itself, on the lines
    that follow), or None for a template named by file.  Buildout strips the
    indentation of those lines unless ``template =`` is left empty and
    ``inline:`` starts the next line; then it keeps what is relative."""
    word = template.strip()
    if not word.startswith(INLINE):
        return None
    text = word[len(INLINE):]
    text = text[1:] if text.startswith('\n') else text.lstrip()
    return text + '\n' if text and not text.endswith('\n') else text


def read_template(part, path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise part_error(part, 'template', 'cannot read %s: %s' % (path, e))


def script_path(part, option, script, bin_directory):
    """The path of a script named by ``option``: a plain name, in bin/."""
    script = script.strip()
    if not script or script.startswith('.') or '/' in script:
        raise part_error(part, option, 'expected a script name for the bin directory,'
                         ' got %r' % script)
    return os.path.join(bin_directory, script)


class Values(dict):
    """The mapping a template is formatted with; ``KEY:FILTER`` applies a filter."""

    def __init__(self, values, base):
        super().__init__(values)
        self.base = base

    def __missing__(self, key):
        name, sep, how = key.rpartition(':')
        if not sep or name not in self:
            raise KeyError(name if sep else key)
        if how not in FILTERS:
            raise UnknownFilter(key)
        try:
            return FILTERS[how](self[name], self.base)
        except ValueError as e:
            raise SettingError(name, '%s (used as %%(%s)s)' % (e, key))


class UnknownFilter(Exception):
    pass


def _argv(text, base):
    try:
        argv = shlex.split(text)
    except ValueError as e:
        raise ValueError('cannot split %r as a command line: %s' % (text, e))
    if not argv:
        raise ValueError('is empty; give a command line')
    return repr(argv)


FILTERS = {
    'repr': lambda text, base: repr(text),
    'argv': _argv,
    'path': lambda text, base: repr(os.path.normpath(
        os.path.join(base, os.path.expanduser(text.strip())))),
    'quote': lambda text, base: shlex.quote(text),
}


# A template line that reads this ends the %-formatted header: what follows
# is copied as it is, so a script's body needs no %% for its percent signs.
VERBATIM = '# --- the rest is copied as it is ---'


def render(part, template, text, values, base):
    """``text % values`` or a UserError naming the key, the template and the part."""
    head, marker, body = text.partition('\n' + VERBATIM + '\n')
    try:
        return head % Values(values, base) + marker + body
    except KeyError as e:
        raise zc.buildout.UserError(
            "Part %r: template %r uses %%(%s)s, but the part has no option %r"
            % (part, template, e.args[0], e.args[0]))
    except UnknownFilter as e:
        raise zc.buildout.UserError(
            "Part %r: template %r uses %%(%s)s, an unknown filter; the filters are %s"
            % (part, template, e.args[0], ', '.join(sorted(FILTERS))))
    except SettingError as e:
        raise part_error(part, e.option, e.message)
    except (ValueError, TypeError) as e:
        raise zc.buildout.UserError(
            "Part %r: template %r is not a valid %%-format (%s); write %%%% for a"
            " literal percent sign" % (part, template, e))


def current_umask():
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def write_if_changed(path, text, executable=False):
    """Write ``text`` to ``path`` atomically unless it is already there.

    Returns True when the file was (re)written.  An unchanged file keeps its
    mtime and inode, so a running script or a watching tool sees no change.
    """
    mode = (0o777 if executable else 0o666) & ~current_umask()
    try:
        with open(path, encoding='utf-8') as f:
            same = f.read() == text
    except (OSError, UnicodeDecodeError):
        same = False
    if same:
        if executable and not os.access(path, os.X_OK):
            os.chmod(path, mode)
        return False
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


class Template:
    """``recipe = buildout_script:template``: render a template into ``output``."""

    executable = False

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        b = buildout['buildout']
        self.base = b['directory']
        self.path = self.output_path()
        template = options.get('template')
        if template is None:
            raise part_error(name, 'template', 'is missing; give the name of a bundled'
                             ' template (%s), a path, or inline: and the text'
                             % ', '.join(bundled_templates()))
        inline = inline_text(template)
        if inline is None:
            template_dir = options.get('template_dir', options.get('template-dir'))
            self.template_path = find_template(name, template, template_dir, self.base)
            text, template = read_template(name, self.template_path), template.strip()
        else:
            self.template_path, text, template = None, inline, INLINE
        values = {
            'python': b['executable'],
            'bin-directory': b['bin-directory'],
            'directory': self.base,
            'part': name,
            'name': name,
            'script': os.path.relpath(self.path, self.base),
        }
        values.update((key, options[key]) for key in options.keys())
        self.text = render(name, template, text, values, self.base)
        # ${part:path} for other parts: the absolute path written (unless
        # the part has an option of that name for its template).
        options.setdefault('path', self.path)

    def output_path(self):
        output = self.options.get('output', '').strip()
        if not output:
            raise part_error(self.name, 'output', 'is missing; give the path of the'
                             ' file to write')
        return os.path.join(self.base, os.path.expanduser(output))

    def install(self):
        write_if_changed(self.path, self.text, self.executable)
        self.options.created(self.path)
        return self.options.created()

    update = install


class Script(Template):
    """``recipe = buildout_script``: render a template into an executable script.

    The script is ``target`` (default: the part name) in the bin directory.
    """

    executable = True

    def output_path(self):
        return script_path(self.name, 'target', self.options.get('target', self.name),
                           self.buildout['buildout']['bin-directory'])
