"""The merchant knowledge base: real brands and local-business words from OpenStreetMap's indexes.

`data/merchant_kb/` is derived from the name-suggestion-index and id-tagging-schema by
`scripts/derive_merchant_kb.py`; this module is the one reader of it. The KB stores ISO 3166-1
codes (GB for the United Kingdom) while the project writes "UK": `iso_country` translates.
Every file is checked at load and errors name the file, the line and the field.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from categorizer.errors import InputError
from categorizer.taxonomy import default_taxonomy

KB_COUNTRIES: tuple[str, ...] = (
    "US", "CA", "BR", "UK", "IE", "DE", "AT", "CH", "NL", "BE",
    "FR", "ES", "ZA", "NG", "KE", "IN", "SG", "AU", "NZ",
)  # fmt: skip
# The languages local businesses are named in, most common first.
COUNTRY_LANGUAGES: dict[str, tuple[str, ...]] = {
    "US": ("en",), "CA": ("en", "fr"), "BR": ("pt-BR",), "UK": ("en",), "IE": ("en",),
    "DE": ("de",), "AT": ("de",), "CH": ("de", "fr"), "NL": ("nl",), "BE": ("nl", "fr"),
    "FR": ("fr",), "ES": ("es",), "ZA": ("en",), "NG": ("en",), "KE": ("en",),
    "IN": ("en",), "SG": ("en",), "AU": ("en",), "NZ": ("en",),
}  # fmt: skip
LANGUAGES: frozenset[str] = frozenset({"en", "de", "fr", "nl", "es", "pt-BR", "pt"})
KINDS: tuple[str, ...] = ("name", "alias", "term")
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "merchant_kb"
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COUNTRIES = re.compile(r"^\*$|^[A-Z]{2}(\|[A-Z]{2})*$")
_WIKIDATA = re.compile(r"^Q[0-9]+$")
_VERSION = re.compile(r"^# Merchant knowledge base \((\S+)\)$")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that name no merchant by themselves: a brand called one of them ("National", "Save",
# "House", "George") is only matched when the descriptor says nothing else. The KB's own category
# words (bakery, Apotheke, boulangerie…) are added at load.
COMMON_WORDS = _words("""
a aaron abby about academy access action active adagio adam advance afters alex alfred alice all
allen allied alpha alpine amber america american amigo amigos amy and andrew anna apex archive aroma
art aussie auto avenue away baker bakker bank banner banter bargain barista barry base basic bay
beacon beauty becker believe bell ben bench benefit bernard best better big bill bills birds blacks
blink blue boss bounce boxer bravo breeze bright british brown browns budget bumpers burton buy cafe
canopy capital caravan care carpet carroll carter casa cash castle center central centre century
champion change charles charlie cheers chester chime church city claire clark clarke classic clean
club coast coco code coffee comet comfort community company continental cook cooper corner country
county credit crisis crown crunch crust curves cut daily daniel daniels dash david davies day deal
delta design diamond direct discount dlamini dollar dome double dream dreams dubois duchess dune
durand dusk easy eclipse eco economy eden edition edward edwards element elite emma empire energy
equinox ergo euro europe european evans evergreen evolve exact expert express extra fair family farm
farmers fashion fast first fischer five fix flash fleming flyers focus foley food for fortune forum
four frank fred freedom fresh friends frontier fuller fun future galaxy game garcia garden gate
general genesis george giraffe global goals gold golden good goody grace grand grange great green
greet grid grind group guide gull gut guthrie habit hall hampton happy harbour harmony harold harris
harry harvey haus health heart hell henry heritage hero high highs hill holiday home honey hope hot
house hudson hughes huis hunters icing idea ideal image imagine impact imperial independent indigo
international island islands jack jacks jackson james jane jansen janssen jet jockey joe john
johnson jones joy julia just justice karma kate kelly key khan king kingdom kings klass kumar land
laura leaders lees lefebvre legacy legit lewis liberty lids life light lily lime line link little
live local locke loja london loop lopez love loves lucky lucy magic magnet main maison maple marche
mark market markt martin martinez mary master matt max mega mercado metro meyer michael middle
millers mind mini mission mitchell mobile modern money montana moore more morgan moss motto mountain
mueller muller murphy mwangi naidoo nathan national natural nature neat needs network neue new next
nkosi normal north notes nova novo oak oasis ocean ochieng office okafor oliveira oliver omega one
online only open optimum orange origin outfit pace pacific palace pals park parkers partner patel
paul peak people peter petit pick pilot pink pioneer planet plaza plus point points popular power
premier premium pressed prime pro public pumpkin pure purple quality queen quick quickie quickly
rage rainbow rally range rapid real rebel red refuel regal regional relay rent replay restore rise
rivers robert roberts robin robinson rock rocket rodriguez roman roots rose roses royal ruby rumble
sam santos sarah save saving savings schmidt schneider scope scores second select sense service
services seven shake shakes sharma shelter shop sierra signature silva silver simon simple singh
smart smile smith smiths snooze social solar solo solutions sonder sophie south souza spark spencer
sports spring sprint square stadt stags standard star state station stone stop street stripes style
subdued summit sun sunny sunrise sunset super supreme sure swift taylor team tech tempo the thomas
thompson three tide tiger time today tom top tops total tower town trade trek trend trends triangle
tribe triumph trust turner two ultra unbound union unique united universal urban valley value vans
victoria village vision visser vital wagner walker ward wards wash wave waves way weber welcome well
west white wild william williams wilson windsor winkel winners wise wood world wright yolk young
yours zero zest zone
""")
# Words of bank-feed boilerplate: around a weak name they do not count as "something else".
_NOISE = _words("""
pos purchase purchases card cards debit credit payment payments pymt pmt paid pay visa mastercard
maestro amex contactless ref reference online web www com net org ltd limited plc inc llc corp gmbh
bv nv sarl sas spa srl pty store stores branch retail group sq tst sumup zettle izettle yoco square
direct recurring cashback kartenzahlung karte lastschrift sepa basislastschrift folgelastschrift
ueberweisung uberweisung gutschrift zahlung einkauf girocard paiement carte prlv prelevement vir
virement achat facture betaling pinbetaling bea ideal incasso overboeking pago compra tarjeta recibo
transferencia cartao debito pagamento pix upi neft imps eftpos eft
""")
# Words that announce a payee ("TRANSFER TO GEORGE SMITH"): never noise around a weak name.
_PAYEE = _words("to from transfer tfr trf xfer for")
# Filler words a name may carry ("The Range", "At Home", "La Boucherie"): not distinctive.
_FILLER = _words("the of at and my go be de la le les du des el los las der die das het")
_UMLAUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ı": "i", "þ": "th"})
_APOSTROPHE = re.compile(r"['’`´ʼ]")
_POSSESSIVE = re.compile(r"(?<=\w)['’`´ʼ]s\b")
_WORD = re.compile(r"[^\W_]+")
_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff\u2000-\u206f\u20a0-\u20cf°]")
_LONGEST = 6  # tokens in the longest name indexed
_STORE_NUMBER = re.compile(r"^([^\W\d_]{3,})(\d{2,})$")  # TESCO3217 -> TESCO 3217


class MerchantKBError(InputError):
    """A merchant-KB file is malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class Brand:
    """A brand as NSI lists it under one OSM path, with the category that path maps to."""

    id: str
    name: str
    aliases: tuple[str, ...]
    osm: str
    countries: frozenset[str] | None  # ISO codes; None means worldwide
    wikidata: str | None
    detailed: str | None  # None when the path is ambiguous (a bank, a mobile operator…)
    priority: int = 0

    def trades_in(self, country: str) -> bool:
        """Whether the brand trades in a country (project or ISO code)."""
        return self.countries is None or iso_country(country) in self.countries


@dataclass(frozen=True)
class CategoryTerm:
    """A preset's name, alias or search term in one language, e.g. shop/butcher de "Metzgerei"."""

    osm: str
    detailed: str
    lang: str
    kind: str
    text: str


def iso_country(country: str) -> str:
    """The KB's ISO 3166-1 code for a project country code ("UK" -> "GB")."""
    code = country.strip().upper()
    return "GB" if code == "UK" else code


def normalize(text: str) -> list[str]:
    """Tokens for matching: case, accents, `&`/AND, apostrophes and glued store numbers folded."""
    text = text.casefold().translate(_FOLD)
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    tokens: list[str] = []
    for token in _WORD.findall(_APOSTROPHE.sub("", text.replace("&", " and "))):
        if token == "s" and tokens and len(tokens[-1]) > 2 and tokens[-1][-1] not in "sd":
            tokens[-1] += "s"  # "SAINSBURY S" as some banks print "SAINSBURY'S"
        elif found := _STORE_NUMBER.match(token):
            tokens.extend(found.groups())
        else:
            tokens.append(token)
    return tokens


def _variants(text: str) -> dict[str, list[str]]:
    """Index keys of a name: the name, without its possessive ("Sainsbury" for "Sainsbury's"),
    with German umlauts spelt out ("ALDI SUED"), glued ("BURGERKING") and without "and"."""
    forms = [normalize(text)]
    if "s" in text and _POSSESSIVE.search(text):
        forms.append(normalize(_POSSESSIVE.sub("", text)))
    if not text.isascii() and text != (spelt := text.translate(_UMLAUT)):
        forms.append(normalize(spelt))
    for tokens in forms[:]:
        if len(tokens) > 1:
            if len(glued := "".join(tokens)) >= 6:
                forms.append([glued])
            if "and" in tokens[1:-1]:
                forms.append([t for t in tokens if t != "and"])
    # A number on a statement ("76", "3") is never a name.
    return {" ".join(t): t for t in forms if t and not "".join(t).isdigit()}


@functools.lru_cache(maxsize=4)
def _generic_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # NSI's generic-name patterns as one regular expression, compiled once per pattern list.
    return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.IGNORECASE)


class _Entry(NamedTuple):
    brand: int  # index into the brands
    weak: bool  # not distinctive: matched only when the rest of the descriptor is noise
    text: str  # the name or alias as the KB writes it
    is_name: bool  # the brand's own name, not an alias


class _Matcher:
    """An index from normalised token n-grams to the brands whose names they are."""

    def __init__(self, brands: tuple[Brand, ...], generic: Iterable[str], terms: Iterable[str]):
        self.brands = brands
        self._generic_patterns = tuple(generic)
        self._generic_cache: dict[str, bool] = {}
        phrases = {" ".join(normalize(t)) for t in terms}
        self.words = COMMON_WORDS | {p for p in phrases if " " not in p}
        self.phrases = phrases
        self.index: dict[str, list[_Entry]] = {}
        for i, brand in enumerate(brands):
            keys: dict[str, tuple[list[str], str]] = {}
            for text in (brand.name, *brand.aliases):
                if _NON_LATIN.search(text):
                    continue  # statements in the KB's countries are printed in Latin script
                for key, tokens in _variants(text).items():
                    keys.setdefault(key, (tokens, text))
            for key, (tokens, text) in keys.items():
                if len(tokens) <= _LONGEST:  # longer names never fit a 22-40 character descriptor
                    entry = _Entry(i, self._weak(tokens, key), text, text == brand.name)
                    self.index.setdefault(key, []).append(entry)

    def _weak(self, tokens: list[str], key: str) -> bool:
        # Distinctive: one word of 4+ letters that is not a common word, or several words that
        # are more than filler around one weak word and not a category phrase ("Post Office").
        core = [t for t in tokens if t not in _FILLER] if len(tokens) > 1 else tokens
        if len(core) > 1:
            return key in self.phrases
        return not core or len(core[0]) < 4 or core[0] in self.words

    def is_generic(self, text: str) -> bool:
        """Whether a name matches one of NSI's generic-name patterns (cached per name)."""
        found = self._generic_cache.get(text)
        if found is None:
            found = _generic_regex(self._generic_patterns).match(text.casefold()) is not None
            self._generic_cache[text] = found
        return found

    def _keys(self, tokens: list[str]) -> Iterator[tuple[int, int, str]]:
        # (start, size, key) of every n-gram; two tokens one of which is short are also tried
        # glued, as banks print "CO OP" for "Co-op" and "E ON" for "E.ON".
        for start in range(len(tokens)):
            for size in range(min(_LONGEST, len(tokens) - start), 0, -1):
                yield start, size, " ".join(tokens[start : start + size])
            pair = tokens[start : start + 2]
            if len(pair) == 2 and min(len(pair[0]), len(pair[1])) <= 3:
                yield start, 2, pair[0] + pair[1]

    def match(self, descriptor: str, country: str | None) -> Brand | None:
        tokens = normalize(descriptor)
        noise = [
            t not in _PAYEE and (t in _NOISE or len(t) < 3 or any(c.isdigit() for c in t))
            for t in tokens
        ]
        best: tuple[tuple[int, int, bool, int, bool], Brand] | None = None
        for start, size, key in self._keys(tokens):
            for entry in self.index.get(key, ()):
                brand = self.brands[entry.brand]
                if country is not None and not brand.trades_in(country):
                    continue
                weak = entry.weak or self.is_generic(entry.text)
                if weak and not all(noise[:start] + noise[start + size :]):
                    continue  # a weak name counts only when everything else is noise
                # Longest name, then the brand's own name over an alias ("Tesco" the supermarket
                # over "Tesco Bank", whose ATMs NSI also calls "Tesco"), then the path priority.
                rank = (size, len(key), entry.is_name, brand.priority, brand.detailed is not None)
                if best is None or rank > best[0] or (rank == best[0] and brand.id < best[1].id):
                    best = (rank, brand)
        return None if best is None else best[1]


@dataclass(frozen=True)
class MerchantKB:
    """The loaded knowledge base."""

    brands: tuple[Brand, ...]
    terms: tuple[CategoryTerm, ...]
    categories: dict[str, str | None]  # OSM path -> detailed category (None: ambiguous)
    generic_words: tuple[str, ...]
    version: str
    root: Path = field(compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def _matcher(self) -> _Matcher:
        # Built on first use (~0.3 s): the generator needs only brands_in and terms_for.
        if "matcher" not in self._cache:
            # Preset names and aliases ("Bakery", "Metzgerei", "Post Office") are category
            # words; search terms are not (they include brand names such as KFC and Boots).
            names = (t.text for t in self.terms if t.kind != "term")
            self._cache["matcher"] = _Matcher(self.brands, self.generic_words, names)
        return self._cache["matcher"]

    def brands_in(self, country: str) -> list[Brand]:
        """Mapped brands trading in a country (worldwide ones included).

        A brand listed under several paths (same name and Wikidata id) appears once, with its
        highest-priority path; it is left out when that path is ambiguous.

        Args:
            country: a project ("UK") or ISO ("GB") country code.
        """
        code = iso_country(country)
        cached = f"brands_in:{code}"
        if cached not in self._cache:
            best: dict[tuple[str, str | None], Brand] = {}
            for brand in self.brands:
                if brand.trades_in(code):
                    key = (brand.name.casefold(), brand.wikidata)
                    if key not in best or brand.priority > best[key].priority:
                        best[key] = brand
            self._cache[cached] = [b for b in best.values() if b.detailed is not None]
        return list(self._cache[cached])

    def terms_for(self, detailed: str, lang: str, kinds: Iterable[str] = KINDS) -> list[str]:
        """Names, aliases and terms of the presets mapped to a category, in one language.

        pt-BR includes the European Portuguese entries of presets pt-BR does not translate.
        """
        langs = {lang, "pt"} if lang == "pt-BR" else {lang}
        wanted = set(kinds)
        seen: dict[str, None] = {}
        for term in self.terms:
            if term.detailed == detailed and term.lang in langs and term.kind in wanted:
                seen.setdefault(term.text, None)
        return list(seen)

    def match(self, descriptor: str, country: str | None = None) -> Brand | None:
        """The brand a bank descriptor names, or None; precise rather than greedy.

        The longest whole-word name wins, then the higher-priority path. A weak name (a single
        word under 4 letters, a common word such as "National" or "George", an NSI generic name)
        matches only when the rest of the descriptor is numbers and payment boilerplate.

        Args:
            descriptor: the transaction text, e.g. "CARD PAYMENT TO TESCO STORES 3217".
            country: keep only brands trading there (project or ISO code); None: anywhere.
        """
        return self._matcher.match(descriptor, None if country is None else iso_country(country))


def _fail(path: Path, where: str, message: str) -> MerchantKBError:
    return MerchantKBError(f"{path.name}, {where}: {message}")


def _load_categories(path: Path) -> tuple[dict[str, str | None], dict[str, int]]:
    text = path.read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_YamlLoader) or {}
    found = ((n, _KEY.match(line)) for n, line in enumerate(text.splitlines(), start=1))
    lines = {m.group(1): n for n, m in found if m}
    detailed_ids = set(default_taxonomy().detailed_labels)
    categories, priorities = {}, {}
    for osm, spec in data.items():
        where = f"line {lines.get(osm, '?')}, path {osm!r}"
        if not isinstance(spec, dict) or set(spec) - {"detailed", "priority", "reason"}:
            raise _fail(path, where, "expected {detailed, priority, reason}")
        detailed = spec.get("detailed")
        if detailed is not None and detailed not in detailed_ids:
            raise _fail(path, where, f"field 'detailed': {detailed!r} is not a detailed category")
        if detailed is None and not spec.get("reason"):
            raise _fail(path, where, "field 'reason': required when 'detailed' is null")
        if not isinstance(spec.get("priority"), int):
            raise _fail(path, where, "field 'priority': expected an integer")
        categories[osm], priorities[osm] = detailed, spec["priority"]
    return categories, priorities


_KEY = re.compile(r"^([^\s#][^:]*):")
_BRAND_COLUMNS = ["id", "name", "aliases", "osm", "countries", "wikidata"]
_MAPPING = "osm_categories.yaml"


def _rows(path: Path, columns: list[str]) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != columns:
            raise _fail(path, "line 1", f"expected columns {columns}, got {header}")
        for line, row in enumerate(reader, start=2):
            if len(row) != len(columns):
                raise _fail(path, f"line {line}", f"expected {len(columns)} fields, got {len(row)}")
            yield line, row


def _load_brands(
    path: Path, categories: dict[str, str | None], priorities: dict[str, int]
) -> tuple[Brand, ...]:
    brands = []
    places: dict[str, frozenset[str] | None] = {"*": None}  # most rows share a few country lists
    for line, (id_, name, aliases, osm, countries, wikidata) in _rows(path, _BRAND_COLUMNS):
        if not id_ or not name:
            raise _fail(path, f"line {line}", "columns 'id' and 'name' must not be empty")
        if osm not in categories:
            raise _fail(path, f"line {line}", f"column 'osm': {osm!r} is not in {_MAPPING}")
        if countries not in places:
            if not _COUNTRIES.match(countries):
                message = f"column 'countries': expected * or |-separated ISO codes: {countries!r}"
                raise _fail(path, f"line {line}", message)
            places[countries] = frozenset(countries.split("|"))
        if wikidata and not _WIKIDATA.match(wikidata):
            raise _fail(
                path, f"line {line}", f"column 'wikidata': expected Q<digits>: {wikidata!r}"
            )
        aliases_ = tuple(a for a in aliases.split("|") if a) if aliases else ()
        brand = Brand(
            id_, name, aliases_, osm, places[countries], wikidata or None, categories[osm],
            priorities[osm],
        )  # fmt: skip
        brands.append(brand)
    return tuple(brands)


def _resolve(osm: str, categories: dict[str, str | None]) -> str | None:
    parts = osm.split("/")
    for n in range(len(parts), 1, -1):
        if "/".join(parts[:n]) in categories:
            return categories["/".join(parts[:n])]
    return None


def _parse_terms(path: Path, categories: dict[str, str | None]) -> list[CategoryTerm]:
    terms = []
    for line, (osm, lang, kind, text) in _rows(path, ["osm", "lang", "kind", "text"]):
        detailed = _resolve(osm, categories)
        if detailed is None:
            raise _fail(path, f"line {line}", f"column 'osm': {osm!r} maps to no category")
        if lang not in LANGUAGES:
            raise _fail(path, f"line {line}", f"column 'lang': expected one of {sorted(LANGUAGES)}")
        if kind not in KINDS or not text.strip():
            raise _fail(path, f"line {line}", f"column 'kind' in {KINDS} and 'text' are required")
        terms.append(CategoryTerm(osm, detailed, lang, kind, text))
    return terms


def _load_generic(path: Path) -> tuple[str, ...]:
    patterns = tuple(path.read_text(encoding="utf-8").splitlines())
    try:
        _generic_regex(patterns)
    except re.error:
        for line, pattern in enumerate(patterns, start=1):  # find the culprit for the message
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _fail(path, f"line {line}", f"not a regular expression: {exc}") from None
    return patterns


def load_merchant_kb(root: str | Path | None = None) -> MerchantKB:
    """Load and check the merchant KB.

    Args:
        root: the KB folder; defaults to the repository's `data/merchant_kb`.

    Returns:
        The knowledge base (its descriptor index is built on the first `match`).

    Raises:
        MerchantKBError: the folder or a file is missing, or a file is malformed.
    """
    base = Path(root) if root is not None else DEFAULT_ROOT
    names = (_MAPPING, "brands.csv", "category_terms.csv", "generic_words.txt", "README.md")
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise MerchantKBError(
            f"{base}: not a merchant KB folder (missing {', '.join(missing)}); "
            "run `python scripts/derive_merchant_kb.py`"
        )
    categories, priorities = _load_categories(base / _MAPPING)
    brands = _load_brands(base / "brands.csv", categories, priorities)
    terms = tuple(_parse_terms(base / "category_terms.csv", categories))
    first = (base / "README.md").read_text(encoding="utf-8").partition("\n")[0]
    version = _VERSION.match(first)
    if version is None:
        raise _fail(base / "README.md", "line 1", "expected '# Merchant knowledge base (VERSION)'")
    generic = _load_generic(base / "generic_words.txt")
    return MerchantKB(brands, terms, categories, generic, version.group(1), base)


@functools.lru_cache(maxsize=1)
def default_merchant_kb() -> MerchantKB:
    """The repository's merchant KB (loaded once per process)."""
    return load_merchant_kb()
