"""The cleaner's language id gives py3langid's answer, bit for bit (workers.stages.clean_lang)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from workers.stages.clean_lang import LanguageId, automaton_depth


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@pytest.fixture(scope="module")
def fast(identifier: LanguageIdentifier) -> Iterator[LanguageId]:
    built = LanguageId(identifier, cache_rows=64)  # small: the full-cache path is taken too
    assert built._fast, "py3langid's layout changed: the fast path is off"
    yield built


TEXTS = [
    "", " ", "a", "ab", "abc", "\n", "123", "!!!", "😀", "\udcff x", "ÉCOLE NORMALE SUPÉRIEURE",
    "The government said on Monday that the new rules would apply from next year.",
    "Le gouvernement a annoncé lundi que les nouvelles règles s'appliqueraient l'an prochain.",
    "Die Regierung teilte am Montag mit, dass die neuen Regeln ab dem nächsten Jahr gelten.",
    "El gobierno dijo el lunes que las nuevas normas se aplicarán a partir del próximo año.",
    "Правительство заявило в понедельник, что новые правила вступят в силу в следующем году.",
    "政府は月曜日、新しい規則が来年から適用されると発表した。",
    "الحكومة قالت يوم الاثنين إن القواعد الجديدة ستطبق اعتبارا من العام المقبل",
    "Sign up for our newsletter | Follow us on Twitter | © 2024 Example News",
    "A" * 3000, "ab " * 700,
]


@pytest.mark.parametrize("text", TEXTS)
def test_same_answer_as_py3langid(identifier: LanguageIdentifier, fast: LanguageId,
                                  text: str) -> None:
    lang, prob = identifier.classify(text)
    assert fast.classify(text) == (lang, float(prob))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400))
def test_same_answer_on_any_text(identifier: LanguageIdentifier, fast: LanguageId,
                                 text: str) -> None:
    lang, prob = identifier.classify(text)
    assert fast.classify(text) == (lang, float(prob))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=300))
def test_features_are_py3langids_counts_in_its_order(identifier: LanguageIdentifier,
                                                     fast: LanguageId, data: bytes) -> None:
    rowbase = [r << 8 for r in identifier.tk_row]
    expected = visit_counts(identifier.tk_nextmove, rowbase, identifier.tk_output, data)
    got = fast._features(data)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0].tolist() == list(expected) and got[1].tolist() == list(expected.values())


def test_depth_of_a_small_automaton() -> None:
    # a chain 0 -a-> 1 -b-> 2 (every other byte back to the root): depth 2
    nextmove = np.zeros(3 * 256, dtype=np.uint32)
    nextmove[0 * 256 + ord("a")] = 1
    nextmove[1 * 256 + ord("b")] = 2
    assert automaton_depth(nextmove, np.arange(3, dtype=np.intp) << 8) == 2


def test_other_layouts_use_py3langid(identifier: LanguageIdentifier) -> None:
    plain = LanguageIdentifier.from_model_file(MODEL_FILE)  # raw scores: not the fast path
    built = LanguageId(plain)
    assert not built._fast
    lang, score = plain.classify("The government said on Monday.")
    assert built.classify("The government said on Monday.") == (lang, float(score))
