"""``python -m minicontainer.monitor``: build mc-monitor from its C source (``make`` runs this)."""

import shutil
import sys

from . import BINARY, binary, build

if __name__ == "__main__":
    if binary():
        sys.exit(0)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("minicontainer: no C compiler: detached containers will use the Python monitor "
              "(more memory); apt-get install gcc", file=sys.stderr)
        sys.exit(0)
    build(cc)
    print(f"built {BINARY}")
