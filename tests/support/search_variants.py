"""A labelled set of suspect-name variants (fictitious people) for measuring search recall.

Each identity is a subject as a posting State wrote it; each variant is how another State, or a Court
investigator, might type the same person: other scripts, transliteration schemes, order swaps, missing
diacritics or middle names, one-letter typos, aliases. Distractors share tokens with the identities so
that recall is measured against near-misses, not an empty index. Shared by tests and bench/search.py.
The hand-written set comes first; the grown set of issue 19 (generated from name-part tables) after.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from unidecode import unidecode


@dataclass(frozen=True)
class Identity:
    key: str
    name: str
    birth_date: str | None = None
    nationality: str | None = None
    aliases: tuple[str, ...] = ()

    def subject(self) -> dict[str, Any]:
        subject: dict[str, Any] = {"name": self.name, "aliases": list(self.aliases)}
        if self.birth_date:
            subject["birth_date"] = self.birth_date
        if self.nationality:
            subject["nationality"] = self.nationality
        return subject


@dataclass(frozen=True)
class Variant:
    key: str  # the identity this query must find
    query: str
    kind: str
    birth_date: str | None = None


IDENTITIES = [
    Identity("mbemba", "Jean-Pierre Mbemba Gombo", "1962-11-04", "COD", ("J.P. Gombo",)),
    Identity("sokolov", "Dmitriy Aleksandrovich Sokolov", "1975-02-14", "RUS"),
    Identity("petrenko", "Oleksandr Petrenko", "1968-09-30", "UKR"),
    Identity("tkachenko", "Yulia Volodymyrivna Tkachenko", "1981-05-22", "UKR"),
    Identity("yanovenko", "Viktor Yanovenko", "1959-12-01", "UKR"),
    Identity("ivanov", "Sergei Ivanov", "1972-08-08", "RUS"),
    Identity("papadopoulos", "Konstantinos Papadopoulos", "1966-04-17", "GRC", ("Kostas Papadopoulos",)),
    Identity("nikolaidis", "Georgios Nikolaidis", "1979-10-03", "GRC"),
    Identity("tayeb", "Mohamed Haroun Al-Tayeb", "1971-03-15", "SDN"),
    Identity("benali", "Abdelkader Benali", "1964-06-11", "DZA"),
    Identity("mansouri", "Youssef El-Mansouri", "1983-01-27", "MAR"),
    Identity("khalil", "Hussein Ali Khalil", "1958-07-19", "LBN"),
    Identity("wang", "Wang Jianguo", "1969-02-02", "CHN"),
    Identity("li", "Li Xiaoming", "1977-11-11", "CHN"),
    Identity("zhang70", "Zhang Wei", "1970-01-05", "CHN"),
    Identity("zhang85", "Zhang Wei", "1985-06-20", "CHN"),
    Identity("zhang90", "Zhang Wei", "1990-12-01", "SGP"),
    Identity("rodriguez", "José Manuel Rodríguez Peña", "1974-03-09", "ESP"),
    Identity("lefevre", "François Lefèvre", "1961-05-05", "FRA"),
    Identity("mueller", "Jürgen Müller-Schäfer", "1955-09-14", "DEU"),
    Identity("ostergaard", "Søren Østergaard", "1980-08-21", "DNK"),
    Identity("wisniewski", "Łukasz Wiśniewski", "1987-04-02", "POL"),
    Identity("yilmaz", "Mehmet Yılmaz", "1976-12-24", "TUR"),
    Identity("nguyen", "Nguyễn Văn Minh", "1982-07-07", "VNM"),
    Identity("silva", "Ana Paula da Silva Santos", "1973-10-10", "BRA"),
    Identity("okonkwo", "Chukwuemeka Okonkwo", "1967-01-31", "NGA", ("Emeka Okonkwo",)),
    Identity("hassan60", "Mohamed Ali Hassan", "1960-02-29", "EGY"),
    Identity("hassan78", "Mohamed Ali Hassan", "1978-08-15", "EGY"),
    Identity("garcia", "María García López", "1984-03-03", "MEX"),
    Identity("yamada", "Taro Yamada", "1965-06-06", "JPN"),
    Identity("cohen", "David Cohen", "1970-10-20", "ISR"),
    Identity("karimi", "Ahmad Karimi", "1979-04-04", "AFG"),
]

V = Variant
VARIANTS = [
    V("mbemba", "MBEMBA GOMBO, Jean-Pierre", "order swap"),
    V("mbemba", "Jean Pierre Mbemba", "missing name"),
    V("mbemba", "Jean-Piere Mbemba Gombo", "typo"),
    V("mbemba", "JP Gombo", "alias"),
    V("mbemba", "Mbemba Gombo", "missing name", "1962-11-04"),
    V("sokolov", "Дмитрий Александрович Соколов", "cyrillic"),
    V("sokolov", "Dmitry Sokolov", "transliteration"),
    V("sokolov", "SOKOLOV, Dmitri", "order swap"),
    V("sokolov", "Dmitrij Sokolow", "transliteration"),
    V("sokolov", "Dmitriy Sokolv", "typo"),
    V("petrenko", "Олександр Петренко", "cyrillic"),
    V("petrenko", "Aleksandr Petrenko", "transliteration"),
    V("petrenko", "Alexander Petrenko", "transliteration"),
    V("petrenko", "Petrenko Oleksandr", "order swap"),
    V("tkachenko", "Юлія Ткаченко", "cyrillic"),
    V("tkachenko", "Yuliya Tkachenko", "transliteration"),
    V("tkachenko", "Julia Tkatchenko", "transliteration"),
    V("tkachenko", "Tkachenko Yulia Volodymyrivna", "order swap"),
    V("yanovenko", "Віктор Яновенко", "cyrillic"),
    V("yanovenko", "Victor Ianovenko", "transliteration"),
    V("yanovenko", "Wiktor Janowenko", "transliteration"),
    V("yanovenko", "Viktor Yanovenkp", "typo"),
    V("ivanov", "Сергей Иванов", "cyrillic"),
    V("ivanov", "Serguei Ivanoff", "transliteration"),
    V("ivanov", "Sergey Ivanov", "transliteration"),
    V("papadopoulos", "Κωνσταντίνος Παπαδόπουλος", "greek"),
    V("papadopoulos", "Constantine Papadopoulos", "transliteration"),
    V("papadopoulos", "Kostas Papadopoulos", "alias"),
    V("papadopoulos", "Konstantinos Papadopulos", "typo"),
    V("nikolaidis", "Γεώργιος Νικολαΐδης", "greek"),
    V("nikolaidis", "Giorgos Nikolaidis", "transliteration"),
    V("nikolaidis", "George Nikolaides", "transliteration"),
    V("tayeb", "محمد هارون الطيب", "arabic"),
    V("tayeb", "Muhammad Harun al-Tayyib", "transliteration"),
    V("tayeb", "Mohammed Haroon Altayeb", "transliteration"),
    V("tayeb", "TAYEB, Mohamed Haroun", "order swap"),
    V("tayeb", "Mohamed Al-Tayeb", "missing name", "1971-03-15"),
    V("benali", "عبد القادر بن علي", "arabic"),
    V("benali", "Abdelkader Ben Ali", "transliteration"),
    V("benali", "Abdulkader Benali", "transliteration"),
    V("mansouri", "يوسف المنصوري", "arabic"),
    V("mansouri", "Yusuf Mansuri", "transliteration"),
    V("mansouri", "Youssef Elmansouri", "transliteration"),
    V("khalil", "حسين علي خليل", "arabic"),
    V("khalil", "Husayn Ali Khaleel", "transliteration"),
    V("khalil", "Hussain Khalil", "missing name"),
    V("wang", "王建国", "chinese"),
    V("wang", "Jianguo Wang", "order swap"),
    V("wang", "WANG Jian-guo", "transliteration"),
    V("li", "李晓明", "chinese"),
    V("li", "Xiaoming Li", "order swap"),
    V("li", "LI Xiao Ming", "transliteration"),
    V("zhang70", "张伟", "chinese", "1970-01-05"),
    V("zhang85", "Zhang Wei", "same name", "1985-06-20"),
    V("zhang90", "Wei Zhang", "same name", "1990-12-01"),
    V("rodriguez", "Jose Manuel Rodriguez Pena", "diacritics"),
    V("rodriguez", "RODRIGUEZ PENA, Jose Manuel", "order swap"),
    V("rodriguez", "José Rodríguez Peña", "missing name"),
    V("rodriguez", "Jose Manuel Rodrigez Pena", "typo"),
    V("lefevre", "Francois Lefevre", "diacritics"),
    V("lefevre", "LEFÈVRE François", "order swap"),
    V("lefevre", "Francois Lefebvre", "transliteration"),
    V("mueller", "Juergen Mueller-Schaefer", "diacritics"),
    V("mueller", "Jurgen Muller", "missing name"),
    V("mueller", "Schäfer, Jürgen Müller", "order swap"),
    V("ostergaard", "Soren Ostergaard", "diacritics"),
    V("ostergaard", "Soeren Oestergaard", "diacritics"),
    V("wisniewski", "Lukasz Wisniewski", "diacritics"),
    V("wisniewski", "Lukas Wisnewski", "typo"),
    V("yilmaz", "Mehmet Yilmaz", "diacritics"),
    V("yilmaz", "Mehmed Yilmaz", "transliteration"),
    V("nguyen", "Nguyen Van Minh", "diacritics"),
    V("nguyen", "Minh Nguyen", "order swap"),
    V("silva", "Ana Paula Santos", "missing name"),
    V("silva", "SILVA SANTOS, Ana Paula", "order swap"),
    V("okonkwo", "Emeka Okonkwo", "alias"),
    V("okonkwo", "Chukwuemeka Okonkow", "typo"),
    V("hassan60", "Mohamed Ali Hassan", "same name", "1960-02-29"),
    V("hassan78", "Muhammad Ali Hasan", "same name", "1978-08-15"),
    V("garcia", "Maria Garcia Lopez", "diacritics"),
    V("garcia", "GARCÍA LÓPEZ, María", "order swap"),
    V("yamada", "ヤマダ タロウ", "japanese"),
    V("yamada", "YAMADA Taro", "order swap"),
    V("cohen", "דוד כהן", "hebrew"),
    V("cohen", "David Kohen", "transliteration"),
    V("karimi", "احمد کریمی", "persian"),
    V("karimi", "Ahmed Karimi", "transliteration"),
]

# Near-misses: people sharing a first name, a surname or a birth date with an identity.
DISTRACTORS = [
    {"name": n, "birth_date": b} for n, b in [
        ("Jean-Claude Mbemba", "1962-11-04"), ("Pierre Gombo", "1970-03-01"),
        ("Dmitriy Sokolenko", "1975-02-14"), ("Aleksandr Sokolov", "1980-01-01"),
        ("Oleksandr Petrov", "1968-09-30"), ("Yulia Tkach", "1981-05-22"),
        ("Viktor Yanov", "1959-12-01"), ("Sergei Ivanenko", "1972-08-08"),
        ("Konstantinos Papadakis", "1966-04-17"), ("Georgios Nikolaou", "1979-10-03"),
        ("Mohamed Haroun Ibrahim", "1971-03-15"), ("Abdelkader Bensalah", "1964-06-11"),
        ("Youssef El-Amrani", "1983-01-27"), ("Hussein Ali Khalaf", "1958-07-19"),
        ("Wang Jianhua", "1969-02-02"), ("Li Xiaoping", "1977-11-11"),
        ("Zhang Wen", "1970-01-05"), ("José Manuel Rodríguez Pérez", "1974-03-09"),
        ("François Lefort", "1961-05-05"), ("Jürgen Müller", "1950-01-01"),
        ("Søren Østergård Nielsen", "1980-08-21"), ("Łukasz Wiśniewicz", "1987-04-02"),
        ("Mehmet Yildiz", "1976-12-24"), ("Nguyễn Văn Nam", "1982-07-07"),
        ("Ana Paula da Silva", "1973-10-10"), ("Chukwuemeka Okafor", "1967-01-31"),
        ("Mohamed Ali Hussein", "1960-02-29"), ("María García Lorca", "1984-03-03"),
        ("Taro Yamamoto", "1965-06-06"), ("David Cohn", "1970-10-20"),
        ("Ahmad Karim", "1979-04-04"), ("Ali Hassan Mohamed", "1991-01-01"),
    ]
]


# Kinds that cross a script or a transliteration scheme (the "transliterated" queries).
TRANSLITERATED = frozenset(["cyrillic", "greek", "arabic", "chinese", "japanese", "hebrew", "persian",
                            "transliteration", "arabic compound", "arabic script", "p/b",
                            "slavic forms", "translit scheme", "family"])


@dataclass(frozen=True)
class KindStats:
    queries: int
    recall_at_1: float
    recall_at_3: float
    mrr: float


@dataclass(frozen=True)
class Report:
    recall_at_3: float
    top1: float
    disambiguated_top1: float
    misses: list[str]
    mrr: float = 0.0
    by_kind: dict[str, KindStats] = field(default_factory=dict)
    dated_misses: list[str] = field(default_factory=list)  # queries with a birth date not ranked first


def _stats(ranks: list[int | None]) -> KindStats:
    n = max(1, len(ranks))
    return KindStats(queries=len(ranks), recall_at_1=sum(r == 1 for r in ranks) / n,
                     recall_at_3=sum(r is not None and r <= 3 for r in ranks) / n,
                     mrr=sum(1 / r for r in ranks if r is not None) / n)


def evaluate(search: Callable[[Variant], list[str]], variants: list[Variant] | None = None) -> Report:
    """Score a search function returning identity keys (best first) over the labelled variants:
    recall@1, recall@3 and MRR overall, by kind, for transliterated queries, with and without a
    birth date."""
    variants = VARIANTS if variants is None else variants
    ranks: dict[str, list[int | None]] = {}
    misses: list[str] = []
    dated_misses: list[str] = []
    dated = dated_hits = 0
    for variant in variants:
        found = search(variant)
        rank = found.index(variant.key) + 1 if variant.key in found else None
        groups = ["all", variant.kind, "with birth date" if variant.birth_date else "name only"]
        if variant.kind in TRANSLITERATED:
            groups.append("transliterated")
        for group in groups:
            ranks.setdefault(group, []).append(rank)
        if variant.kind == "same name":
            dated += 1
            dated_hits += rank == 1
        if rank is None or rank > 3:
            misses.append(f"{variant.kind}: {variant.key} <- {variant.query!r}")
        if variant.birth_date and rank != 1:
            dated_misses.append(f"{variant.key} <- {variant.query!r} {variant.birth_date}: rank {rank}")
    stats = {group: _stats(r) for group, r in ranks.items()}
    overall = stats["all"]
    return Report(recall_at_3=overall.recall_at_3, top1=overall.recall_at_1,
                  disambiguated_top1=dated_hits / max(1, dated), misses=misses, mrr=overall.mrr,
                  by_kind=stats, dated_misses=dated_misses)


def query_birth_date(variant: Variant) -> date | None:
    return date.fromisoformat(variant.birth_date) if variant.birth_date else None


# -- the grown set (issue 19): generated from name-part tables, deterministic ---------------------------
# Fictitious people: each is a random combination of common name parts (no combination is meant to be
# anyone). The parts are given names, surnames and compound names as they appear in many people's names;
# their other-script and other-language forms follow the same sources as app/search/names.py (ALA-LC
# Arabic and Persian romanization; BGN/PCGN Russian, Ukrainian and Belarusian; Latvian and Lithuanian
# orthography). Kinds: "arabic compound" (Abd Allah/Abdullah, Nasr al-Din/Nasreddine), "arabic script"
# (Latin against Arabic script either way), "persian", "p/b" (foreign names written in Arabic script),
# "slavic forms" (Belarusian, Ukrainian, Latvian, Lithuanian forms of Russian names), "translit scheme"
# (-ovitj/-ovitch/-owitsch/-ovic patronymics), "accent-folded", "reordered", "respelled", "family"
# (a father and a son sharing names: the query names the father), "with birth date".

# (Latin form, Arabic script, other Latin spellings)
_ARABIC_COMPOUNDS = [
    ("Abdullah", "عبد الله", ("Abd Allah", "Abdallah", "Abdulla")),
    ("Abdulrahman", "عبد الرحمن", ("Abd al-Rahman", "Abdurrahman", "Abdel Rahman")),
    ("Abdulaziz", "عبد العزيز", ("Abd al-Aziz", "Abdelaziz", "Abdul Aziz")),
    ("Abdulkarim", "عبد الكريم", ("Abd al-Karim", "Abdelkarim", "Abdul Karim")),
    ("Abdulhamid", "عبد الحميد", ("Abd al-Hamid", "Abdelhamid", "Abdul Hamid")),
    ("Abdulqadir", "عبد القادر", ("Abd al-Qadir", "Abdelkader", "Abdul Qadir")),
    ("Abdulmajid", "عبد المجيد", ("Abd al-Majid", "Abdelmadjid", "Abdul Majeed")),
    ("Nasruddin", "نصر الدين", ("Nasr al-Din", "Nasreddine", "Nasr ud-Din")),
    ("Salahuddin", "صلاح الدين", ("Salah al-Din", "Salaheddine", "Salah Uddin")),
    ("Jamaluddin", "جمال الدين", ("Jamal al-Din", "Jamaleddine", "Jamal ud-Din")),
    ("Nooruddin", "نور الدين", ("Nur al-Din", "Noureddine", "Nur ud-Din")),
    ("Khairuddin", "خير الدين", ("Khayr al-Din", "Kheireddine", "Khair ud-Din")),
    ("Hidayatullah", "هداية الله", ("Hidayat Allah", "Hedayatollah", "Hidayat Ullah")),
    ("Habibullah", "حبيب الله", ("Habib Allah", "Habibollah", "Habib Ullah")),
    ("Nasrullah", "نصر الله", ("Nasr Allah", "Nasrallah", "Nasrollah")),
    ("Fazlullah", "فضل الله", ("Fazl Allah", "Fazlollah", "Fazl Ullah")),
    ("Saifullah", "سيف الله", ("Sayf Allah", "Saifallah", "Saif Ullah")),
    ("Habiburrahman", "حبيب الرحمن", ("Habib al-Rahman", "Habibur Rahman", "Habib ur Rahman")),
]
_ARABIC_GIVEN = [
    ("Mohammed", "محمد", ("Muhammad", "Mohamed")), ("Ahmed", "أحمد", ("Ahmad",)),
    ("Mahmoud", "محمود", ("Mahmud",)), ("Hassan", "حسن", ("Hasan",)),
    ("Hussein", "حسين", ("Husayn", "Hussain")), ("Khalid", "خالد", ("Khaled",)),
    ("Omar", "عمر", ("Umar",)), ("Youssef", "يوسف", ("Yusuf",)),
    ("Ibrahim", "إبراهيم", ("Ebrahim",)), ("Tariq", "طارق", ("Tarek",)),
    ("Karim", "كريم", ("Kareem",)), ("Samir", "سمير", ("Sameer",)),
    ("Walid", "وليد", ("Waleed",)), ("Mustafa", "مصطفى", ("Mostafa",)),
    ("Faisal", "فيصل", ("Faysal",)), ("Nabil", "نبيل", ("Nabeel",)),
    ("Rashid", "راشد", ("Rachid",)), ("Adel", "عادل", ("Adil",)),
    ("Ziad", "زياد", ("Ziyad",)), ("Bilal", "بلال", ("Belal",)),
]
_ARABIC_FAMILY = [
    ("Al-Masri", "المصري", ("Almasri", "El Masri")), ("Haddad", "حداد", ("Hadad",)),
    ("Al-Tamimi", "التميمي", ("Tamimi", "Altamimi")), ("Qureshi", "قريشي", ("Qurayshi",)),
    ("Al-Najjar", "النجار", ("Najjar", "Alnajjar")), ("Mansour", "منصور", ("Mansur",)),
    ("Al-Khatib", "الخطيب", ("Khatib", "El-Khatib")), ("Saleh", "صالح", ("Salih",)),
    ("Al-Obeidi", "العبيدي", ("Obeidi", "Al-Ubaydi")), ("Darwish", "درويش", ("Darwiche",)),
    ("Al-Hashimi", "الهاشمي", ("Hashimi", "Al-Hashemi")), ("Barakat", "بركات", ("Barakeh",)),
    ("Al-Shami", "الشامي", ("Shami", "Alshami")), ("Nasser", "ناصر", ("Nasir",)),
    ("Al-Zahrani", "الزهراني", ("Zahrani", "Alzahrani")), ("Khoury", "خوري", ("Khouri",)),
    ("Al-Rifai", "الرفاعي", ("Rifai", "Al-Refai")), ("Suleiman", "سليمان", ("Sulayman",)),
]
# Persian (Latin, Persian script with its own letters, other Latin spellings)
_PERSIAN_GIVEN = [
    ("Gholamreza", "غلامرضا", ("Gholam Reza", "Qolamreza")), ("Mohammadreza", "محمدرضا",
                                                            ("Mohammad Reza",)),
    ("Hossein", "حسین", ("Hosein",)), ("Mehdi", "مهدی", ("Mahdi",)),
    ("Parviz", "پرویز", ("Parwiz",)), ("Pejman", "پژمان", ("Pezhman",)),
    ("Kourosh", "کوروش", ("Kurosh",)), ("Behrouz", "بهروز", ("Behruz",)),
    ("Jamshid", "جمشید", ("Jamsheed",)), ("Farhad", "فرهاد", ("Farhaad",)),
    ("Zhila", "ژیلا", ("Jila",)), ("Golnaz", "گلناز", ("Gulnaz",)),
    ("Kamran", "کامران", ("Kamraan",)), ("Shirin", "شیرین", ("Shireen",)),
    ("Babak", "بابک", ("Baabak",)), ("Payam", "پیام", ("Paiam",)),
]
_PERSIAN_FAMILY = [
    ("Karimi", "کریمی", ("Karimy",)), ("Rahimi", "رحیمی", ("Rahimy",)),
    ("Hosseini", "حسینی", ("Husseini",)), ("Mousavi", "موسوی", ("Musavi",)),
    ("Rezaei", "رضایی", ("Rezaie",)), ("Ghorbani", "قربانی", ("Qorbani",)),
    ("Jafari", "جعفری", ("Jafary",)), ("Sadeghi", "صادقی", ("Sadeqi",)),
    ("Kazemi", "کاظمی", ("Kazimi",)), ("Moradi", "مرادی", ("Moradie",)),
    ("Nikpour", "نیک\u200cپور", ("Nikpur",)), ("Pourmand", "پورمند", ("Purmand",)),
    ("Golpayegani", "گلپایگانی", ("Golpaygani",)), ("Chamrani", "چمرانی", ("Tchamrani",)),
    ("Pakravan", "پاکروان", ("Pakrawan",)), ("Zhalehvand", "ژاله\u200cوند", ("Jalehvand",)),
]
# Foreign names with a p, as Arabic script writes them (with b): Latin record, Arabic-script query.
_P_NAMES = [
    ("Peter Pavlenko", "بيتر بافلينكو"), ("Paolo Pellegrini", "باولو بيليغريني"),
    ("Patrick Pearson", "باتريك بيرسون"), ("Pablo Pineda", "بابلو بينيدا"),
    ("Pierre Poulain", "بيير بولان"), ("Piotr Paszkowski", "بيوتر باشكوفسكي"),
    ("Paulo Pimentel", "باولو بيمنتل"), ("Pedro Palacios", "بيدرو بالاسيوس"),
    ("Philip Prentice", "فيليب برينتيس"), ("Pavel Popescu", "بافل بوبيسكو"),
    ("Pascal Perrin", "باسكال بيرين"), ("Percy Plummer", "بيرسي بلامر"),
    ("Penelope Parker", "بينيلوبي باركر"), ("Priya Patel", "بريا باتيل"),
    ("Pietro Pagano", "بييترو باغانو"),
]
# East Slavic names: (Russian Latin, Russian Cyrillic, Ukrainian Latin, Belarusian Latin,
# Belarusian Cyrillic, Latvian, Lithuanian)
_SLAVIC_MALE = [
    ("Vladimir", "Владимир", "Volodymyr", "Uladzimir", "Уладзімір", "Vladimirs", "Vladimiras"),
    ("Aleksandr", "Александр", "Oleksandr", "Aliaksandr", "Аляксандр", "Aleksandrs", "Aleksandras"),
    ("Sergei", "Сергей", "Serhii", "Siarhei", "Сяргей", "Sergejs", "Sergejus"),
    ("Nikolai", "Николай", "Mykola", "Mikalai", "Мікалай", "Nikolajs", "Nikolajus"),
    ("Dmitri", "Дмитрий", "Dmytro", "Dzmitry", "Дзмітрый", "Dmitrijs", "Dmitrijus"),
    ("Mikhail", "Михаил", "Mykhailo", "Mikhail", "Міхаіл", "Mihails", "Michailas"),
    ("Andrei", "Андрей", "Andrii", "Andrei", "Андрэй", "Andrejs", "Andrejus"),
    ("Yuri", "Юрий", "Yurii", "Yury", "Юры", "Jurijs", "Jurijus"),
    ("Viktor", "Виктор", "Viktor", "Viktar", "Віктар", "Viktors", "Viktoras"),
    ("Oleg", "Олег", "Oleh", "Aleh", "Алег", "Olegs", "Olegas"),
    ("Igor", "Игорь", "Ihor", "Ihar", "Ігар", "Igors", "Igoris"),
    ("Boris", "Борис", "Borys", "Barys", "Барыс", "Boriss", "Borisas"),
    ("Gennadi", "Геннадий", "Hennadii", "Hienadz", "Генадзь", "Genadijs", "Genadijus"),
    ("Leonid", "Леонид", "Leonid", "Leanid", "Леанід", "Leonids", "Leonidas"),
]
_SLAVIC_FEMALE = [
    ("Svetlana", "Светлана", "Svitlana", "Sviatlana", "Святлана"),
    ("Yelena", "Елена", "Olena", "Alena", "Алена"),
    ("Olga", "Ольга", "Olha", "Volha", "Вольга"),
    ("Tatyana", "Татьяна", "Tetiana", "Tatsiana", "Таццяна"),
    ("Natalya", "Наталья", "Nataliia", "Natallia", "Наталля"),
    ("Irina", "Ирина", "Iryna", "Iryna", "Ірына"),
    ("Yulia", "Юлия", "Yuliia", "Yulia", "Юлія"),
    ("Lyudmila", "Людмила", "Liudmyla", "Liudmila", "Людміла"),
]
# Father's name -> patronymic: (Russian m, Russian f, Russian Cyrillic m, Russian Cyrillic f,
# Ukrainian m, Ukrainian f, Belarusian m, Belarusian f)
_PATRONYMICS = [
    ("Vladimirovich", "Vladimirovna", "Владимирович", "Владимировна", "Volodymyrovych",
     "Volodymyrivna", "Uladzimiravich", "Uladzimirauna"),
    ("Aleksandrovich", "Aleksandrovna", "Александрович", "Александровна", "Oleksandrovych",
     "Oleksandrivna", "Aliaksandravich", "Aliaksandrauna"),
    ("Pavlovich", "Pavlovna", "Павлович", "Павловна", "Pavlovych", "Pavlivna", "Paulavich",
     "Paulauna"),
    ("Viktorovich", "Viktorovna", "Викторович", "Викторовна", "Viktorovych", "Viktorivna",
     "Viktaravich", "Viktarauna"),
    ("Borisovich", "Borisovna", "Борисович", "Борисовна", "Borysovych", "Borysivna", "Barysavich",
     "Barysauna"),
    ("Ivanovich", "Ivanovna", "Иванович", "Ивановна", "Ivanovych", "Ivanivna", "Ivanavich",
     "Ivanauna"),
    ("Petrovich", "Petrovna", "Петрович", "Петровна", "Petrovych", "Petrivna", "Piatrovich",
     "Piatrouna"),
    ("Mikhailovich", "Mikhailovna", "Михайлович", "Михайловна", "Mykhailovych", "Mykhailivna",
     "Mikhailavich", "Mikhailauna"),
]
# Surnames: (Russian m, Russian Cyrillic m, Belarusian m, Belarusian Cyrillic m, Belarusian f,
# Latvian m, Lithuanian m)
_SLAVIC_FAMILY = [
    ("Sokolov", "Соколов", "Sakalou", "Сакалоў", "Sakalova", "Sokolovs", "Sokolovas"),
    ("Morozov", "Морозов", "Marozau", "Марозаў", "Marozava", "Morozovs", "Morozovas"),
    ("Lebedev", "Лебедев", "Lebiadzeu", "Лебедзеў", "Lebiadzeva", "Lebedevs", "Lebedevas"),
    ("Kozlov", "Козлов", "Kazlou", "Казлоў", "Kazlova", "Kozlovs", "Kozlovas"),
    ("Novikov", "Новиков", "Navikau", "Навікаў", "Navikava", "Novikovs", "Novikovas"),
    ("Smirnov", "Смирнов", "Smirnou", "Смірноў", "Smirnova", "Smirnovs", "Smirnovas"),
    ("Kuznetsov", "Кузнецов", "Kuzniatsou", "Кузняцоў", "Kuzniatsova", "Kuznecovs", "Kuznecovas"),
    ("Popov", "Попов", "Papou", "Папоў", "Papova", "Popovs", "Popovas"),
    ("Pokhodov", "Походов", "Pakhadau", "Пахадаў", "Pakhadava", "Pohodovs", "Pochodovas"),
    ("Belov", "Белов", "Bialou", "Бялоў", "Bialova", "Belovs", "Belovas"),
    ("Orlov", "Орлов", "Arlou", "Арлоў", "Arlova", "Orlovs", "Orlovas"),
    ("Golubev", "Голубев", "Halubeu", "Галубеў", "Halubeva", "Golubevs", "Golubevas"),
    ("Zaitsev", "Зайцев", "Zaitsau", "Зайцаў", "Zaitsava", "Zaicevs", "Zaicevas"),
    ("Baranov", "Баранов", "Baranau", "Баранаў", "Baranava", "Baranovs", "Baranovas"),
]
_TRANSLIT_SCHEMES = (("ovich", "ovitj"), ("ovich", "ovitch"), ("ovich", "owitsch"), ("ovich", "ovič"),
                     ("ovna", "ovna"))
# European names with diacritics (given, surname)
_EU_GIVEN = ["José", "François", "Jürgen", "Søren", "Łukasz", "Zoë", "Inés", "Åsa", "Björn",
             "Dóra", "Tomáš", "Radovan", "Gülşen", "Çağlar", "Ioana", "Răzvan", "Agnès", "Joël",
             "Małgorzata", "Jiří", "Ondřej", "Žaneta", "Mátyás", "Ólafur"]
_EU_FAMILY = ["Müller-Brandt", "Østergård", "Wiśniewska", "Dvořák", "Gonçalves", "Lefèbvre",
              "Nuñez Ibáñez", "Şahin", "Kovačević", "Szőke", "Þórsdóttir", "Mäkinen", "Håkansson",
              "Březina", "Ferreira da Conceição", "Ruíz Martínez", "Đorđević", "Kırmızı", "Ňaňková",
              "Žukauskas", "Bérubé", "Koç", "Öztürk", "Sánchez-Oñate"]


def _typo(rng: random.Random, text: str) -> str:
    """One respelling: a doubled, dropped or swapped letter in one word of four letters or more."""
    words = text.split()
    long_ = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    i = rng.choice(long_) if long_ else max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 4:
        words[i] = w + w[-1]
        return " ".join(words)
    j = rng.randrange(1, len(w) - 2)
    change = rng.choice(("double", "drop", "swap"))
    if change == "double":
        w = w[:j] + w[j] + w[j:]
    elif change == "drop":
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    words[i] = w
    return " ".join(words)


def _date(rng: random.Random) -> str:
    return date(rng.randint(1945, 1999), rng.randint(1, 12), rng.randint(1, 28)).isoformat()


def _grown() -> tuple[list[Identity], list[Variant], list[dict[str, Any]]]:
    rng = random.Random(19)
    people: list[Identity] = []
    queries: list[Variant] = []
    near: list[dict[str, Any]] = []
    # Names of the hand-written set count as taken: a generated query must name one person.
    used: set[str] = {i.name for i in IDENTITIES} | {d["name"] for d in DISTRACTORS}
    used |= {f"{n.split()[0]} {n.split()[-1]}" for n in list(used)}
    used |= {"Dmitri Sokolov", "Yulia Tkachenko", "Aleksandr Sokolov", "Sergei Ivanov"}

    def miss(name: str) -> None:
        # A near miss shares parts with an identity but is nobody's name in the set.
        if name not in used:
            used.add(name)
            near.append({"name": name, "birth_date": _date(rng)})

    def add(key: str, name: str, nationality: str,
            *variants: tuple[str, str, bool]) -> Identity | None:
        if name in used:
            return None
        used.add(name)
        person = Identity(key, name, _date(rng), nationality)
        people.append(person)
        for query, kind, dated in variants:
            queries.append(Variant(key, query, kind, person.birth_date if dated else None))
        return person

    # Arabic: compound names, Arabic script either way, respellings; near misses share two parts.
    for n in range(120):
        first = rng.choice(_ARABIC_COMPOUNDS if n % 2 == 0 else _ARABIC_GIVEN)
        father = rng.choice(_ARABIC_COMPOUNDS if n % 2 == 1 else _ARABIC_GIVEN)
        family = rng.choice(_ARABIC_FAMILY)
        if first == father:
            continue
        latin = f"{first[0]} {father[0]} {family[0]}"
        arabic = f"{first[1]} {father[1]} {family[1]}"
        other = f"{rng.choice(first[2])} {rng.choice(father[2])} {rng.choice(family[2])}"
        stored_arabic = n % 4 == 3
        variants = [(other, "arabic compound", False),
                    (latin if stored_arabic else arabic, "arabic script", False),
                    (f"{rng.choice(first[2])} {family[0]}", "arabic compound", True)]
        if n % 3 == 0:
            variants.append((_typo(rng, latin), "respelled", False))
        if latin in used or f"{father[0]} {first[0]} {family[0]}" in used:
            continue  # order-insensitive search cannot tell "A B C" from "B A C"
        used |= {latin, f"{father[0]} {first[0]} {family[0]}"}
        add(f"ar{n}", arabic if stored_arabic else latin, "SYR", *variants)
        miss(f"{first[0]} {rng.choice(_ARABIC_GIVEN)[0]} {family[0]}")
    # A father and his son sharing names: the query names the father, who must come first.
    for n in range(12):
        son, father, grandfather = rng.sample(_ARABIC_GIVEN, 3)
        family = rng.choice(_ARABIC_FAMILY)
        name = f"{father[0]} {grandfather[0]} {family[0]}"
        if add(f"fam{n}", name, "IRQ", (f"{father[1]} {grandfather[1]} {family[1]}", "family", False),
               (f"{rng.choice(father[2])} {grandfather[0]} {family[0]}", "family", False)):
            miss(f"{son[0]} {father[0]} {grandfather[0]} {family[0]}")
    # Persian script (its own letters) and Latin respellings.
    for n in range(60):
        given, family = rng.choice(_PERSIAN_GIVEN), rng.choice(_PERSIAN_FAMILY)
        add(f"fa{n}", f"{given[0]} {family[0]}", "IRN",
            (f"{given[1]} {family[1]}", "persian", False),
            (f"{rng.choice(given[2])} {rng.choice(family[2])}", "respelled", False))
        miss(f"{given[0]} {rng.choice(_PERSIAN_FAMILY)[0]}")
    for n, (latin, arabic) in enumerate(_P_NAMES):
        add(f"pb{n}", latin, "GBR", (arabic, "p/b", False))
    # East Slavic: Belarusian, Ukrainian, Latvian, Lithuanian forms; transliteration schemes.
    for n in range(170):
        surname = rng.choice(_SLAVIC_FAMILY)
        patronymic = rng.choice(_PATRONYMICS)
        given_f, male = rng.choice(_SLAVIC_FEMALE), rng.choice(_SLAVIC_MALE)
        # Queries without the patronymic must name one person: one male name and surname each.
        short = f"{given_f[0]} {surname[0]}a" if n % 3 == 2 else f"{male[0]} {surname[0]}"
        if short in used:
            continue
        used.add(short)
        if n % 3 == 2:
            name = f"{given_f[0]} {patronymic[1]} {surname[0]}a"
            variants = [(f"{given_f[3]} {patronymic[7]} {surname[4]}", "slavic forms", False),
                        (f"{given_f[4]} {surname[3][:-1]}ва", "slavic forms", False),
                        (f"{given_f[2]} {patronymic[5]} {surname[0]}a", "slavic forms", False),
                        (f"{given_f[1]} {patronymic[3]} {surname[1]}а", "cyrillic", False)]
        else:
            name = f"{male[0]} {patronymic[0]} {surname[0]}"
            scheme = rng.choice(_TRANSLIT_SCHEMES[:4])
            variants = [(f"{male[3]} {patronymic[6]} {surname[2]}", "slavic forms", False),
                        (f"{male[4]} {surname[3]}", "slavic forms", False),
                        (f"{male[5]} {surname[5]}" if n % 2 else f"{male[6]} {surname[6]}",
                         "slavic forms", False),
                        (f"{male[2]} {patronymic[4]} {surname[0]}", "slavic forms", False),
                        (f"{male[0]} {patronymic[0].replace(*scheme)} {surname[0]}",
                         "translit scheme", False),
                        (f"{surname[0].upper()}, {male[0]} {patronymic[0]}", "reordered", False)]
        add(f"ru{n}", name, "RUS", *variants)
        brother = rng.choice([g for g in _SLAVIC_MALE if g is not male])
        if f"{brother[0]} {surname[0]}" not in used:
            used.add(f"{brother[0]} {surname[0]}")
            miss(f"{brother[0]} {patronymic[0]} {surname[0]}")
    # Diacritics, order and spelling.
    for n in range(70):
        eu_given, eu_family = rng.choice(_EU_GIVEN), rng.choice(_EU_FAMILY)
        name = f"{eu_given} {eu_family}"
        folded = unidecode(name)  # how a keyboard without the letters writes it
        add(f"eu{n}", name, "FRA", (folded, "accent-folded", False),
            (f"{eu_family.upper()}, {eu_given}", "reordered", False),
            (_typo(rng, folded), "respelled", n % 2 == 0))
        miss(f"{eu_given} {rng.choice(_EU_FAMILY)}")
    return people, queries, near


_GROWN = _grown()
IDENTITIES += _GROWN[0]
VARIANTS += _GROWN[1]
DISTRACTORS += _GROWN[2]
