"""The recipes as a user installs them: from a checkout used as a develop
egg (``develop = /path/to/checkout``, as mr.developer does), from a wheel
and from an sdist built from this tree.  Each is a real, offline
``bin/buildout`` run in a temporary directory, with this tree's eggs.

templates/ sits at the top of the tree and ships inside the package; the
package imported straight from a checkout finds it there too.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

import support

ROOT = support.ROOT
TEMPLATES = ('paster-check', 'service/ctl', 'service/check', 'service/services')
# What the recipes need besides themselves, from this tree's eggs.
REQUIRED = ('psutil', 'zc.recipe.egg')


def tree_copy(tmp_path):
    """A checkout of this tree, as git would give it (no build, no eggs)."""
    tree = tmp_path / 'checkout'
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'bin', 'eggs', 'develop-eggs', 'parts', 'build', 'var', 'dist',
        '*.egg-info', '__pycache__', '.installed.cfg', 'bench', '.pytest_cache'))
    return tree


def offline_buildout(directory, parts, develop='', find_links=''):
    """Run bin/buildout in ``directory`` with ``parts`` (text), the recipes
    from ``develop`` or ``find_links``, nothing from an index; (code, output)."""
    directory = pathlib.Path(directory)
    eggs = directory / 'eggs' / 'v5'
    eggs.mkdir(parents=True)
    for egg in (ROOT / 'eggs' / 'v5').iterdir():
        if egg.name.split('-')[0] in REQUIRED:
            (eggs / egg.name).symlink_to(egg)
    (directory / 'no-index').mkdir()
    names = [line[1:-1] for line in parts.splitlines() if line.startswith('[')]
    (directory / 'buildout.cfg').write_text(
        '[buildout]\ndevelop = %s\nfind-links = %s\nindex = %s\n'
        'eggs-directory = %s\nnewest = false\nparts = %s\n\n%s' % (
            develop, find_links, (directory / 'no-index').as_uri(),
            directory / 'eggs', ' '.join(names), parts))
    env = dict(os.environ, PIP_NO_INDEX='1', PIP_NO_BUILD_ISOLATION='0')
    env.pop('PYTHONPATH', None)
    done = subprocess.run([str(ROOT / 'bin' / 'buildout'), '-c',
                           str(directory / 'buildout.cfg')], cwd=str(directory), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout + done.stderr


PARTS = '''\
[web]
recipe = buildout_script:service
program = /bin/sleep 300

[hello]
recipe = buildout_script
template = inline:
    #!/bin/sh
    echo %(greeting)s
greeting = hello from a script part

[conf]
recipe = buildout_script:template
template = app.conf.in
output = ${buildout:directory}/etc/app.conf
port = 8080
'''


def installs_every_recipe(directory, cleanup, **recipes_from):
    """A buildout with a service, a script and a template part, each working."""
    directory = pathlib.Path(directory)
    directory.mkdir(exist_ok=True)
    cleanup.dirs.append(directory)
    (directory / 'app.conf.in').write_text('port = %(port)s\n')
    code, out = offline_buildout(directory, PARTS, **recipes_from)
    assert code == 0, out
    assert 'Traceback' not in out, out
    assert (directory / 'etc' / 'app.conf').read_text() == 'port = 8080\n'
    hello = subprocess.run([str(directory / 'bin' / 'hello')], capture_output=True, text=True)
    assert hello.stdout == 'hello from a script part\n'
    webctl = str(directory / 'bin' / 'webctl')
    for action, code in (('start', 0), ('status', 0), ('stop', 0), ('status', 3)):
        done = subprocess.run([webctl, action], capture_output=True, text=True, timeout=60)
        assert done.returncode == code, (action, done)
        assert 'Traceback' not in done.stdout + done.stderr


def test_the_package_imported_from_a_checkout_finds_every_template(tmp_path):
    tree = tree_copy(tmp_path)
    code = ('import buildout_script.recipes.script as s\n'
            'print(s.__file__)\n'
            'print(s.TEMPLATES)\n'
            'for name in %r:\n'
            '    s.read_template("web", s.os.path.join(s.TEMPLATES, name))\n'
            'print(" ".join(s.bundled_templates()))\n' % (TEMPLATES,))
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=str(tmp_path),
                          env=support.environment(
                              PYTHONPATH=os.pathsep.join([str(tree), support.python_path()])))
    assert done.returncode == 0, done.stderr
    module, templates, bundled = done.stdout.splitlines()
    assert module.startswith(str(tree / 'buildout_script') + os.sep)
    assert templates == str(tree / 'templates')
    assert bundled.split() == ['paster-check']


def test_a_buildout_with_a_checkout_as_develop_egg_installs_every_recipe(tmp_path, cleanup):
    installs_every_recipe(tmp_path / 'buildout', cleanup, develop=str(tree_copy(tmp_path)))


def build(kind, tree, dist):
    if kind == 'wheel':
        argv = [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                '--no-build-isolation', '-w', str(dist), str(tree)]
    else:
        argv = [sys.executable, 'setup.py', '-q', 'sdist', '-d', str(dist)]
    done = subprocess.run(argv, cwd=str(tree), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PIP_NO_INDEX='1'))
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = dist.iterdir()
    return built


def test_a_wheel_carries_the_templates_inside_the_package(tmp_path):
    wheel = build('wheel', tree_copy(tmp_path), tmp_path / 'dist')
    names = zipfile.ZipFile(wheel).namelist()
    for template in TEMPLATES:
        assert 'buildout_script/templates/' + template in names


@pytest.mark.parametrize('kind', ['wheel', 'sdist'])
def test_a_buildout_with_the_recipes_from_a_built_distribution(tmp_path, cleanup, kind):
    dist = tmp_path / 'dist'
    build(kind, tree_copy(tmp_path), dist)
    installs_every_recipe(tmp_path / 'buildout', cleanup, find_links=str(dist))
