"""scripts/real_text.py's cleaning and readers on inline strings (the fetcher itself needs the
package registries and minutes: never run by the tests)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import pytest

from scripts.real_text import SOURCES, clean, looks_like, read_ftl, read_html, read_mallard, read_man, read_mo, read_xpi


@pytest.mark.parametrize(("raw", "expected"), [
    ("Nie można otworzyć pliku „%s”: %m", "Nie można otworzyć pliku"),
    ("Kliknij <gui>Zapisz</gui>, aby zapisać <em>wszystkie</em> zmiany.", "Kliknij Zapisz, aby zapisać wszystkie zmiany."),
    ("Plik { $name } został usunięty (%(count)d).", "Plik został usunięty."),
    ("_Otwórz plik ~teraz &amp; tutaj", "Otwórz plik teraz & tutaj"),
    ("%PRODUCTNAME zapisuje dokument co 10%% czasu.", "LibreOffice zapisuje dokument co 10% czasu."),
    ("ფაილის \"%s\" გახსნა ვერ მოხერხდა: %m", "ფაილის გახსნა ვერ მოხერხდა"),
    ("Tệp %1 không   tồn tại.\n", "Tệp không tồn tại."),
    ("Dysk ma 50% miejsca.", "Dysk ma 50% miejsca."),
])
def test_clean(raw, expected):
    assert clean(raw) == expected


@pytest.mark.parametrize(("text", "lang", "ok"), [
    ("Jeśli sieć jest chroniona hasłem, to wpisz hasło.", "pl", True),
    ("Otwórz plik", "pl", False),  # a label
    ("Click the button to save all of the changes you made.", "pl", False),  # English left untranslated
    ("Kliknij przycisk, aby zobaczyć <b>więcej</b> opcji.", "pl", False),  # markup left: code-like
    ("Tô sáng văn bản bạn muốn bao gồm trong khung.", "vi", True),
    ("To edit the contents of a frame, click in the frame.", "vi", False),
    ("ფაილის გახსნა ვერ მოხერხდა, სცადეთ თავიდან.", "ka", True),
    ("Could not open the file, try again later.", "ka", False),
])
def test_looks_like(text, lang, ok):
    assert looks_like(text, lang) is ok


def mo_bytes(pairs: list[tuple[str, str]]) -> bytes:
    """A little-endian gettext .mo catalog (header entry first)."""
    entries = [("", "Content-Type: text/plain; charset=UTF-8\n"), *pairs]
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    start = 28 + 16 * n
    blob, tables = b"", []
    for table in (ids, strs):
        rows = []
        for s in table:
            rows.append((len(s), start + len(blob)))
            blob += s + b"\0"
        tables.append(rows)
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    return head + b"".join(struct.pack("<2I", *r) for t in tables for r in t) + blob


def test_readers():
    assert read_mo(mo_bytes([("Open", "Otwórz"), ("%d file", "%d plik\0%d pliki")])) == ["Otwórz", "%d plik"]
    assert read_ftl("# c\nmsg = Jeden\n    dwa\n  .label = Trzy\n\nother = { $x } cztery\n") == [
        "Jeden dwa", "Trzy", "{ $x } cztery"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("localization/ka/a.ftl", "a = ერთი\n")
        z.writestr("chrome/ka/b.properties", "# x\nb=ორი\n")
        z.writestr("chrome/ka/c.dtd", '<!ENTITY c.label "სამი">\n')
    assert read_xpi(buf.getvalue()) == ["ორი", "სამი", "ერთი"]
    page = (b'<page xmlns="http://projectmallard.org/1.0/" xmlns:if="http://projectmallard.org/if/1.0/">'
            b'<info><desc>Opis.</desc></info><title>T</title><p>Raz <gui>dwa</gui>.</p>'
            b'<p><link xref="x"/> zawiera wi\xc4\x99cej.</p><if:choose><if:when test="a"><p>Inny.</p></if:when>'
            b'<p>Trzy.</p></if:choose></page>')
    assert read_mallard(page) == ["Raz dwa.", "Trzy."]
    assert read_html(b'<p class="x">Raz <span>dwa</span>.</p><pre>kod</pre><p>Trzy <code>x</code>.</p>') == [
        "Raz dwa.", "Trzy ."]
    roff = b'.\\" comment\n.TH LS 1\n.SH NAZWA\nls \\- lista\n.PP\nPokazuje \\fBpliki\\fR w katalogu.\n.B Uwaga\nkoniec.\n'
    assert read_man(gzip.compress(roff)) == ["ls - lista", "Pokazuje pliki w katalogu. Uwaga koniec."]


def test_every_language_has_sources_with_a_licence():
    assert set(SOURCES) == {"pl", "vi", "ka"}
    for sources in SOURCES.values():
        assert sources and all(s.licence and s.files and s.registry in ("deb", "npm") for s in sources)
