"""Vietnamese: no inflection; word order carries the roles; negation ``không`` replaces ``đã``."""

from __future__ import annotations

from lorakit.data.lang import Event, Person, cap, join

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
          "Ngô", "Dương", "Lý"]
MALE = ["An", "Bình", "Cường", "Dũng", "Hùng", "Minh", "Nam", "Phúc", "Quang", "Sơn", "Thắng", "Tuấn"]
FEMALE = ["Hoa", "Lan", "Mai", "Ngọc", "Thảo", "Trang", "Hương", "Linh", "Yến", "Nhung", "Hạnh", "Vân"]
CITIES = ["Hà Nội", "Hải Phòng", "Đà Nẵng", "Huế", "Cần Thơ", "Nha Trang", "Vinh", "Đà Lạt", "Quy Nhơn",
          "Buôn Ma Thuột", "Thái Nguyên", "Nam Định", "Hạ Long", "Biên Hòa", "Vũng Tàu", "Long Xuyên",
          "Phan Thiết", "Pleiku", "Thanh Hóa", "Rạch Giá"]
ORGS = ["Công ty Bình Minh", "Tập đoàn Thái Sơn", "Ngân hàng Phương Đông", "Hiệp hội Nông dân",
        "Đại học Sông Hồng", "Công ty Ánh Dương", "Tổng công ty Hải Âu", "Quỹ Tương Lai"]
# (verb in the body, its paraphrase in the summary); all transitive and asymmetric: A verb B.
VERBS = [("chỉ trích", "phê phán"), ("khen ngợi", "ca ngợi"), ("mời", "mời"), ("kiện", "khởi kiện"),
         ("đánh bại", "thắng"), ("ủng hộ", "ủng hộ"), ("sa thải", "cho thôi việc"), ("cảm ơn", "cảm ơn")]
ADVERBS = ["vội", "sớm", "kịp"]
"""One syllable each: in a two-syllable adverb ("công khai") each syllable predicts the other, so an
unsupported addition raises a candidate's per-token PLL instead of lowering it (measured: 32 % pairwise)."""
BODY_TEMPLATES = 2
SUMMARY_TEMPLATES = 2
FILLERS = 4


def people() -> list[Person]:
    out = []
    for fam in FAMILY:
        out += [Person((("nom", f"{fam} Văn {g}"),), "m") for g in MALE]
        out += [Person((("nom", f"{fam} Thị {g}"),), "f") for g in FEMALE]
    return out


def date(ev: Event) -> str:
    return f"ngày {ev.day} tháng {ev.month}"


def predicate(ev: Event, summary: bool) -> str:
    """``đã [adv] verb B`` or ``không [adv] verb B``."""
    verb = VERBS[ev.verb][1 if summary else 0]
    adv = ADVERBS[ev.adverb] if ev.adverb is not None else None
    return join("không" if ev.negated else "đã", adv, verb, ev.b.name)


def body(ev: Event) -> list[str]:
    city, org, n = CITIES[ev.city], ORGS[ev.org], ev.number
    if ev.body_template == 0:
        main = f"{cap(date(ev))}, tại {city}, giám đốc {org} {ev.a.name} {predicate(ev, False)}."
    else:
        main = f"{ev.a.name}, giám đốc {org}, {predicate(ev, False)} tại {city} vào {date(ev)}."
    fillers = [
        f"Có {n} người tham dự sự kiện." if ev.number % 20 else f"Sự kiện thu hút {n} người tham gia.",
        "Cuộc gặp kéo dài khoảng hai giờ.",
        f"Thời tiết ở {city} hôm đó khá đẹp.",
        "Nhiều phóng viên đã chờ trước tòa nhà.",
        f"{org} được thành lập cách đây nhiều năm.",
    ]
    return [main, fillers[0]] + [fillers[1 + i] for i in ev.fillers]


def summary(ev: Event) -> str:
    city, n = CITIES[ev.city], ev.number
    if ev.summary_template == 0:
        return f"{ev.a.name} {predicate(ev, True)} ở {city} {date(ev)}, trước {n} người."
    return f"Trước {n} người ở {city} {date(ev)}, {ev.a.name} {predicate(ev, True)}."


# Real text (gen-data faithfulness --from-text) ---------------------------------------------------
LETTERS = "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
"""Letters that mark Vietnamese among Latin-script texts (most Vietnamese syllables carry one)."""
ABBREVIATIONS = frozenset("""
tp. tt. q. p. ths. ts. pgs. gs. bs. ks. v.v. vv. st. mr. dr. vd. tr. th. cn. tcn. ng. e.g. i.e. etc. vs.
""".split())
"""Tokens ending in a full stop that end no sentence (lower-cased: ``TP.`` thành phố, ``v.v.`` vân vân)."""
NEGATION = "không"
NEGATION_SWAPS = {"có thể": "không thể"}
"""Two-syllable forms whose negation replaces a syllable (``có thể`` can, ``không thể`` cannot)."""
NEGATABLE = frozenset([
    "được", "cần", "nên", "phải", "có", "chứa", "bị", "dùng", "mở", "lưu", "xóa", "chạy", "nhận", "gửi", "đọc", "ghi",
    "hỗ trợ", "cho phép", "hiển thị", "tồn tại", "thay đổi", "hoạt động", "làm việc", "sử dụng", "cài đặt",
    "tìm thấy", "kết nối",
])
"""Words (one syllable, or the two-syllable verbs) before which ``không`` is inserted or removed;
``không`` before any other word is left alone (compounds: ``không gian`` space, ``không khí`` air,
``không dây`` wireless, ``hàng không`` aviation)."""
STOPWORDS = frozenset("""
và của là có các được cho với trong để một những này đó khi không thì từ đến trên theo như hoặc bạn
nếu sẽ đã đang bị cũng về ra vào lại nhiều hơn rất tại do nên sau trước mà hay người chỉ còn
""".split())
