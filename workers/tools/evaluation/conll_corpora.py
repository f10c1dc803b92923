"""Convert the Broad Twitter Corpus to the CoNLL layout ``newsflow eval entities`` reads.

``read_conll`` takes the first column as the word and the last as the IOB tag, and splits
documents at ``-DOCSTART-`` lines only (blank lines are sentence breaks inside a document).
The Broad Twitter Corpus (GateNLP/broad_twitter_corpus, CC-BY 4.0) ships ``word<TAB>tag`` lines
with a blank line after each tweet and no ``-DOCSTART-``: read as is, a whole section would be
one document. This command writes one document per tweet, and undoes one artefact of the
corpus's tokenisation: since its commit 14d7fe7 (issue 7) a user mention is split into ``@`` and
the handle, and both are tagged ``B-X`` (two gold spans for one name; the corpus's issue 15
says the handle should be ``I-X``); they are joined again into the one token the tweet had,
``@handle``, with one tag. Other corpora already in CoNLL layout with documents (WikiGold) need
no conversion.

    python -m workers.tools.evaluation.conll_corpora btc IN.conll OUT.conll

The labels (PER, ORG, LOC) are kept as they are; ``eval entities`` scores PER/ORG/LOC.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

Token = tuple[str, str]  # (word, IOB tag)


def tweets(lines: Iterable[str]) -> Iterator[list[Token]]:
    """Blank-line separated blocks of ``word<TAB>tag`` lines, one block per tweet.

    Only an empty line ends a tweet. Whitespace inside a word (some emoji carry a trailing
    space; a line break inside a URL left a line holding one space) is removed, so a word stays
    one field and one line for ``read_conll``; a line without a tag or a word is dropped.
    """
    block: list[Token] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            if block:
                yield block
                block = []
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        word = "".join(parts[0].split())
        if word:
            block.append((word, parts[-1].strip()))
    if block:
        yield block


def join_mentions(tokens: list[Token]) -> list[Token]:
    """``@`` followed by a handle -> one ``@handle`` token.

    The tag is the ``@``'s when it has one (``B-PER``, ``I-PER``), else the handle's (the few
    mentions where only the handle was tagged).
    """
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        word, tag = tokens[i]
        if word == "@" and i + 1 < len(tokens):
            handle, handle_tag = tokens[i + 1]
            out.append(("@" + handle, tag if tag != "O" else handle_tag))
            i += 2
            continue
        out.append((word, tag))
        i += 1
    return out


def convert_btc(lines: Iterable[str]) -> Iterator[str]:
    """CoNLL lines (``word tag``), ``-DOCSTART-`` before each tweet."""
    for block in tweets(lines):
        yield "-DOCSTART- O"
        yield ""
        for word, tag in join_mentions(block):
            yield f"{word} {tag}"
        yield ""


def summary(lines: Iterable[str]) -> Counter[str]:
    """Documents, tokens and gold spans per type (and how many are @mentions / #hashtags)."""
    from workers.tools.evaluation.entities import conll_blocks, iob_spans

    counts: Counter[str] = Counter()
    for words, tags in conll_blocks(lines):
        counts["documents"] += 1
        counts["tokens"] += len(words)
        for start, end, kind in iob_spans(tags):
            counts[kind] += 1
            if end - start == 1 and words[start][:1] in "@#":
                counts[f"{kind} {words[start][0]}"] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", choices=["btc"], help="the input's format")
    parser.add_argument("source", type=Path, help="a section file, e.g. g.conll")
    parser.add_argument("target", type=Path, help="where to write the CoNLL file")
    args = parser.parse_args(argv)
    with args.source.open(encoding="utf-8", newline="") as handle:
        text = list(convert_btc(handle))
    args.target.write_text("\n".join(text) + "\n", encoding="utf-8")
    counts = summary(text)
    print(f"{args.target}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
