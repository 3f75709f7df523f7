"""A labelled set of suspect-name variants (fictitious people) for measuring search recall.

Each identity is a subject as a posting State wrote it; each variant is how another State, or a Court
investigator, might type the same person: other scripts, transliteration schemes, order swaps, missing
diacritics or middle names, one-letter typos, aliases. Distractors share tokens with the identities so
that recall is measured against near-misses, not an empty index. Shared by tests and bench/search.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any


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


@dataclass(frozen=True)
class Report:
    recall_at_3: float
    top1: float
    disambiguated_top1: float
    misses: list[str]


def evaluate(search: Callable[[Variant], list[str]]) -> Report:
    """Score a search function returning identity keys (best first) over the labelled variants."""
    hits3 = hits1 = 0
    dated = dated_hits = 0
    misses = []
    for variant in VARIANTS:
        found = search(variant)
        hits3 += variant.key in found[:3]
        hits1 += bool(found) and found[0] == variant.key
        if variant.kind == "same name":
            dated += 1
            dated_hits += bool(found) and found[0] == variant.key
        if variant.key not in found[:3]:
            misses.append(f"{variant.kind}: {variant.key}")
    return Report(recall_at_3=hits3 / len(VARIANTS), top1=hits1 / len(VARIANTS),
                  disambiguated_top1=dated_hits / max(1, dated), misses=misses)


def query_birth_date(variant: Variant) -> date | None:
    return date.fromisoformat(variant.birth_date) if variant.birth_date else None
