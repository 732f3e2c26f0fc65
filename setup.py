"""Distribution of the buildout_script recipes (zc.buildout >= 6)."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='buildout_script',
    version='1.0.dev0',
    description=(
        'zc.buildout recipes that render executable scripts from templates '
        'and manage long-running services (ctl with LSB exit codes, '
        'check with Monitoring Plugins conventions).'
    ),
    long_description=read('README.txt'),
    long_description_content_type='text/x-rst',
    license='ZPL-2.1',
    classifiers=[
        'Framework :: Buildout',
        'Framework :: Buildout :: Recipe',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
    ],
    python_requires='>=3.10',
    # templates/ sits at the top of the tree and ships inside the package as
    # buildout_script/templates, in wheels and the strict editable install
    # alike (MANIFEST.in grafts it into the sdist).
    packages=find_packages(include=['buildout_script', 'buildout_script.*']) + [
        'buildout_script.templates', 'buildout_script.templates.service'],
    package_dir={'buildout_script.templates': 'templates'},
    package_data={
        'buildout_script.templates': ['*'],
        'buildout_script.templates.service': ['*'],
    },
    zip_safe=False,
    install_requires=[
        'zc.buildout >= 6',
        'zc.recipe.egg >= 6',
        'psutil',
    ],
    extras_require={
        'test': [
            'pytest',
            'pytest-xdist',  # bin/test runs the suite on every core (up to 4)
            'zope.testing',
            # its own parser loads our supervisord includes in the tests
            'supervisor',
            'gunicorn',     # tests/test_gunicorn.py: an entry point that reads sys.argv
        ],
    },
    entry_points={
        'zc.buildout': [
            'default = buildout_script.recipes.script:Script',
            'template = buildout_script.recipes.script:Template',
            'service = buildout_script.recipes.service:Service',
            'services = buildout_script.recipes.services:Services',
        ],
        'zc.buildout.uninstall': [
            'service = buildout_script.recipes.service:uninstall',
        ],
    },
)
