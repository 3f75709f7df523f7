"""Name-part tables for search normalisation: Arabic compound names, Slavic given-name equivalents,
patronymic and Baltic surname forms. Operates on folded (ASCII, lower-case) words.

Part of the blind-index format: index and query terms are both computed through these tables, so a
change here changes terms and needs `arx keys reindex` (README, "Search and blind indexes").

Sources: the compound (theophoric) name patterns follow the Library of Congress ALA-LC Arabic
romanization table (article and sun-letter assimilation: al-/ad-/ar-/ur-) and the forms of the same
names in the UN Security Council consolidated list's Latin records (Abdullah, Abd Allah, Abdallah,
Hidayatullah, Nasruddin, Nasr al-Din, Abdul Rahman). The Slavic given names are the Russian,
Ukrainian, Belarusian, Latvian and Lithuanian forms of common names as the BGN/PCGN romanization
systems (Russian 1947, Ukrainian 2019, Belarusian 1979/2007 national system) and Latvian and
Lithuanian orthography write them (e.g. Владимир / Володимир / Уладзімір / Vladimirs / Vladimiras).
OpenSanctions' rigour library was considered first (issue 19): its 2.x wheels are compiled per Python
version and its name data changes with each release, which would silently change index terms; these
small tables are pinned with the index format instead.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Words that start an "Abd ..." ("servant of ...") compound, as Latin records and Arabic script
# (عبد gives "bd" once the ayn is dropped) write them.
ABD = frozenset(["abd", "abdul", "abdel", "abdal", "abdol", "abdoul", "abdur", "abdus", "abdu", "bd",
                 "abdoel", "abdil"])
# The article before a compound's second part, with sun-letter assimilation (ad-Din, ar-Rahman).
ARTICLES = frozenset(["al", "el", "ul", "il", "ol", "ad", "ud", "ed", "ar", "ur", "er", "as", "us",
                      "es", "an", "un", "at", "ut", "az", "uz", "ash", "ush", "esh"])
# "... Allah" (God) closing a name: Abdullah, Hidayatullah, Habibullah; Tajik -ullo.
ALLAH = frozenset(["allah", "alla", "ullah", "ulla", "ollah", "olla", "illah", "llah", "lah", "lh",
                   "llh", "allh", "ullo", "ulloh", "olloh", "allo"])
# "... ad-Din" (of the faith): Nasruddin, Salahuddin, Nasr al-Din, Nasreddine, Kamal Uddin.
DIN = frozenset(["din", "deen", "dine", "dyn", "ddin", "ddine", "ddeen", "dinn"])
DIN_JOINED = frozenset(["uddin", "eddin", "eddine", "addin", "uddeen", "iddin", "oddin", "uddin",
                        "aldin", "eldin", "uldin", "ud-din"])
RAHMAN = frozenset(["rahman", "rehman", "rahmon", "rhmn", "rahmane"])

_ALLAH_END = re.compile(r"^([a-z]{3,}?)(?:[aeiou]ll?ah|[uoa]lla|[uo]ll?oh?|a?llh)$")
_DIN_END = re.compile(r"^([a-z]{3,}?)(?:[aeiou](?:dd|ld)(?:in|een|ine)|ddin|ddine|ddeen)$")
_RAHMAN_END = re.compile(r"^([a-z]{3,}?)[aeiou][rl]r?(?:ahman|ehman|ahmon|ahmane)$")
_ABD_START = re.compile(r"^abd(?:oul|ul|el|al|ol|oel|il|ur|er|ar|us|es|as|u|e|a|o)?(?=[a-z]{3,}$)")


@lru_cache(maxsize=65_536)
def canonical_compound(word: str) -> str:
    """One spelling of a compound name written as one word: Abdallah/Abdulla -> abdullah,
    Abdelkader -> abdulkader, Nasreddine -> nasruddin, Habiburrahman -> habiburrahman."""
    if word.startswith("bd") and len(word) > 3:  # Arabic عبد... written joined
        word = "a" + word
    if m := _ALLAH_END.match(word):
        word = m[1] + "ullah"
    if m := _ABD_START.match(word):
        return "abdul" + word[m.end():]
    if m := _DIN_END.match(word):
        return m[1] + "uddin"
    if m := _RAHMAN_END.match(word):
        return m[1] + "urrahman"
    return word


def join_compounds(words: list[str]) -> list[str]:
    """Folded words with Arabic compound names written apart joined into one canonical word:
    ["abd", "al", "rahman"] -> ["abdulrahman"], ["nasr", "al", "din"] -> ["nasruddin"],
    ["hidayat", "allah"] -> ["hidayatullah"], ["habibur", "rahman"] -> ["habiburrahman"]."""
    out: list[str] = []
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        nxt = words[i + 1] if i + 1 < n else None
        if w in ABD and nxt is not None:
            j = i + 2 if nxt in ARTICLES and i + 2 < n else i + 1
            out.append("abdullah" if words[j] in ALLAH else canonical_compound("abdul" + words[j]))
            i = j + 1
            continue
        if out and out[-1] not in ARTICLES:
            if w in ALLAH:
                out[-1] = canonical_compound(out[-1] + "ullah")
                i += 1
                continue
            if w in DIN_JOINED:
                out[-1] = out[-1] + "uddin"
                i += 1
                continue
            if w in ARTICLES and nxt is not None and nxt in DIN | ALLAH | RAHMAN:
                root = "uddin" if nxt in DIN else "ullah" if nxt in ALLAH else "urrahman"
                out[-1] = out[-1] + root
                i += 2
                continue
            if w in RAHMAN and out[-1].endswith(("ur", "ar")) and len(out[-1]) > 4:
                out[-1] = out[-1][:-2] + "urrahman"
                i += 1
                continue
        out.append(canonical_compound(w))
        i += 1
    return out


# -- Slavic given names: the Russian form (as BGN/PCGN writes it) of each other form ----------------
_GIVEN = {
    "vladimir": "volodymyr uladzimir uladzimer vladimirs vladimiras wladimir vladymyr wolodymyr",
    "aleksandr": "oleksandr aliaksandr aliaksandar alaksandr aleksandrs aleksandras alexander "
                 "alexandr aleksander olexandr alyaksandr oleksander",
    "aleksei": "oleksii oleksiy oleksij aliaksei aleksejs aleksejus alexei alexey aleksey alyaksei "
               "aliaksiej",
    "sergei": "serhii serhiy serhij siarhei siarhiej sergejs sergejus sergey sergej serguei sergiy",
    "nikolai": "mykola mikalai nikolajs nikolajus nikolay nicolai nikolaj mikola",
    "dmitri": "dmytro dzmitry dzmitryi dzmitryj dmitrijs dmitrijus dmitry dmitrii dmitriy dmitrij",
    "mikhail": "mykhailo mykhaylo mikhailo mihails michail mihail mikhal michal mikhailas",
    "andrei": "andrii andriy andrij andrej andrejs andrius andrey",
    "yuri": "yurii yuriy yury juri jurij jurijs yurij iouri iurii jurijus",
    "ivan": "ivans ivanas iwan",
    "pavel": "pavlo paval pavels paulius pawel pavlas",
    "pyotr": "petro piotr petr petrs petras piatro pjotr",
    "grigori": "hryhorii hryhoriy ryhor hryhor grigorijs grigorijus grigory grigoriy grigorij",
    "viktor": "viktors viktoras victor wiktor viktar",
    "yevgeni": "yevhen yauhen jauhen jevgenijs evgenijus evgeny evgeniy yevgeny evgenii jewgeni "
               "yevgeniy evgenij",
    "anatoli": "anatolii anatoliy anatol anatolijs anatolijus anatoly anatolij",
    "vasili": "vasyl vasil vasilijs vasilijus vasily vasiliy wassili vasilij",
    "konstantin": "kostiantyn kostyantyn kanstantsin kanstancin konstantins konstantinas",
    "vyacheslav": "viacheslav viachaslau viacaslau vjaceslavs viaceslavas wjatscheslaw",
    "vladislav": "vladyslav uladzislau vladislavs vladislavas wladyslaw",
    "stanislav": "stanislau stanislavs stanislovas stanislaw",
    "svetlana": "svitlana sviatlana svjatlana swetlana svetlanna",
    "yelena": "olena alena elena jelena yelyena",
    "olga": "olha volha olgha",
    "natalya": "nataliia natalia natallia natalija natalja nataliya natalia",
    "tatyana": "tetiana tatsiana tatsyana tatjana tatiana tetyana",
    "yulia": "yuliia yuliya yulija julija julia iuliia juliya",
    "irina": "iryna iryna",
    "maria": "mariia maryia marija mariya",
    "yekaterina": "kateryna katsiaryna jekaterina ekaterina katerina yekateryna",
    "lyudmila": "liudmyla liudmila ludmila lyudmyla ludmyla",
    "galina": "halyna halina",
    "oleg": "oleh aleh olegs olegas",
    "igor": "ihor ihar igar igors igoris",
    "leonid": "leanid leonids leonidas",
    "boris": "barys borys boriss borisas",
    "gennadi": "hennadii hennadiy hienadz gennady gennadiy genadijs genadijus gennadij",
    "valeri": "valerii valery valeriy valer valerijs valerijus valerij",
    "roman": "raman romans romanas",
    "fyodor": "fedir fiodar fedor fjodors fiodor fedar",
    "semyon": "semen siamion semjon",
    "yakov": "yakiv jakau jakovs iakov",
    "artyom": "artem arciom artsiom artiom artjoms artiomas",
    "maksim": "maksym maxim maksims maksimas",
    "denis": "denys dzianis deniss denisas",
    "yaroslav": "jaroslau jaroslavs jaroslaw iaroslav yaroslau",
    "vitali": "vitalii vitaliy vital vitalijs vitalijus vitaly vitalij",
    "yevgenia": "yevheniia yauheniya jevgenija evgenia evgeniya",
    "anastasia": "anastasiia anastasiya nastassia anastasija",
    "alla": "ala",
    "vera": "vira viera",
    "nadezhda": "nadiia nadzeia nadezda nadiya",
    "lyubov": "liubov liubou lubov",
}
_I_LIKE = re.compile(r"[yj]")
_DOUBLE_I = re.compile(r"i+")


def _gkey(word: str) -> str:
    # y, j and i stand for the same sound across schemes (Yulia, Iuliia, Julija; Volodymyr, Volodimir).
    return _DOUBLE_I.sub("i", _I_LIKE.sub("i", word))


GIVEN: dict[str, str] = {_gkey(v): k for k, vs in _GIVEN.items() for v in [k, *vs.split()]}

# East Slavic patronymics in the ways they are transliterated (-ovich, -ovych, -ovič folded to -ovic,
# Swedish -ovitj, German -owitsch, French -ovitch; Belarusian -avich, -auna), male and female.
_PATRONYMIC = re.compile(
    r"^([a-z]{3,}?)(?:(ovich|ovych|ovic|ovitj|ovitch|ovitsch|owitsch|owitch|avich|avic|avitj|evich"
    r"|evych|evic|ievich|iovych|yovych|ijovych|ovicius)|(ovna|ivna|auna|avna|evna|ievna|yevna|ovnaa))$")
# Latvian and Lithuanian add a case ending to Russian surnames (Putins, Putinas, Ivanovs, Ivanovas),
# and the -sky ending is written -skiy, -skyi, -skii, -skij, -skis.
_BALTIC = re.compile(r"^([a-z]{3,}(?:ov|ev|in|yn|ik|enk))(?:as|s|is)$")
# Belarusian writes the -ov/-ev ending -au/-ou/-eu (Сакалоў = Sakalou, Лебедзеў = Lebedzeu).
_BE_OV = re.compile(r"^([a-z]{3,}[^aeiou])(?:au|ou)$")
_BE_EV = re.compile(r"^([a-z]{3,}[^aeiou])eu$")
_SKY = re.compile(r"^([a-z]{2,}sk)(?:iy|yi|ii|ij|is|yj|y|i)$")
_BE_U = re.compile(r"(?<=[aeo])u(?=[^aeiou]|$)")  # Belarusian ў (Paulauna = Pavlovna)


def _given(stem: str) -> str:
    for form in (stem, stem + "i"):
        if (found := GIVEN.get(_gkey(form))) is not None:
            return found
    return stem


@lru_cache(maxsize=65_536)
def equivalents(token: str) -> tuple[str, ...]:
    """Other written forms of one folded token that name the same (the Russian form of a given name,
    a patronymic's common spelling, a surname without its Baltic ending); () when there are none."""
    found: list[str] = []
    if (given := GIVEN.get(_gkey(token))) is not None:
        found.append(given)
    if m := _PATRONYMIC.match(token):
        stem = _given(_BE_U.sub("v", m[1]))
        found.append(stem + ("ovich" if m[2] else "ovna"))
    if m := _BALTIC.match(token):
        found.append(m[1])
    if m := _BE_OV.match(token):
        found.append(m[1] + "ov")
    if m := _BE_EV.match(token):
        found.append(m[1] + "ev")
    if m := _SKY.match(token):
        found.append(m[1] + "i")
    return tuple(f for f in dict.fromkeys(found) if f != token)


# Canonical affixes of joined compounds: two compounds agree by what they do not share.
AFFIXES = (("abdul", ""), ("", "uddin"), ("", "ullah"), ("", "urrahman"))


def split_affix(a: str, b: str) -> tuple[str, str] | None:
    """(a, b) without a canonical compound affix both carry (abdulkarim/abdullah -> karim/lah)."""
    for prefix, suffix in AFFIXES:
        if (a.startswith(prefix) and b.startswith(prefix) and a.endswith(suffix)
                and b.endswith(suffix) and min(len(a), len(b)) > len(prefix) + len(suffix)):
            return a[len(prefix):len(a) - len(suffix)], b[len(prefix):len(b) - len(suffix)]
    return None


def is_patronymic(token: str) -> bool:
    return _PATRONYMIC.match(token) is not None
