"""A question reduced to what decides whether two questions ask the same thing.

1. Both questions are normalised: Unicode-folded, lower-cased, contractions expanded, greetings
   and filler clauses ("Hi all, quick question:", "Thanks!") dropped.
2. Each is reduced to its *key terms*: words minus stop words and decision-framing words
   ("should we", "is it a good idea to", "use", "worth it"), with multi-word and single-word
   synonyms mapped to one canonical form (Postgres -> postgresql, k8s -> kubernetes, 2FA), number
   words turned into digits, a light suffix stemmer applied, and one simple passive turned active
   ("should X be generated" -> "generate X"). Every other word is a key term: relation and
   condition markers (from, into, than, over, if, unless ...), negations (not, without, never ...)
   and the conjunctions "and" / "or" among them; "to" only right after a verb of movement
   ("migrate to X" is not "migrate X").

The hit check (`tui.question.check`) compares the key terms; the *signature* (the sorted key
terms) lets the history find the only runs that can pass it by an indexed lookup. The history
keeps each run's question key (the normalised question) and signature, made by the `REDUCTION`
it records: a change to what this module makes of a question adds one to it.

What each part is worth, measured on the labelled pairs: `benchmarks/bench_cache_parts.py`.
Pure Python, no dependencies, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["REDUCTION", "KeyTerms", "key_terms", "normalize", "signature"]

REDUCTION = 2
"""Which version of this module's reduction makes a question's key terms and normalised text. Add
one whenever a change makes them differ for any question: the history then keys its runs again
(their question keys and signatures, which it stores) when it is next opened."""

# --------------------------------------------------------------------------------------- lexicon


def _wordset(words: str) -> frozenset[str]:
    """A frozenset of the whitespace-separated words in ``words``."""
    return frozenset(words.split())


#: Function words: never compared. ("same", "other", "another", "own", "such", "too" are NOT
#: here: "the same database" vs "another database" is a different decision.)
STOP_WORDS: frozenset[str] = _wordset("""
    a an the this that these those there here it its itself
    i me my we us our ours you your yours he she they them their
    is are was were be been being am do does did doing done have has had having get gets got
    of for in on at by with as about within across via to
    but so then also very quite rather just still already even
    what which who whom whose how why where whether
    let
    """)

#: Words that frame a decision question without changing which decision is asked.
FRAMING_WORDS: frozenset[str] = _wordset("""
    should would could can shall might may will
    need needs needed necessary really actually
    worth wise idea good sense make makes sensible reasonable okay ok fine acceptable appropriate
    advisable recommended recommend right correct proper best better preferable way ways approach
    choice fit option tool use pick
    """)

#: Words that only ever appear in politeness or filler clauses. A clause is dropped as filler
#: only when *every* word in it is a stop, framing or filler word; elsewhere they count.
FILLER_WORDS: frozenset[str] = _wordset("""
    hi hello hey hiya greetings dear folks everyone guys panel
    please pls kindly thanks thank thx cheers advance appreciated appreciate welcome
    quick question questions sanity check genuinely honestly frankly seriously
    curious wondering wonder wondered alright well hmm um
    love like want know tell explain advise advice help someone anybody anyone
    thing things debating debate internally
    hoping hope clear answer answers input feedback opinion opinions thought thoughts view take
    think any
    """)

#: Multi-word phrases replaced before tokenising (longest first). Values are canonical forms.
PHRASES: dict[str, str] = {
    "amazon web services": "aws",
    "google cloud platform": "gcp",
    "google cloud": "gcp",
    "microsoft azure": "azure",
    "two-factor authentication": "2fa",
    "two factor authentication": "2fa",
    "two-factor auth": "2fa",
    "end-to-end": "e2e",
    "end to end": "e2e",
    "oauth 2.0": "oauth2",
    "oauth 2": "oauth2",
    "sql database": "relational database",
    "sql databases": "relational databases",
    "high availability": "ha",
    "highly available": "ha",
    "continuous integration": "ci",
    "continuous delivery": "cd",
    "continuous deployment": "cd",
    "least expensive": "cheapest",
    "deal with": "handle",
    "how frequently": "how often",
    "single sign-on": "sso",
    "single sign on": "sso",
    "machine learning": "ml",
    "pull request": "pr",
    "pull requests": "prs",
    "merge request": "pr",
    "infrastructure as code": "iac",
    "server side rendering": "ssr",
    "server-side rendering": "ssr",
    "node.js": "nodejs",
    "a lot of": "many",
    "lots of": "many",
    "rather than": "instead",
    "instead of": "instead",
    "go with": "use",
    "in your view": "",
    "in your opinion": "",
    "is it worth it": "",
    "worth it": "",
}

#: Greeting + audience at the start of a question ("Hi all,", "Okay team,"), removed whole.
_GREETING_RE = re.compile(
    r"^\s*(?:hi|hello|hey|okay|ok|alright|morning|good morning)\s+"
    r"(?:all|team|everyone|folks|guys|there|people|panel)\b"
)
#: "quick question", "big question": the adjective is filler there.
_GENERIC_QUESTION_RE = re.compile(r"\b(?:quick|big|simple|small|genuine|honest|one|a|another)\s+question\b")

#: Single-word synonyms and abbreviations, mapped to one canonical form before stemming.
SYNONYMS: dict[str, str] = {
    "postgres": "postgresql",
    "pg": "postgresql",
    "psql": "postgresql",
    "mongo": "mongodb",
    "k8s": "kubernetes",
    "kube": "kubernetes",
    "js": "javascript",
    "ecmascript": "javascript",
    "ts": "typescript",
    "py": "python",
    "db": "database",
    "dbs": "databases",
    "auth": "authentication",
    "authn": "authentication",
    "authz": "authorization",
    "tfa": "2fa",
    "vs": "versus",
    "choose": "pick",
    "select": "pick",
    "opt": "pick",
    "chose": "pick",
    "chosen": "pick",
    "using": "use",
    "used": "use",
    "uses": "use",
    "ship": "deploy",
    "frequently": "often",
    "utilize": "use",
    "utilise": "use",
    "employ": "use",
    "modify": "change",
    "alter": "change",
    "quicker": "faster",
    "speedier": "faster",
    "inexpensive": "cheap",
    "repo": "repository",
    "repos": "repositories",
    "env": "environment",
    "envs": "environments",
    "prod": "production",
    "config": "configuration",
    "app": "application",
    "apps": "applications",
    "infra": "infrastructure",
}

#: Number words -> digits.
NUMBER_WORDS: dict[str, str] = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "once": "1",
    "twice": "2",
    "dozen": "12",
}

_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"\bi'm\b", "i am"),
    (r"\blet's\b", "let us"),
    (r"\b(what|that|it|there|here|who|where|how|which)'s\b", r"\1 is"),
    (r"'s\b", ""),
    (r"s'(?=\s|$)", "s"),
)

_TOKEN_RE = re.compile(r"[$]?[a-z0-9][a-z0-9+#%]*(?:[./][a-z0-9+#%]+)*")
_CLAUSE_SPLIT_RE = re.compile(r"[.!?;:]+(?=\s|$)|,(?!\d)|\s[-\u2013\u2014]+\s|[()\[\]\n\u2013\u2014]")


# ------------------------------------------------------------------------------------- helpers


#: "Go" with a capital inside a sentence is the language ("use Go serverless"); lower-case, or
#: opening a sentence, it is the verb ("go serverless"). Read before case is folded away.
_GO_LANGUAGE_RE = re.compile(r"(?<=[^\s.!?]\s)Go\b|(?<=[,;:(]\s)Go\b")


def _fold(text: str) -> str:
    """Unicode-fold, lower-case, unify quotes, expand contractions ("Go" the language kept apart)."""
    text = _GO_LANGUAGE_RE.sub("golang", unicodedata.normalize("NFKC", text)).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"[\"\u201c\u201d]", " ", text)
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text)
    return text


_PHRASE_RE = re.compile(
    r"(?<![\w.-])(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")(?![\w-])"
)


def _phrase_sub(text: str) -> str:
    """Replace every listed phrase (longest first, one left-to-right pass) by its canonical form."""
    return _PHRASE_RE.sub(lambda m: " " + PHRASES[m.group(1)] + " ", text)


def _stem(word: str) -> str:
    """A light, deterministic suffix stripper (plural, -ing, -ed, final e)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            word = word[: -len(suffix)] + repl
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
            word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) >= len(suffix) + 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "shipped" -> "ship"
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


#: Verbs of movement: the first "to" after one names a destination and is a key term
#: ("migrate to Postgres" is not "migrate Postgres").
_MOVEMENT_STEMS: frozenset[str] = _wordset(
    "migrat mov switch port convert upgrad downgrad transfer sync replicat copy export import "
    "send push translat rewrit chang shift return revert"
)

#: Conjunctions: counted ("Kafka and RabbitMQ" is not "Kafka or RabbitMQ") but left out of the
#: order check ("A or B" asks what "B or A" asks).
_CONJUNCTIONS = frozenset({"and", "or", "nor"})

_MODALS = _wordset("should must can could would will shall might may need")


def _is_participle(word: str) -> bool:
    return word.endswith("ed") and len(word) > 4


def _activate(words: list[str]) -> list[str]:
    """Turn one passive into active order: "should our client be generated from X" ->
    "should generated our client from X" (the verb moves before its object). Words are only
    reordered, never added or dropped, so the key-term multiset is unchanged."""
    for i, w in enumerate(words):
        if w != "be" or i + 1 >= len(words):
            continue
        if _is_participle(words[i + 1]):
            verb = words[i + 1 : i + 2]
        elif i + 2 < len(words) and _is_participle(words[i + 2]) and words[i + 1] not in STOP_WORDS:
            verb = words[i + 1 : i + 3]  # "be rate limited"
        else:
            continue
        modal = max((j for j in range(i) if words[j] in _MODALS), default=-1)
        if modal < 0 or modal == i - 1:
            continue
        return words[: modal + 1] + verb + words[modal + 1 : i] + words[i + 1 + len(verb) :]
    return words


def _is_filler_clause(words: list[str]) -> bool:
    return all(w in STOP_WORDS or w in FRAMING_WORDS or w in FILLER_WORDS for w in words)


def _canonical(word: str) -> str | None:
    """The form one surface word is compared in; None for a word that is not compared."""
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    word = SYNONYMS.get(word, word)
    if word in STOP_WORDS or word in FRAMING_WORDS:
        return None
    return _stem(word)


# ------------------------------------------------------------------------------------ key terms


@dataclass(frozen=True)
class KeyTerms:
    """What the guard compares, for one question."""

    normalized: str
    """The question after folding and filler removal, words joined by single spaces."""
    sequence: tuple[str, ...]
    """Key terms in question order."""

    @property
    def ordered(self) -> tuple[str, ...]:
        """The sequence without conjunctions, for the order check."""
        return tuple(t for t in self.sequence if t not in _CONJUNCTIONS)

    @property
    def bag(self) -> Counter[str]:
        """The key terms as a multiset."""
        return Counter(self.sequence)


@lru_cache(maxsize=4096)
def key_terms(question: str) -> KeyTerms:
    """Reduce a question to the key terms the guard compares (cached; pure)."""
    text = _fold(question)
    text = _GREETING_RE.sub(" ", text)
    text = _GENERIC_QUESTION_RE.sub(" question ", text)
    text = _phrase_sub(text)
    surface: list[list[str]] = []
    for clause in _CLAUSE_SPLIT_RE.split(text):
        words = _TOKEN_RE.findall(clause or "")
        if words and not _is_filler_clause(words):
            surface.append(words)
    if not surface:  # a question made only of filler words: compare all of it
        surface = [_TOKEN_RE.findall(text)]
    seq: list[str] = []
    for words in map(_activate, surface):
        pending_to = False
        for w in words:
            if w in _CONJUNCTIONS:
                seq.append(w)
            elif w == "to" and pending_to:
                pending_to = False
                seq.append(w)
            elif (canon := _canonical(w)) is not None:
                pending_to = pending_to or canon in _MOVEMENT_STEMS
                seq.append(canon)
    return KeyTerms(normalized=" ".join(w for ws in surface for w in ws), sequence=tuple(seq))


def normalize(question: str) -> str:
    """The question reduced for exact matching: folded, filler clauses dropped, words only."""
    return key_terms(question).normalized


def signature(question: str) -> str:
    """The sorted key-term multiset as one string: equal for every pair the guard can pass.

    Store it in an indexed column beside each run: the runs that may be *served* for a new
    question are exactly those with the same signature (then the hit check still checks order
    and similarity), so serving needs no vector scan.
    """
    return " ".join(sorted(key_terms(question).sequence))
