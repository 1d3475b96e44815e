"""Demo names look like a real diaspora's: many family names, a long tail, both scripts."""
import collections
import random

from crm.security import normalize
from crm.services.demo_names import family_name_count, fake_name


def _people(count, seed=11):
    rng = random.Random(seed)
    return [fake_name(rng) for _ in range(count)]


def test_many_family_names_and_none_dominates():
    people = _people(20_000)
    families = collections.Counter(name.split()[-1] for name, _ in people)
    assert family_name_count() > 2_500
    assert len(families) > 1_500
    # The commonest family name (counted over its spellings) is held by about 1 % of people.
    tokens = collections.Counter(t for name, _ in people for t in normalize.name_word_variants(name.split()[-1]))
    assert tokens.most_common(1)[0][1] < 0.02 * len(people)


def test_every_language_and_both_scripts_appear():
    people = _people(5_000)
    assert {language for _, language in people} == {"be", "ru", "uk", "pl", "lt"}
    cyrillic = [n for n, lang in people if lang in ("be", "ru", "uk") and normalize._CYRILLIC.search(n)]
    latin = [n for n, lang in people if lang in ("be", "ru", "uk") and not normalize._CYRILLIC.search(n)]
    assert len(cyrillic) > len(latin) > 0.2 * (len(cyrillic) + len(latin))


def test_latin_spellings_meet_their_cyrillic_form_in_the_index():
    """A person written in Latin letters is found by the Cyrillic spelling and back."""
    from crm.services import demo_names

    for language in ("be", "ru", "uk"):
        for male, female in demo_names._family_names(language)[:200]:
            for cyrillic in (male, female):
                for scheme in (language, "ru"):
                    latin = demo_names._latin(cyrillic, scheme)
                    assert normalize.name_word_variants(latin) & normalize.name_word_variants(cyrillic), \
                        (cyrillic, latin)


def test_the_same_seed_gives_the_same_people():
    assert _people(50, seed=5) == _people(50, seed=5)
