"""Broad Twitter Corpus -> CoNLL conversion, read back by ``read_conll`` as the eval reads it."""

from __future__ import annotations

from pathlib import Path

from workers.tools.evaluation.conll_corpora import convert_btc, join_mentions, main, summary
from workers.tools.evaluation.entities import read_conll

# Our own two "tweets" in the corpus's layout: word<TAB>tag, a blank line after each tweet, a
# mention split into "@" and the handle (both B-ORG), a word of two emoji with spaces in it, and
# a line holding one space (a line break that fell inside a word in the source).
BTC = (
    "Talks\tO\nwith\tO\n@\tB-ORG\nnewsdesk\tB-ORG\nin\tO\nOslo\tB-LOC\n🌍 🌍 \tO\n\n"
    "Maria\tB-PER\nLindqvist\tI-PER\nsays\tO\n \nhi\tO\n@\tO\nfriend\tO\n\n"
)


def test_one_document_per_tweet_with_the_mention_joined(tmp_path: Path) -> None:
    path = tmp_path / "btc.conll"
    path.write_text("\n".join(convert_btc(BTC.splitlines(keepends=True))) + "\n")
    docs = read_conll(path)
    assert [doc.tokens for doc in docs] == [
        ["Talks", "with", "@newsdesk", "in", "Oslo", "🌍🌍"],
        ["Maria", "Lindqvist", "says", "hi", "@friend"],
    ]
    assert docs[0].gold == {(2, 3, "ORG"), (4, 5, "LOC")}
    assert docs[1].gold == {(0, 2, "PER")}


def test_join_mentions_takes_the_handles_tag_when_the_at_sign_has_none() -> None:
    assert join_mentions([("@", "O"), ("bbc", "B-ORG"), ("@", "B-PER"), ("ann", "B-PER")]) == [
        ("@bbc", "B-ORG"), ("@ann", "B-PER"),
    ]
    assert join_mentions([("a", "O"), ("@", "O")]) == [("a", "O"), ("@", "O")]


def test_main_writes_the_file_and_counts(tmp_path: Path, capsys) -> None:
    source, target = tmp_path / "g.conll", tmp_path / "out.conll"
    source.write_text(BTC, encoding="utf-8")
    main(["btc", str(source), str(target)])
    counts = summary(target.read_text(encoding="utf-8").splitlines())
    assert counts["documents"] == 2
    assert (counts["ORG"], counts["ORG @"], counts["LOC"], counts["PER"]) == (1, 1, 1, 1)
    assert "documents 2" in capsys.readouterr().out
