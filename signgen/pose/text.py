"""Spoken-language text -> glosses -> one keypoint track, offline.

The text goes through spoken-to-signed's own offline text-to-gloss
(`spoken_to_signed.text_to_gloss.simple`: simplemma tokens and lemmas, no network), so a
sentence becomes the same glosses here as in that pipeline. Each word is then looked up as
spoken-to-signed looks it up (the word, then the lemma's normalised forms from its
`gloss_candidates`) in a signgen `Lexicon`. What the lexicon lacks is fingerspelled only when
asked (`fingerspell_unknown`); with the fingerspelling lexicon itself every word is spelled,
since that is all it can do. `TextGlosses.summary()` says which words were found and which
spelled, as spoken-to-signed's coverage report does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .lexicon import BUILTIN, Lexicon
from .track import PoseTrack

FOUND, SPELLED = "lexicon", "fingerspelled"
MAX_TEXT_CHARS = 2000  # a paragraph; a longer text is a batch job, not one video


@dataclass(frozen=True)
class Token:
    """One word of the text and how it is signed."""

    word: str  # as spoken-to-signed's tokenizer gives it (lower case)
    gloss: str  # the lexicon gloss found, or the word to spell
    how: str  # FOUND or SPELLED


@dataclass(frozen=True)
class TextGlosses:
    """The glosses a text becomes, with where each came from (the coverage)."""

    text: str
    spoken_language: str
    signed_language: str
    lexicon: str
    tokens: tuple[Token, ...]

    @property
    def glosses(self) -> list[str]:
        return [t.gloss for t in self.tokens]

    @property
    def found(self) -> list[Token]:
        return [t for t in self.tokens if t.how == FOUND]

    @property
    def spelled(self) -> list[Token]:
        return [t for t in self.tokens if t.how == SPELLED]

    def summary(self) -> str:
        """One line: "glosses HALLO du; found in the lexicon 1/2: hallo -> HALLO; fingerspelled 1/2: dir"."""
        n = len(self.tokens)
        parts = [f"glosses {' '.join(self.glosses)}"]
        if self.found:
            parts.append(f"found in the lexicon {len(self.found)}/{n}: "
                         + ", ".join(t.word if t.word == t.gloss else f"{t.word} -> {t.gloss}" for t in self.found))
        if self.spelled:
            parts.append(f"fingerspelled {len(self.spelled)}/{n}: " + ", ".join(t.word for t in self.spelled))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"text": self.text, "spoken_language": self.spoken_language, "signed_language": self.signed_language,
                "lexicon": self.lexicon, "tokens": [t.__dict__ for t in self.tokens]}


def spoken_languages() -> list[str]:
    """Language codes the offline glosser lemmatises (simplemma's); others are split on spaces."""
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    return sorted(SUPPORTED_LANGUAGES)


def _words(text: str, spoken_language: str) -> list[tuple[str, str]]:
    """(word, lemma) pairs from spoken-to-signed's simple glosser; punctuation dropped."""
    from spoken_to_signed.text_to_gloss.simple import text_to_gloss

    pairs = [(item.word or "", item.gloss) for sentence in text_to_gloss(text, spoken_language) for item in sentence]
    return [(w, g) for w, g in pairs if any(c.isalnum() for c in w)]


def _find(lex: Lexicon, word: str, lemma: str, language: str) -> str | None:
    """The lexicon gloss for a word, tried in spoken-to-signed's order: the word, then the lemma's forms."""
    from spoken_to_signed.gloss_to_pose.lookup.lookup import gloss_candidates

    for candidate in [word, *gloss_candidates(lemma)]:
        if lex.has(candidate, language):
            e = lex.entry(candidate, language)
            return e.glosses or candidate
    return None


def text_to_glosses(
    text: str,
    spoken_language: str,
    lexicon: str | Lexicon = "fingerspelling",
    signed_language: str | None = None,
    *,
    fingerspell_unknown: bool = False,
) -> TextGlosses:
    """The glosses signing `text` (in `spoken_language`, e.g. "de") with `lexicon`.

    Words the lexicon lacks are an `InputError` naming them, unless `fingerspell_unknown`
    (or the lexicon is the fingerspelling one) spells them. `signed_language` may be left out
    when the lexicon has only one."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"the text has {len(text)} characters; at most {MAX_TEXT_CHARS} make one video")
    if not spoken_language or not spoken_language.strip():
        raise InputError("give the spoken language of the text (--language, e.g. de)")
    lex = lexicon if isinstance(lexicon, Lexicon) else Lexicon.open(lexicon)
    languages = lex.languages()
    if signed_language is None:
        if len(languages) != 1:
            raise InputError(f"give the signed language (--signed-language); the lexicon has {', '.join(languages)}",
                             lex.where)
        signed_language = languages[0]
    if signed_language not in languages:
        raise InputError(f"signed language {signed_language!r} is not in the lexicon (has: {', '.join(languages)})",
                         lex.where)
    words = _words(text, spoken_language.strip().lower())
    if not words:
        raise InputError(f"no words in the text {text!r}")
    spelling_only = lex.name in BUILTIN
    tokens, missing = [], []
    for word, lemma in words:
        gloss = None if spelling_only else _find(lex, word, lemma, signed_language)
        if gloss is not None:
            tokens.append(Token(word, gloss, FOUND))
        else:
            tokens.append(Token(word, word, SPELLED))
            missing.append(word)
    if missing and not (fingerspell_unknown or spelling_only):
        found = [t.word for t in tokens if t.how == FOUND]
        raise InputError(
            f"{len(missing)} of {len(tokens)} words are not in the {signed_language} lexicon: {', '.join(missing)}"
            f" (found: {', '.join(found) or 'none'}); --fingerspell-unknown (fingerspell_unknown=True) spells them",
            lex.where,
        )
    return TextGlosses(text, spoken_language, signed_language, lex.name, tuple(tokens))


def text_to_track(
    text: str,
    spoken_language: str,
    lexicon: str | Lexicon = "fingerspelling",
    signed_language: str | None = None,
    *,
    fingerspell_unknown: bool = False,
    fps: float = 25.0,
    width: int = 512,
    height: int = 512,
) -> PoseTrack:
    """One continuous canonical track signing `text` (see `text_to_glosses`), built by
    `glosses_to_track`; `meta["coverage"]` holds the `TextGlosses` (which words were found, which spelled)."""
    from .stitch import glosses_to_track

    lex = lexicon if isinstance(lexicon, Lexicon) else Lexicon.open(lexicon)
    found = text_to_glosses(text, spoken_language, lex, signed_language, fingerspell_unknown=fingerspell_unknown)
    track = glosses_to_track(found.glosses, lex, found.signed_language, fps=fps, width=width, height=height,
                             fingerspell_unknown=bool(found.spelled))
    track.meta["coverage"] = found
    return track
