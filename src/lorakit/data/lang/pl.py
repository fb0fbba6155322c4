"""Polish: names in nominative/accusative/genitive, verbs agree with the subject's gender, the
object of a negated verb is genitive, city names in the locative (``w Krakowie``, ``we Wrocławiu``)."""

from __future__ import annotations

from lorakit.data.lang import Event, Person, cap, join

# first names: male (nom, gen = acc), female (nom, gen, acc)
MALE = [("Jan", "Jana"), ("Piotr", "Piotra"), ("Tomasz", "Tomasza"), ("Paweł", "Pawła"), ("Marek", "Marka"),
        ("Michał", "Michała"), ("Krzysztof", "Krzysztofa"), ("Andrzej", "Andrzeja"), ("Łukasz", "Łukasza"),
        ("Wojciech", "Wojciecha"), ("Adam", "Adama"), ("Grzegorz", "Grzegorza")]
FEMALE = [("Anna", "Anny", "Annę"), ("Maria", "Marii", "Marię"), ("Katarzyna", "Katarzyny", "Katarzynę"),
          ("Małgorzata", "Małgorzaty", "Małgorzatę"), ("Agnieszka", "Agnieszki", "Agnieszkę"),
          ("Barbara", "Barbary", "Barbarę"), ("Ewa", "Ewy", "Ewę"), ("Magdalena", "Magdaleny", "Magdalenę"),
          ("Joanna", "Joanny", "Joannę"), ("Zofia", "Zofii", "Zofię"), ("Monika", "Moniki", "Monikę"),
          ("Dorota", "Doroty", "Dorotę")]
# adjectival surnames (stem + -i/-iego, -a/-iej/-ą) and noun surnames (male +a; female indeclinable)
ADJ_SURNAMES = ["Kowalsk", "Wiśniewsk", "Zielińsk", "Lewandowsk", "Kamińsk", "Dąbrowsk", "Wysock", "Jasińsk"]
NOUN_SURNAMES = [("Nowak", "Nowaka"), ("Wójcik", "Wójcika"), ("Kowalczyk", "Kowalczyka"), ("Mazur", "Mazura"),
                 ("Krawczyk", "Krawczyka"), ("Zając", "Zająca"), ("Kaczmarek", "Kaczmarka"), ("Baran", "Barana")]
# (nominative, locative with its preposition)
CITIES = [("Warszawa", "w Warszawie"), ("Kraków", "w Krakowie"), ("Gdańsk", "w Gdańsku"), ("Poznań", "w Poznaniu"),
          ("Wrocław", "we Wrocławiu"), ("Łódź", "w Łodzi"), ("Lublin", "w Lublinie"), ("Szczecin", "w Szczecinie"),
          ("Katowice", "w Katowicach"), ("Białystok", "w Białymstoku"), ("Rzeszów", "w Rzeszowie"),
          ("Toruń", "w Toruniu"), ("Opole", "w Opolu"), ("Kielce", "w Kielcach"), ("Olsztyn", "w Olsztynie"),
          ("Bydgoszcz", "w Bydgoszczy"), ("Zielona Góra", "w Zielonej Górze"), ("Gdynia", "w Gdyni"),
          ("Płock", "w Płocku"), ("Radom", "w Radomiu")]
ORGS = ["spółki Telmar", "fundacji Nowa Droga", "banku Arkon", "klubu Orzeł", "instytutu Kopernik",
        "stowarzyszenia Most", "wydawnictwa Kwiat", "spółdzielni Zgoda"]  # genitive
# (body verb m, f), (summary verb m, f): all take an accusative object (genitive when negated)
VERBS = [(("skrytykował", "skrytykowała"), ("zganił", "zganiła")),
         (("pochwalił", "pochwaliła"), ("docenił", "doceniła")),
         (("zaprosił", "zaprosiła"), ("zaprosił", "zaprosiła")),
         (("pozwał", "pozwała"), ("pozwał", "pozwała")),
         (("pokonał", "pokonała"), ("pokonał", "pokonała")),
         (("poparł", "poparła"), ("wsparł", "wsparła")),
         (("zwolnił", "zwolniła"), ("zwolnił", "zwolniła")),
         (("przeprosił", "przeprosiła"), ("przeprosił", "przeprosiła"))]
ADVERBS = ["publicznie", "niespodziewanie", "ponownie"]
MONTHS = ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
          "października", "listopada", "grudnia"]  # genitive: "5 marca"
BODY_TEMPLATES = 2
SUMMARY_TEMPLATES = 2
FILLERS = 4


def people() -> list[Person]:
    out = []
    for nom, gen in MALE:
        out += [Person((("nom", f"{nom} {s}i"), ("gen", f"{gen} {s}iego"), ("acc", f"{gen} {s}iego")), "m")
                for s in ADJ_SURNAMES]
        out += [Person((("nom", f"{nom} {s}"), ("gen", f"{gen} {sg}"), ("acc", f"{gen} {sg}")), "m")
                for s, sg in NOUN_SURNAMES]
    for nom, gen, acc in FEMALE:
        out += [Person((("nom", f"{nom} {s}a"), ("gen", f"{gen} {s}iej"), ("acc", f"{acc} {s}ą")), "f")
                for s in ADJ_SURNAMES]
        out += [Person((("nom", f"{nom} {s}"), ("gen", f"{gen} {s}"), ("acc", f"{acc} {s}")), "f")
                for s, _ in NOUN_SURNAMES]
    return out


def date(ev: Event) -> str:
    return f"{ev.day} {MONTHS[ev.month - 1]}"


def predicate(ev: Event, summary: bool) -> str:
    """``[nie] verb(gender of A) [adv] B(acc, or gen under negation)``."""
    verb = VERBS[ev.verb][1 if summary else 0][ev.a.gender == "f"]
    adv = ADVERBS[ev.adverb] if ev.adverb is not None else None
    return join("nie" if ev.negated else None, verb, adv, ev.b["gen" if ev.negated else "acc"])


def body(ev: Event) -> list[str]:
    city, org = CITIES[ev.city][1], ORGS[ev.org]
    if ev.body_template == 0:
        main = f"{date(ev)} {city} {ev.a.name}, prezes {org}, {predicate(ev, False)}."
    else:
        main = f"{ev.a.name}, prezes {org}, {predicate(ev, False)} {city} {date(ev)}."
    declined = "odmówiła" if ev.a.gender == "f" else "odmówił"
    fillers = [
        f"W spotkaniu wzięło udział {ev.number} osób." if ev.number % 20 else f"Na miejscu było {ev.number} osób.",
        "Rozmowy trwały około dwóch godzin.",
        f"Pogoda {city} była tego dnia słoneczna.",
        "Dziennikarze czekali na komentarz przed budynkiem.",
        f"Po spotkaniu {ev.a.name} {declined} komentarza.",
    ]
    return [cap(main), fillers[0]] + [fillers[1 + i] for i in ev.fillers]


def summary(ev: Event) -> str:
    city = CITIES[ev.city][1]
    if ev.summary_template == 0:
        return cap(f"{date(ev)} {ev.a.name} {predicate(ev, True)} {city} w obecności {ev.number} osób.")
    return cap(f"{city}, w obecności {ev.number} osób, {ev.a.name} {predicate(ev, True)} ({date(ev)}).")


# Real text (gen-data faithfulness --from-text) ---------------------------------------------------
LETTERS = "ąćęłńóśźż"
"""Letters that mark Polish among Latin-script texts (a text with none of them is not Polish)."""
ABBREVIATIONS = frozenset("""
np. m.in. itp. itd. tzn. tj. tzw. ok. ob. godz. nr. str. s. r. w. ul. al. prof. dr. doc. inż. mgr. tys. mln.
mld. zob. por. wg. ds. jw. pkt. ust. art. rozdz. tab. rys. poz. min. maks. sek. gr. zł. im. św. płn. płd.
wsch. zach. ub. br. jęz. przyp. red. tłum. oprac. wyd. cz. ang. łac. niem. franc. gł. dot. ew. ewent. bm.
cdn. cd. wz. tel. wsp. e.g. i.e. etc. vs. ver. wer. kl. lit. n.p.m. p.n.e. n.e. tzw. pt. dn. dt.
""".split())
"""Tokens ending in a full stop that end no sentence (lower-cased; single letters are initials anyway)."""
NEGATION = "nie"
NEGATABLE = frozenset("""
jest są był była było były byli będzie będą został została zostało zostały zostali zostanie zostaną
działa działają działał działała działało istnieje istnieją istniał istniała istniało
""".split())
"""Finite forms before which ``nie`` can be inserted or removed without touching the rest of the
sentence: the copula, the passive auxiliary and intransitive verbs. A transitive verb would need its
object in the genitive once negated (``otwiera plik`` / ``nie otwiera pliku``): not a one-word edit."""
STOPWORDS = frozenset("""
i w z na do się nie to że jest są o od po za dla lub oraz a ale jak jako tak czy co go jej ich jego ten ta te
tego tej tym być może można które który która którego których przez przy pod nad przed jeśli gdy aby
już tylko także też więc bo np tu tam wszystkie wszystkich jeden jedna jedno każdy każda inne innych
""".split())
