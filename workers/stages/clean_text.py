"""Words, lexicons and the line view shared by the cleaning stage's features and guards.

The lexicons are general English, written for this module from knowledge of how web pages and
news copy read (call-to-action verbs, second person, what prompts ask for, stamp and date words,
teaser, legal and photo-credit words); none is taken from a dev file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,:]\d+)*")
# the same words in ASCII text, where [^\W\d_] is [A-Za-z] and \d is [0-9] (1.5x faster)
_WORD_ASCII = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*|[0-9]+(?:[.,:][0-9]+)*")
_SENT_END = re.compile(r"[.!?](\s*['\"’”)\]])*\s*$")
_LABEL = re.compile(r"^\s*[A-Za-z][\w'’ ]{0,24}?\s*[:|»›>–—]\s+\S")
_SEPARATOR = re.compile(r"\s[|>»›•·/→]\s")
_SEPARATOR_CHARS = "|>»›•·/→"
_URL = re.compile(r"https?://|www\.|\.com\b|\.co\.uk\b|(^|\s)@\w")
# a time of day: "10:34", "8. 55", "7pm", "9 a.m": \b\d{1,2}\s*[:.]\s*\d{2}\b|\b\d{1,2}\s*[ap]\.?m\b
# written to start with the digit (the \b as a look-behind after it) so that the regex engine
# skips to the next digit instead of trying every position: 3x faster, the same matches
_TIME = re.compile(r"\d(?<!\w\d)\d?(?:\s*[:.]\s*\d{2}\b|\s*[ap]\.?m\b)", re.IGNORECASE)
_YEAR = re.compile(r"^(19|20)\d\d$")
_NUMBER = re.compile(r"\d")
_CLOCK = re.compile(r"^\d{1,2}[.:]\d{2}$")
_QUOTE = re.compile(r"[\"“”„«»]")

def lexicon(words: str) -> frozenset[str]:
    """A word list written as whitespace-separated text."""
    return frozenset(words.split())


# after a number in a stamp: "3rd", "5h ago", "10m ago"
_STAMP_SUFFIX = lexicon("st nd rd th h m d w s y mo hr hrs")

# --- lexicons: general English, written for this module (not taken from any dev file) ------------
CTA_VERBS = lexicon("""share subscribe sign signup register log login tap click press swipe
support donate contribute give follow join download install get try enable allow turn activate
upgrade unlock become read watch listen stream see view explore discover check visit learn find
tell send email e-mail comment like bookmark save print copy tweet pin continue keep stay help
consider chip back start claim grab shop buy order book opt reply rate vote manage update
thanks thank""")
SECOND_PERSON = lexicon("you your you're yours yourself you've you'll you'd u ur")
FIRST_PLURAL = lexicon("we our us we're we've we'll ours")
CTA_OBJECTS = lexicon("""newsletter newsletters inbox email e-mail emails app apps notification
notifications alert alerts push updates account subscription subscriptions subscriber subscribers
membership member members journalism reporting donation donations contribution contributions
podcast podcasts feed channel browser bell icon button link page article story stories comments
community premium offer trial access paywall digest briefing bulletin sign-up login password
readers reader supporter supporters patron patrons tips""")
SOCIAL = lexicon("""facebook twitter instagram whatsapp linkedin telegram tiktok youtube reddit
pinterest threads bluesky mastodon snapchat messenger flipboard rss""")
STAMP_WORDS = lexicon("""published updated posted modified edited ago originally filed
timestamp byline""")
TIME_UNITS = lexicon("""second seconds sec secs minute minutes min mins hour hours hr hrs day days
week weeks month months year years""")
DATE_WORDS = lexicon("""january february march april may june july august september october
november december jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday
thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun am pm a.m p.m gmt
bst utc cet cest et est edt ct cst cdt pt pst pdt aest ist today yesterday now just last on at
by first""")
MONTHS = lexicon("""january february march april may june july august september october
november december jan feb mar apr jun jul aug sep sept oct nov dec""")
TEASER_WORDS = lexicon("""most read popular trending related recommended more also latest top
viewed shared watched next previous picks headlines stories elsewhere around web sponsored
promoted partner miss don't must videos video galleries gallery editor's""")
LEGAL_WORDS = lexicon("""copyright © rights reserved cookie cookies privacy terms consent
permission reproduced redistributed republished rewritten broadcast trademark licence license
policy gdpr""")
CREDIT_WORDS = lexicon("""image images photo photos photograph photographs picture pictures
illustration graphic caption credit credits getty shutterstock alamy""")
# words that make some cue fire (besides the first-word verb): a line with none of them takes
# the fast path of :func:`_plain_sentence`
_FAST_CUE_WORDS = (SECOND_PERSON | FIRST_PLURAL | LEGAL_WORDS | STAMP_WORDS | SOCIAL
                   | CREDIT_WORDS)
_FIRST_SKIP = lexicon("please now and or so")  # "Please share ...", "Now download ..."
SPEECH_VERBS = lexicon("said says told added according")


@dataclass(frozen=True, slots=True)
class LineView:
    """What the feature code needs of one candidate line."""

    text: str  # whitespace-normalised line
    key: str  # lower-cased words, punctuation dropped (repeat key)
    stems: frozenset[str] = frozenset()  # content-word stems (see :func:`content_stems`)
    source_count: int = 0  # earlier articles of the same source holding this line
    recent_title_overlap: float = 0.0  # best word overlap with another recent title of the source


def words_of(text: str) -> list[str]:
    return (_WORD_ASCII if text.isascii() else _WORD).findall(text)


def more_words_than(text: str, n: int) -> bool:
    """``len(text.split()) > n``, splitting no further than needed."""
    return len(text.split(None, n)) > n


def separated(text: str) -> bool:
    """Whether a navigation separator (" | ", " > ", ...) stands between spaces in ``text``
    (or at its ends)."""
    for char in _SEPARATOR_CHARS:  # most lines have none: no regex, no padded copy
        if char in text:
            return _SEPARATOR.search(f" {text} ") is not None
    return False

@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A crude stem for overlap: a plural/verb suffix dropped, then the first six letters."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)][:6]
    return word[:6]
