"""Made-up but realistically spread names for the demo data and the benchmarks.

Real diaspora names are varied: thousands of family names, a long tail, the most
common one held by a few people in a thousand. A handful of surnames in the demo
made every name search match a tenth of the database and gave misleading
figures. Family names are built from stems and the suffixes of each language
(both genders), given names come from larger lists, and both are drawn with a
Zipf-like weight (rank ** -0.5), so a few names are common and most are rare.

Belarusian, Russian and Ukrainian people are written in Cyrillic or, as in a
passport, in Latin letters (``normalize.transliterate`` under their own
language's rules, sometimes under the Russian ones, as old passports did);
Polish and Lithuanian names keep their diacritics. Every value is invented.
"""
import itertools
import random

from ..security.normalize import transliterate

ZIPF = 0.5

# (stems, [(masculine suffix, feminine suffix)]) per language.
_BE_STEMS = [
    "Кавал", "Лукаш", "Навум", "Багдан", "Мацкев", "Шаран", "Сапег", "Латуш", "Бабар", "Калесн",
    "Грыб", "Дуб", "Мароз", "Шапавал", "Ткач", "Бандар", "Мельн", "Шаўц", "Сідар", "Гаўрыл",
    "Пятр", "Васіл", "Іван", "Мікал", "Сцяпан", "Раман", "Давыд", "Макар", "Кірыл", "Тарас",
    "Андрэ", "Станк", "Кур", "Савіц", "Ждан", "Зуб", "Бабр", "Воўк", "Казл", "Сакал",
    "Вераб", "Гарбач", "Панамар", "Рагач", "Луцк", "Цімош", "Жалудк", "Верамей", "Марчук", "Карп",
    "Статк", "Гурын", "Лявон", "Бурак", "Дзямід", "Крывец", "Падлуж", "Яцкев", "Шэмет", "Быхаў",
]
_BE_SUFFIXES = [("овіч", "овіч"), ("евіч", "евіч"), ("ук", "ук"), ("чык", "чык"), ("енка", "енка"),
                ("оў", "ова"), ("скі", "ская"), ("ец", "ец"), ("еня", "еня")]
_RU_STEMS = [
    "Иван", "Смирн", "Кузнец", "Поп", "Сокол", "Лебед", "Козл", "Новик", "Мороз", "Петр",
    "Волк", "Солов", "Васильк", "Зайц", "Павл", "Семён", "Голуб", "Виноград", "Богдан", "Воробь",
    "Фёдор", "Михайл", "Беляк", "Тарас", "Белоус", "Комар", "Орл", "Кисел", "Макар", "Андре",
    "Ковал", "Иль", "Гус", "Тит", "Кузьм", "Кудрявц", "Баран", "Кулик", "Алексе", "Степан",
    "Яковл", "Сорок", "Серге", "Роман", "Захар", "Борис", "Корол", "Герасим", "Пономар", "Григорь",
]
_RU_SUFFIXES = [("ов", "ова"), ("ев", "ева"), ("ин", "ина"), ("ский", "ская"), ("енко", "енко"),
                ("ович", "ович"), ("ых", "ых")]
_UK_STEMS = [
    "Шевч", "Бондар", "Коваль", "Бойк", "Ткач", "Кравч", "Олійн", "Поліщ", "Лисен",
    "Мельн", "Савч", "Руденк", "Марчен", "Гончар", "Мороз", "Павл", "Кушнір", "Клим", "Гриц",
    "Дяч", "Петрен", "Тимош", "Кириленк", "Остап", "Юрчен", "Гнатюк", "Федор", "Карпен", "Оліфір",
    "Стецен", "Ярош", "Гайдам", "Заруб", "Костен", "Левчен", "Мирон", "Нестер", "Прокоп", "Роман",
]
_UK_SUFFIXES = [("енко", "енко"), ("ук", "ук"), ("чук", "чук"), ("ський", "ська"), ("ич", "ич"),
                ("ко", "ко"), ("ишин", "ишин")]
_PL_STEMS = [
    "Kowal", "Nowa", "Wiśniew", "Wójci", "Kamiń", "Lewandow", "Zieliń", "Szymań", "Woźniak", "Dąbrow",
    "Kozłow", "Jankow", "Mazur", "Kwiatkow", "Krawczy", "Piotrow", "Grabow", "Pawłow", "Michal", "Król",
    "Wieczor", "Jabłoń", "Wróbl", "Nowakow", "Majew", "Olszew", "Stępień", "Malin", "Jaworsk", "Adamczy",
    "Dudek", "Nowic", "Pawlak", "Górec", "Witkow", "Walczak", "Sikor", "Baran", "Rutkow", "Michalak",
    "Szewczy", "Ostrow", "Tomaszew", "Pietrzak", "Zalew", "Wróblew", "Jasiń", "Zawadz", "Chmiel", "Borkow",
]
_PL_SUFFIXES = [("ski", "ska"), ("cki", "cka"), ("ak", "ak"), ("czyk", "czyk"), ("ewicz", "ewicz"),
                ("owski", "owska"), ("iak", "iak")]
_LT_STEMS = [
    "Kazlausk", "Jankausk", "Petrausk", "Stankevič", "Vasiliausk", "Žukausk", "Butk", "Paulausk", "Urbon",
    "Kavaliausk", "Navick", "Ramanausk", "Savick", "Rimk", "Baranausk", "Žemait", "Sakalausk", "Vaitkev",
    "Mockev", "Adomait", "Jonait", "Lukoš", "Balčiūn", "Kriščiūn", "Šimk", "Pocius", "Norvil", "Grigon",
]
_LT_SUFFIXES = [("as", "ienė"), ("ius", "ienė"), ("aitis", "aitė"), ("ūnas", "ūnienė"), ("is", "ytė")]

_GIVEN = {
    "be": (["Аляксандр", "Сяргей", "Алесь", "Ігар", "Андрэй", "Павел", "Уладзімір", "Зміцер", "Міхась",
            "Юрась", "Віктар", "Вадзім", "Максім", "Раман", "Францішак", "Янка", "Антон", "Мікола",
            "Тарас", "Васіль", "Пятрусь", "Генадзь", "Станіслаў", "Яўген", "Кірыл", "Ілья", "Арцём",
            "Дзяніс", "Багдан", "Лявон"],
           ["Святлана", "Вольга", "Марыя", "Наталля", "Кацярына", "Юлія", "Ганна", "Алена", "Ірына",
            "Таццяна", "Людміла", "Дар'я", "Вераніка", "Настасся", "Алеся", "Яўгенія", "Ксенія",
            "Хрысціна", "Валянціна", "Аліна", "Тамара", "Марына", "Віталія", "Рагнеда", "Яна"]),
    "ru": (["Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Евгений", "Иван",
            "Михаил", "Артём", "Никита", "Владимир", "Павел", "Роман", "Олег", "Игорь", "Денис",
            "Юрий", "Антон", "Кирилл", "Виктор", "Константин", "Николай", "Григорий", "Фёдор"],
           ["Елена", "Ольга", "Наталья", "Екатерина", "Анна", "Татьяна", "Мария", "Ирина", "Светлана",
            "Юлия", "Анастасия", "Марина", "Дарья", "Ксения", "Людмила", "Алёна", "Полина", "Вера",
            "Софья", "Галина"]),
    "uk": (["Олександр", "Сергій", "Андрій", "Дмитро", "Володимир", "Микола", "Юрій", "Олег", "Василь",
            "Іван", "Тарас", "Богдан", "Ігор", "Петро", "Максим", "Григорій", "Остап", "Ярослав",
            "Євген", "Віталій"],
           ["Олена", "Ольга", "Наталія", "Тетяна", "Ірина", "Юлія", "Оксана", "Марія", "Катерина",
            "Світлана", "Людмила", "Галина", "Софія", "Ганна", "Христина", "Ївга", "Соломія",
            "Зоряна", "Леся", "Дарина"]),
    "pl": (["Łukasz", "Piotr", "Wojciech", "Paweł", "Krzysztof", "Tomasz", "Marcin", "Michał", "Jakub",
            "Andrzej", "Grzegorz", "Mateusz", "Kamil", "Rafał", "Bartłomiej", "Jan", "Stanisław",
            "Zbigniew", "Przemysław", "Szymon"],
           ["Małgorzata", "Katarzyna", "Agnieszka", "Zofia", "Anna", "Maria", "Ewa", "Joanna",
            "Magdalena", "Monika", "Barbara", "Dorota", "Aleksandra", "Natalia", "Beata", "Jadwiga",
            "Grażyna", "Urszula", "Żaneta", "Weronika"]),
    "lt": (["Jonas", "Tomas", "Mindaugas", "Darius", "Andrius", "Lukas", "Mantas", "Paulius", "Vytautas",
            "Algirdas", "Gintaras", "Rimantas", "Žygimantas", "Saulius", "Kęstutis"],
           ["Rūta", "Eglė", "Aušra", "Jurgita", "Kristina", "Rasa", "Inga", "Laima", "Vaida", "Gintarė",
            "Ieva", "Austėja", "Žydrūnė", "Simona", "Asta"]),
}
_FAMILY_PARTS = {
    "be": (_BE_STEMS, _BE_SUFFIXES), "ru": (_RU_STEMS, _RU_SUFFIXES), "uk": (_UK_STEMS, _UK_SUFFIXES),
    "pl": (_PL_STEMS, _PL_SUFFIXES), "lt": (_LT_STEMS, _LT_SUFFIXES),
}
# Share of each language among the demo people, and how often a Cyrillic name is written
# in Latin letters (own language's passport rules; now and then the Russian ones).
LANGUAGE_WEIGHTS = {"be": 45, "ru": 15, "uk": 20, "pl": 15, "lt": 5}
LATIN_SHARE = 0.35
RUSSIAN_RULES_SHARE = 0.2


def _family_names(language):
    stems, suffixes = _FAMILY_PARTS[language]
    pairs = [(stem + male, stem + female) for stem, (male, female) in itertools.product(stems, suffixes)]
    # A fixed shuffle, so that rank (and so frequency) is not alphabetical or by suffix.
    random.Random(language).shuffle(pairs)
    return pairs


def _weights(count):
    return list(itertools.accumulate((rank + 1) ** -ZIPF for rank in range(count)))


class _Pool:
    def __init__(self, language):
        men, women = _GIVEN[language]
        self.given = {0: men, 1: women}
        self.family = _family_names(language)
        self.given_weights = {g: _weights(len(names)) for g, names in self.given.items()}
        self.family_weights = _weights(len(self.family))

    def draw(self, rng):
        gender = rng.randrange(2)
        given = rng.choices(self.given[gender], cum_weights=self.given_weights[gender])[0]
        family = rng.choices(self.family, cum_weights=self.family_weights)[0][gender]
        return given, family


_POOLS = {language: _Pool(language) for language in LANGUAGE_WEIGHTS}
_LANGUAGES = list(LANGUAGE_WEIGHTS)
_LANGUAGE_CUM = list(itertools.accumulate(LANGUAGE_WEIGHTS.values()))


def _latin(word, scheme):
    spelled = transliterate(word.casefold(), scheme)
    return spelled[:1].upper() + spelled[1:]


def fake_name(rng):
    """(full name, language) of one made-up person."""
    language = rng.choices(_LANGUAGES, cum_weights=_LANGUAGE_CUM)[0]
    given, family = _POOLS[language].draw(rng)
    if language in ("be", "ru", "uk") and rng.random() < LATIN_SHARE:
        scheme = "ru" if rng.random() < RUSSIAN_RULES_SHARE else language
        given, family = _latin(given, scheme), _latin(family, scheme)
    return f"{given} {family}", language


def family_name_count():
    """How many distinct family names (both genders) the demo can draw."""
    return sum(2 * len(stems) * len(suffixes) for stems, suffixes in _FAMILY_PARTS.values())
