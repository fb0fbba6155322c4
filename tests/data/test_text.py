"""Real text: reading a file, its script and language, paragraphs and sentences."""

from __future__ import annotations

import pytest

from lorakit.data.text import paragraphs, read_text, script_problem, sentences
from lorakit.errors import InputError
from tests.data.texts import TEXTS


@pytest.mark.parametrize(
    ("lang", "paragraph", "expected"),
    [
        ("pl", "Program obsługuje m.in. pliki PDF, np. faktury. Autorem jest J. Kowalski. Plik ma 2.5 MB.",
         ["Program obsługuje m.in. pliki PDF, np. faktury.", "Autorem jest J. Kowalski.", "Plik ma 2.5 MB."]),
        ("pl", "Zob. rozdz. 3. Tam jest opis, tzn. lista kroków itp. rzeczy. Koniec!",
         ["Zob. rozdz. 3.", "Tam jest opis, tzn. lista kroków itp. rzeczy.", "Koniec!"]),
        ("pl", "3. Kliknij przycisk. Wybierz 5. pozycję listy? Tak.",
         ["3. Kliknij przycisk.", "Wybierz 5. pozycję listy?", "Tak."]),
        ("pl", "Plik lorakit.json leży obok. „Zapisz” zapisuje go… Potem (i tylko wtedy) można go otworzyć.",
         ["Plik lorakit.json leży obok.", "„Zapisz” zapisuje go…", "Potem (i tylko wtedy) można go otworzyć."]),
        ("vi", "Văn phòng đặt tại TP. Hồ Chí Minh từ năm 2010. Phiên bản 3.5 đã ra mắt. Xem thêm v.v. và các mục khác.",
         ["Văn phòng đặt tại TP. Hồ Chí Minh từ năm 2010.", "Phiên bản 3.5 đã ra mắt.", "Xem thêm v.v. và các mục khác."]),
        ("ka", "პროგრამა კითხულობს, მაგ. PDF ფაილებს. არქივის ზომა 2.5 გიგაბაიტია. ძველი ასლები იშლება!",
         ["პროგრამა კითხულობს, მაგ. PDF ფაილებს.", "არქივის ზომა 2.5 გიგაბაიტია.", "ძველი ასლები იშლება!"]),
    ],
)
def test_sentences_handle_abbreviations_numbers_and_scripts(lang, paragraph, expected):
    assert sentences(paragraph, lang) == expected


def test_a_lower_case_word_after_a_full_stop_continues_the_sentence():
    assert sentences("Wersja 2. wydania jest nowa. Tak.", "pl") == ["Wersja 2. wydania jest nowa.", "Tak."]


def test_paragraphs_are_non_blank_lines_with_spaces_collapsed():
    assert paragraphs("  a  b \n\n\t\nc\r\nd  ") == ["a b", "c", "d"]


@pytest.mark.parametrize("lang", ["pl", "vi", "ka"])
def test_each_fixture_text_is_its_own_language_only(lang):
    assert script_problem(TEXTS[lang], lang) is None
    for other in {"pl", "vi", "ka"} - {lang}:
        assert script_problem(TEXTS[lang], other), (lang, other)


def test_script_problems_name_what_the_text_is():
    assert "not Georgian" in script_problem("To jest tekst po polsku, nie po gruzińsku.", "ka")
    cyrillic = "Это русский текст, а не польский. Он написан кириллицей."
    problem = script_problem(cyrillic, "pl")
    assert "not Polish" in problem and "Cyrillic" in problem
    assert "not Vietnamese" in script_problem("This is plain English text, not Vietnamese at all.", "vi")
    assert "not Polish" in script_problem("This is plain English text, not Polish at all.", "pl")
    assert script_problem("1234 5678 !!!", "pl") == "no letters"


def test_read_text_normalises_and_refuses_what_is_not_text(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("\ufeffVie\u0302\u0323t Nam\n".encode())  # BOM, decomposed ệ
    assert read_text(good) == "Việt Nam\n"
    cases = {"empty.txt": b"", "blank.txt": b" \n\n\t\n", "nul.txt": b"abc\x00def", "cp1250.txt": "zażółć".encode("cp1250")}
    reasons = {"empty.txt": "empty", "blank.txt": "empty", "nul.txt": "binary", "cp1250.txt": "not UTF-8"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=reasons[name]) as e:
            read_text(tmp_path / name)
        assert str(e.value).startswith(str(tmp_path / name)) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such file"):
        read_text(tmp_path / "missing.txt")
