"""Georgian (Mkhedruli): the aorist puts the subject in the ergative (-მა/-მ) and the object in
the nominative (-ი), so roles are marked by case, not order; ``არ`` negates; city locatives
take -ში and dates the dative (``5 მარტს``). In a full name only the surname declines."""

from __future__ import annotations

from lorakit.data.lang import Event, Person, join

FIRST = ["გიორგი", "დავით", "ლევან", "ირაკლი", "ნიკა", "ზურაბ", "ლაშა", "გიგა", "თამარ", "ნინო", "მარიამ",
         "ანა", "ეკა", "სალომე", "ნათია", "ქეთევან"]
SURNAMES = ["ბერიძე", "კაპანაძე", "მაისურაძე", "ლომიძე", "გელაშვილი", "კვარაცხელია", "ჯანელია", "ჩიქოვანი",
            "ნადირაძე", "წიკლაური", "ბაქრაძე", "მამულაშვილი", "ხუციშვილი", "ცინცაძე", "ყიფიანი", "შენგელია"]
CITIES = ["თბილისი", "ბათუმი", "ქუთაისი", "რუსთავი", "ზუგდიდი", "გორი", "ფოთი", "თელავი", "ახალციხე",
          "ოზურგეთი", "სამტრედია", "ზესტაფონი", "მარნეული", "ხაშური", "ბორჯომი", "მცხეთა", "სიღნაღი",
          "ამბროლაური", "ყვარელი", "ჭიათურა"]
ORGS = ["ბანკის", "ფონდის", "კლუბის", "თეატრის", "უნივერსიტეტის", "მერიის", "საავადმყოფოს", "კომპანიის"]  # genitive
# (body verb, summary paraphrase), aorist 3sg: ergative subject, nominative object
VERBS = [("გააკრიტიკა", "დაგმო"), ("შეაქო", "შეაქო"), ("მიიწვია", "მიიწვია"), ("დაამარცხა", "დაამარცხა"),
         ("დანიშნა", "დანიშნა"), ("გაათავისუფლა", "გაათავისუფლა"), ("დააჯილდოვა", "დააჯილდოვა"),
         ("გააფრთხილა", "გააფრთხილა")]
ADVERBS = ["საჯაროდ", "მოულოდნელად", "კიდევ ერთხელ"]
MONTHS = ["იანვარი", "თებერვალი", "მარტი", "აპრილი", "მაისი", "ივნისი", "ივლისი", "აგვისტო", "სექტემბერი",
          "ოქტომბერი", "ნოემბერი", "დეკემბერი"]
BODY_TEMPLATES = 2
SUMMARY_TEMPLATES = 2
FILLERS = 4


def decline(noun: str, case: str) -> str:
    """Nominative -> ergative (-მა after a consonant stem, -მ after a vowel) or dative (-ს)."""
    stem, vowel = (noun[:-1], False) if noun.endswith("ი") else (noun, True)
    if case == "erg":
        return stem + ("მ" if vowel else "მა")
    if case == "dat":
        return stem + "ს"
    return noun


def people() -> list[Person]:
    return [Person(tuple((c, f"{f} {decline(s, c)}") for c in ("nom", "erg", "dat")), "m" if i < 8 else "f")
            for i, f in enumerate(FIRST) for s in SURNAMES]


def locative(city: str) -> str:
    return (city[:-1] if city.endswith("ი") else city) + "ში"


def date(ev: Event) -> str:
    return f"{ev.day} {decline(MONTHS[ev.month - 1], 'dat')}"


def predicate(ev: Event, summary: bool, object_first: bool) -> str:
    """``A(erg) [B(nom)] [adv] [არ] verb [B(nom)]``."""
    verb = VERBS[ev.verb][1 if summary else 0]
    adv = ADVERBS[ev.adverb] if ev.adverb is not None else None
    neg = "არ" if ev.negated else None
    if object_first:
        return join(ev.a["erg"], ev.b.name, adv, neg, verb)
    return join(ev.a["erg"], adv, neg, verb, ev.b.name)


def body(ev: Event) -> list[str]:
    city, org = locative(CITIES[ev.city]), ORGS[ev.org]
    if ev.body_template == 0:
        main = f"{date(ev)} {city} {org} ხელმძღვანელმა {predicate(ev, False, False)}."
    else:
        main = f"{city} {date(ev)} {org} ხელმძღვანელმა {predicate(ev, False, True)}."
    fillers = [
        f"ღონისძიებას {ev.number} ადამიანი დაესწრო." if ev.number % 20 else f"შეხვედრაზე {ev.number} ადამიანი იმყოფებოდა.",
        "შეხვედრა დაახლოებით ორი საათი გაგრძელდა.",
        f"{city} ამ დღეს მზიანი ამინდი იყო.",
        "ჟურნალისტები შენობის წინ ელოდნენ.",
        f"{ev.a.name} შეხვედრის შემდეგ ჟურნალისტებს ესაუბრა.",
    ]
    return [main, fillers[0]] + [fillers[1 + i] for i in ev.fillers]


def summary(ev: Event) -> str:
    city = locative(CITIES[ev.city])
    if ev.summary_template == 0:
        return f"{predicate(ev, True, True)} {city} {date(ev)}, {ev.number} ადამიანის თანდასწრებით."
    return f"{city}, {ev.number} ადამიანის თანდასწრებით, {date(ev)} {predicate(ev, True, False)}."


# Real text (gen-data faithfulness --from-text) ---------------------------------------------------
ABBREVIATIONS = frozenset("""
მაგ. ე.ი. ე.წ. ა.შ. ძვ. წ. სთ. გვ. ათ. მლნ. მლრდ. ქ. იხ. ტ. კმ. სმ. მმ. კგ. გრ. ლ. წთ. წმ. ბ-ნი. ქ-ნი.
e.g. i.e. etc. vs.
""".split())
"""Tokens ending in a full stop that end no sentence (``მაგ.`` for example, ``ა.შ.`` and so on)."""
NEGATION = "არ"
NEGATIONS = ("არ", "ვერ")
"""``არ`` not; ``ვერ`` cannot (``ვერ მოხერხდა`` failed): either stands right before the verb."""
NEGATABLE = {
    "არის": "არ", "არიან": "არ", "იყო": "არ", "იქნება": "არ", "შეიძლება": "არ", "უნდა": "არ", "აქვს": "არ",
    "აქვთ": "არ", "მუშაობს": "არ", "მუშაობენ": "არ", "არსებობს": "არ", "ემთხვევა": "არ", "ხდება": "არ",
    "შეიცავს": "არ", "ჩანს": "არ", "საჭიროებს": "არ", "შეესაბამება": "არ", "იყენებს": "არ", "გამოიყენება": "არ",
    "ინახება": "არ", "წაიშლება": "არ", "დაემატება": "არ", "ეშვება": "არ", "გაეშვება": "არ", "ჩაიტვირთება": "არ",
    "იცვლება": "არ", "შეიცვლება": "არ", "შეუძლია": "არ", "შეგიძლიათ": "არ", "მოხერხდა": "ვერ",
    "ხერხდება": "ვერ", "მოიძებნა": "ვერ",
}
"""Verb forms before which a negation particle can be inserted, each with its particle: ``ვერ``
(could not) with success and finding (``ვერ მოხერხდა``, ``ვერ მოიძებნა``), ``არ`` otherwise
(``შეგიძლიათ`` takes ``არ``: its ability is in the verb). Either particle is removed before any word."""
STOPWORDS = frozenset("""
და არის ან რომ ეს ის ამ იმ თუ როგორც რა არ ვერ უნდა მაგრამ ასევე თქვენ მისი მათი შემდეგ ყველა
ერთი კი ხომ ან თან ამის იმის აქ იქ როცა როდესაც სადაც რომელიც რომლის რომელსაც
""".split())
