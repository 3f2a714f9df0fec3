"""Where the reference tools find the full-size source images (see tests/fixtures/SOURCES.md):
astronaut.png, chelsea.png and coffee.png from the scikit-image 0.26.0 wheel's skimage/data/,
and starry_night.jpg from Debian's opencv-doc 4.6.0 (examples/data/). Set ASSETS_DIR to the
folder holding them."""
import os
import pathlib
import sys


def assets_dir() -> pathlib.Path:
    path = os.environ.get("ASSETS_DIR")
    if not path or not pathlib.Path(path).is_dir():
        sys.exit(
            "set ASSETS_DIR to a folder with astronaut.png, chelsea.png, coffee.png "
            "(pip download --no-deps scikit-image==0.26.0; unzip skimage/data/*) and "
            "starry_night.jpg (apt-get download opencv-doc)"
        )
    return pathlib.Path(path)
