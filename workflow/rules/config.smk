# The config checked before anything is planned: its keys against the schema (defaults filled in), the
# names a user's --configfile may take, the targets; and _checked, which turns a config or manifest error
# into one WorkflowError naming the key. Every later file relies on the config being valid.

import os

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nemi import datasets as _ds
from nemi.errors import NemiInputError
from nemi.params import schema_path


def _experiments_check_shipped(shipped_file, user_files):
    from nemi.experiments import check_shipped_names

    with open(shipped_file) as f:
        shipped = yaml.safe_load(f) or {}
    contents = []
    for path in user_files:
        with open(path) as f:
            contents.append((path, yaml.safe_load(f) or {}))
    check_shipped_names(shipped, shipped_file, contents)


# Stops the run before any job starts with one line naming the offending key (a misspelt one with the
# nearest known key); Snakemake's validate then fills the defaults in (its own error would print the
# whole schema). The schema lives in the package: it is also where every stage's defaults are written.
try:
    _ds.coerce_command_line_text(config)  # --config's nested values arrive as text
    _ds.check_config(config)
except NemiInputError as _err:
    raise WorkflowError(str(_err)) from None
validate(config, schema=schema_path())


# A user's --configfile is merged into config.yaml key by key: an experiment, pretraining or preset of theirs
# named as one of config.yaml's would silently take that one's other keys (and change the demo's rows).
_user_files = [os.path.abspath(f) for f in workflow.overwrite_configfiles]
for _shipped_file in [os.path.abspath(f) for f in workflow.configfiles if os.path.abspath(f) not in _user_files]:
    try:
        _experiments_check_shipped(_shipped_file, _user_files)
    except NemiInputError as _err:
        raise WorkflowError(str(_err)) from None


for _name in config["targets"]:
    if _name not in config["datasets"]:
        raise WorkflowError(f"config key targets: no dataset {_name!r} under datasets "
                            f"(known: {', '.join(sorted(config['datasets']))})")


def _checked(fn):
    """Config and manifest errors become one WorkflowError naming the key or file, before any job."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NemiInputError as err:
            raise WorkflowError(str(err)) from None

    return wrapper
