"""Minimal edits of real sentences: negation, numbers, word swaps (per language)."""

from __future__ import annotations

import pytest

from lorakit.data.edits import apply, negation_edits, number_edits, swap_edits, vi_swap_edits


def edited(sentence: str, edits) -> set[str]:
    return {" ".join(apply(sentence.split(), e)) for e in edits}


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        ("pl", "Zmiana jest widoczna od razu.", {"Zmiana nie jest widoczna od razu."}),
        ("pl", "Zmiana nie jest widoczna od razu.", {"Zmiana jest widoczna od razu."}),
        ("pl", "Jest to plik tekstowy.", {"Nie jest to plik tekstowy."}),
        ("pl", "Nie są kopiowane pliki tymczasowe.", {"Są kopiowane pliki tymczasowe."}),
        ("pl", "Program otwiera plik.", set()),  # transitive: the object would turn genitive
        ("pl", "Nie otwiera pliku.", set()),
        ("vi", "Bạn có thể di chuyển cuộc họp.", {"Bạn không thể di chuyển cuộc họp."}),
        ("vi", "Bạn không thể di chuyển cuộc họp.", {"Bạn có thể di chuyển cuộc họp."}),
        ("vi", "Thay đổi sẽ không hiển thị ngay.", {"Thay đổi sẽ hiển thị ngay."}),
        ("vi", "Thay đổi sẽ hiển thị ngay.", {"Thay đổi sẽ không hiển thị ngay."}),
        ("vi", "Mạng không dây đã bật.", set()),  # không dây (wireless) is a word, not a negation
        ("ka", "ცვლილება მაშინვე არ ჩანს.", {"ცვლილება მაშინვე ჩანს."}),
        ("ka", "ცვლილება მაშინვე ჩანს.", {"ცვლილება მაშინვე არ ჩანს."}),
        ("ka", "ფაილის გახსნა ვერ მოხერხდა.", {"ფაილის გახსნა მოხერხდა."}),
        ("ka", "ფაილის გახსნა მოხერხდა.", {"ფაილის გახსნა ვერ მოხერხდა."}),
        ("ka", "ფაილი არის დაკავებული.", {"ფაილი არ არის დაკავებული."}),
    ],
)
def test_negation(lang, sentence, expected):
    assert edited(sentence, negation_edits(sentence.split(), lang)) == expected


def test_numbers_change_in_place_and_names_keep_their_digits():
    got = edited("Wersja 3.5 ma 12 plików (50%).", number_edits("Wersja 3.5 ma 12 plików (50%).".split()))
    assert "Wersja 4.5 ma 12 plików (50%)." in got and "Wersja 3.5 ma 13 plików (50%)." in got
    assert "Wersja 3.5 ma 12 plików (51%)." in got
    for sentence in ("Kodowanie UTF-8 na x86.", "Wersja 1.2.3 o 10:30.", "Kod 007 działa.", "Lata 2010-2012 minęły."):
        assert number_edits(sentence.split()) == [], sentence


def test_swaps_keep_shape_and_skip_words_of_the_sentence():
    sentence = "Program zapisuje pliki tekstowe w katalogu domowym."
    got = edited(sentence, swap_edits(sentence.split(), ["systemowym", "głównym", "Kraków", "domowym", "odczytuje", "w"], "pl"))
    assert got == {"Program zapisuje pliki tekstowe w katalogu systemowym.",
                   "Program odczytuje pliki tekstowe w katalogu domowym."}


def test_the_first_word_of_a_latin_sentence_is_never_swapped():
    assert edited("Program działa.", swap_edits("Program działa.".split(), ["Telefon"], "pl")) == set()
    assert edited("პროგრამა მუშაობს.", swap_edits("პროგრამა მუშაობს.".split(), ["დიაგრამა", "სისტემა"], "ka")) == {
        "დიაგრამა მუშაობს."}


def test_vietnamese_swaps_replace_a_two_syllable_word():
    sentence = "Mỗi tệp được sao chép vào kho lưu trữ."
    known = {"sao chép", "lưu trữ", "thư mục"}
    got = edited(sentence, vi_swap_edits(sentence.split(), ["thư mục"], known))
    assert got == {"Mỗi tệp được thư mục vào kho lưu trữ.", "Mỗi tệp được sao chép vào kho thư mục."}
