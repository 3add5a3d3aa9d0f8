"""A small configuration parser with a bug worth catching.

Reads `key = value` lines; `# ...` lines are comments; `@include NAME`
parses NAME, relative to the including file, in place. Prints the number of
settings and exits 0, or names the first bad line and exits 1.

The bug: `@include` follows any name, `../..` and absolute paths included,
so a hostile file can make it read any file the process can.
"""

import os
import sys


def parse(path, settings, depth=0):
    if depth > 8:
        raise ValueError(f"{path}: includes nested too deeply")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@include "):
            name = line[len("@include "):].strip()
            parse(os.path.join(os.path.dirname(path), name), settings, depth + 1)
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected `key = value`")
        settings[key.strip()] = value.strip()


def main():
    settings = {}
    try:
        parse(sys.argv[1], settings)
    except (OSError, ValueError) as e:
        print(f"parse.py: {e}", file=sys.stderr)
        return 1
    print(f"{len(settings)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
