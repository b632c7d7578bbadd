"""Text normalisation and character error rate for the P1.2 accuracy measure."""

from __future__ import annotations

import pytest
import zhconv

from hotline_ops.core.asr import (
    accuracy,
    aggregate,
    cer,
    corpus_accuracy,
    edit_distance,
    normalise,
)


def simplified(text: str) -> str:
    return zhconv.convert(text, "zh-hans")


def test_it_drops_chinese_and_ascii_punctuation_and_whitespace() -> None:
    text = "您好，请问：有什么可以帮您？「急」《条例》—— (test) ! \t\n 好的。"
    assert normalise(text, simplified) == "您好请问有什么可以帮您急条例test好的"


def test_it_drops_symbols_and_invisible_characters() -> None:
    assert normalise("水费+电费=￥100~\u200b\u3000完", simplified) == "水费电费100完"


def test_it_converts_traditional_to_simplified_through_the_given_function() -> None:
    assert normalise("這裡是熱線，請問有什麼可以幫您", simplified) == "这里是热线请问有什么可以帮您"


def test_it_applies_nfkc_before_converting() -> None:
    # Full-width digits and latin become ASCII; U+F9B4 is a compatibility ideograph for 領,
    # which the converter only recognises once NFKC has mapped it.
    assert normalise("１２３４５ＡＰＰ\uf9b4", simplified) == "12345app领"


def test_it_lowercases_latin() -> None:
    assert normalise("小区APP和Wi-Fi", simplified) == "小区app和wifi"


def test_it_passes_the_nfkc_form_to_the_converter() -> None:
    seen: list[str] = []
    normalise("Ａ，b", lambda text: seen.append(text) or text)
    assert seen == ["A,b"]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("路灯", "", 2),
        ("", "路灯", 2),
        ("路灯坏了", "路灯坏了", 0),
        ("路灯坏了", "路登坏了", 1),  # substitution
        ("咨询一下", "咨询下", 1),  # deletion
        ("堵了", "堵住了", 1),  # insertion
        ("kitten", "sitting", 3),
        ("办理", "理办", 2),  # a transposition is two edits
        ("abc", "xyz", 3),
    ],
)
def test_it_computes_levenshtein_distance(a: str, b: str, distance: int) -> None:
    assert (edit_distance(a, b), edit_distance(b, a)) == (distance, distance)


def test_it_divides_edits_by_the_reference_length() -> None:
    assert cer("我想咨询一下社保", "我想咨询下社保") == 1 / 8


def test_it_scores_an_empty_reference_zero_against_empty_and_one_against_anything() -> None:
    assert (cer("", ""), cer("", "多余")) == (0.0, 1.0)


def test_it_lets_cer_exceed_one_but_clips_accuracy_at_zero() -> None:
    assert (cer("好", "不好不好"), accuracy("好", "不好不好")) == (3.0, 0.0)


def test_it_reports_accuracy_as_one_minus_cer() -> None:
    assert (accuracy("路灯坏了", "路登坏了"), accuracy("路灯", "路灯")) == (0.75, 1.0)


def test_it_aggregates_at_corpus_level_not_as_a_mean_of_samples() -> None:
    # Per-sample 0 % and 100 % would average 50 %; by characters it is 1 − 2/11.
    pairs = [("路灯", "坏了"), ("我想咨询一下社保卡", "我想咨询一下社保卡")]
    edits, chars, value = aggregate(pairs)
    assert (edits, chars) == (2, 11)
    assert value == 9 / 11


def test_it_makes_three_edits_in_150_characters_exactly_98_percent() -> None:
    assert corpus_accuracy(3, 150) == 0.98
    assert corpus_accuracy(4, 150) < 0.98


def test_it_scores_an_empty_corpus_one_without_edits_and_zero_with() -> None:
    assert (aggregate([]), aggregate([("", "多")])) == ((0, 0, 1.0), (1, 0, 0.0))


def test_it_clips_corpus_accuracy_at_zero() -> None:
    assert aggregate([("好", "不好不好")]) == (3, 1, 0.0)
