"""The per-machine user cache: small JSON files of measurements that belong to this
machine, not to a run (e.g. which precision is faster here).

The folder is $XDG_CACHE_HOME/stylefusion, or ~/.cache/stylefusion. A cache is only
ever an optimisation: an entry that cannot be read (missing, corrupt, of another
shape) is a miss, and one that cannot be written (read-only home, full disk) is
logged and dropped, so a broken cache never fails a run.
"""
import json
import os

from absl import logging

from storage import atomic

APP_FOLDER = "stylefusion"


def cache_dir():
    """$XDG_CACHE_HOME/stylefusion, or ~/.cache/stylefusion."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".cache")
    return os.path.join(base, APP_FOLDER)


def cache_path(name):
    return os.path.join(cache_dir(), f"{name}.json")


def read_entries(name):
    """{key: entry} of the cache file `name`; {} when it is missing or unreadable."""
    path = cache_path(name)
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logging.warning("Ignoring the unreadable cache file %s (%s); it is rewritten "
                        "on the next measurement.", path, error)
        return {}
    return entries if isinstance(entries, dict) else {}


def read_entry(name, key):
    """The dict stored under `key` in the cache file `name`, or None."""
    entry = read_entries(name).get(key)
    return entry if isinstance(entry, dict) else None


def write_entry(name, key, entry):
    """Stores `entry` (a JSON-able dict) under `key`, atomically; returns whether it
    was written (a failure is logged, never raised)."""
    entries = read_entries(name)
    entries[key] = entry
    try:
        atomic.write_json(cache_path(name), entries)
    except (OSError, TypeError, ValueError) as error:
        logging.warning("Could not write the cache file %s (%s); the measurement is "
                        "used for this run only.", cache_path(name), error)
        return False
    return True
