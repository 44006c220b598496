"""Print a merchant the way a bank feed prints it: prefixes, store numbers, places, refs, noise.

Each of 19 countries has templates per payment channel (`vocab/descriptors.yaml`), modelled on
real feeds: US debit cards ("CHECKCARD 1104 STARBUCKS #1234 SEATTLE WA"), UK current accounts
("CARD PAYMENT TO TESCO STORES 3217 ON 12-03"), German and Austrian card and SEPA lines
("Kartenzahlung ... //Hamburg", "... DANKT 0527 K2 18.09. 17:20"), Dutch BEA/iDEAL, French CB/PRLV,
Spanish Bizum, Brazilian PIX and installments ("... 3/12"), Kenyan M-PESA ("Pay Bill to 888880 -
..."), Nigerian NIP, Indian UPI/NEFT, Singapore NETS/PayNow/GIRO, Canadian Interac, Australian and
New Zealand EFTPOS. Rendering is pure Python on a `random.Random`: it is the generator's hot loop.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

# Each country's templates per channel, processors and case mix: vocab/descriptors.yaml.
_TEMPLATE_FILE = "descriptors.yaml"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CHANNELS = ("card", "online", "ach", "deposit", "transfer", "atm", "fee", "check")
_EU_COUNTRIES = ("DE", "NL", "FR", "ES", "IE", "IT", "AT", "BE")
_REFUND = ("REFUND {d}", "{d} REFUND", "RETURN {d}", "{d} CREDIT VOUCHER", "REVERSAL {d}")
# Countries whose cities carry an area code after them ("AUSTIN TX", "TORONTO ON").
AREA_CODED: frozenset[str] = frozenset({"US", "CA", "AU"})
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_REF_CHARS = string.ascii_uppercase + string.digits
_TLDS = {
    "UK": "co.uk", "IE": "ie", "DE": "de", "AT": "at", "CH": "ch", "NL": "nl", "BE": "be",
    "FR": "fr", "ES": "es", "BR": "com.br", "CA": "ca", "ZA": "co.za", "NG": "com.ng",
    "KE": "co.ke", "IN": "in", "SG": "sg", "AU": "com.au", "NZ": "co.nz",
}  # fmt: skip
# Card acquirers often print the merchant's registered name: "HOMEBASE LTD 195", "EVN AG".
_LEGAL_FORM_RATE = 0.12


@dataclass(frozen=True)
class CountryStyle:
    """How one country's banks print: templates per channel, processor prefixes, case mix."""

    templates: dict[str, tuple[str, ...]]
    processors: tuple[str, ...]
    upper: float
    title: float


@functools.cache
def styles() -> dict[str, CountryStyle]:
    """Every country's printing style, read once from the packaged `descriptors.yaml`.

    Raises:
        ValueError: the file lacks a channel or the case mix for a country.
    """
    path = Path(str(resources.files("training.synthesis") / "vocab" / _TEMPLATE_FILE))
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    out = {}
    for country, spec in data.items():
        missing = [c for c in (*_CHANNELS, "case", "processors") if c not in spec]
        if missing:
            raise ValueError(f"{path.name}, country {country}: missing {missing}")
        upper, title = (float(v) for v in spec["case"])
        out[country] = CountryStyle(
            templates={c: tuple(spec[c]) for c in _CHANNELS},
            processors=tuple(spec["processors"]),
            upper=upper,
            title=title,
        )
    return out


@dataclass(slots=True)
class Printed:
    """What the bank knows about one transaction before printing it."""

    country: str
    channel: str
    name: str
    city: str
    year: int
    month: int
    day: int
    refund: bool = False
    chain: bool = True
    first_names: tuple[str, ...] = ("ALEX",)
    surnames: tuple[str, ...] = ("SMITH",)
    amount: float = 0.0
    legal_forms: tuple[str, ...] = ()


def ref(rng: random.Random, low: int = 6, high: int = 12) -> str:
    """An alphanumeric reference such as banks and processors print."""
    return "".join(rng.choices(_REF_CHARS, k=rng.randint(low, high)))


def digits(rng: random.Random, low: int = 3, high: int = 9) -> str:
    """A run of digits: store numbers, trace numbers."""
    return str(rng.randrange(10 ** (low - 1), 10 ** rng.randint(low, high)))


def _store_number(rng: random.Random, name: str) -> str:
    style = rng.random()
    if style < 0.35:
        return name
    if style < 0.65:
        return f"{name} #{rng.randint(1, 9999)}"
    if style < 0.85:
        return f"{name} {rng.randint(1, 99999):05d}"
    return f"{name} {rng.choice('FTS')}{rng.randint(100, 99999)}"


def _slug(p: Printed) -> str:
    return "".join(ch for ch in p.name.lower() if ch.isalnum())[:14] or "merchant"


def _phone(rng: random.Random) -> str:
    area = rng.choice(("800", "866", "888", "877", "844"))
    return f"{area}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def _url(rng: random.Random, p: Printed) -> str:
    # Shops online use the country's domain as often as .com ("BEST4FRAMES.CO.UK").
    domain = f"{_slug(p)}.{rng.choice(('com', _TLDS.get(p.country, 'com')))}"
    return rng.choice((domain, f"WWW.{domain}".upper()))


def _mobile(rng: random.Random, country: str) -> str:
    # Mobile-money and instant-payment feeds print the counterparty's number (masked or not).
    prefix = {"KE": "2547", "NG": "2348", "IN": "919", "BR": "5511"}.get(country, "07")
    number = f"{prefix}{rng.randint(0, 99_999_999):08d}"
    return number[:-5] + "*****" if rng.random() < 0.3 else number


# How to make each template field; only the fields a template names are made (hot loop).
_FIELDS: dict[str, Callable[[random.Random, Printed], str]] = {
    "city": lambda rng, p: p.city,
    "state": lambda rng, p: p.city.rsplit(" ", 1)[-1] if p.country in AREA_CODED else p.country,
    "cc": lambda rng, p: rng.choice(_EU_COUNTRIES),
    "mmdd": lambda rng, p: f"{p.month:02d}{p.day:02d}",
    "md": lambda rng, p: f"{p.month:02d}/{p.day:02d}",
    "dm": lambda rng, p: f"{p.day:02d}-{p.month:02d}",
    "dmy": lambda rng, p: f"{p.day:02d}/{p.month:02d}/{p.year}",
    "iso": lambda rng, p: f"{p.year}-{p.month:02d}-{p.day:02d}",
    "ddmon": lambda rng, p: f"{p.day:02d}{_MONTHS[p.month - 1]}",
    "time": lambda rng, p: f"{rng.randint(6, 23):02d}:{rng.randint(0, 59):02d}",
    "card": lambda rng, p: f"{rng.randint(0, 9999):04d}",
    "ref": lambda rng, p: ref(rng),
    "person": lambda rng, p: f"{rng.choice(p.first_names)} {rng.choice(p.surnames)}",
    "n": lambda rng, p: digits(rng),
    "phone": lambda rng, p: _phone(rng),
    "url": lambda rng, p: _url(rng, p),
    "dmdot": lambda rng, p: f"{p.day:02d}.{p.month:02d}.",
    "dmyy": lambda rng, p: f"{p.day:02d}.{p.month:02d}.{p.year % 100:02d}",
    "mobile": lambda rng, p: _mobile(rng, p.country),
    "amt": lambda rng, p: f"{abs(p.amount):.2f}".replace(".", ","),
    "k": lambda rng, p: rng.choice(("K1", "K2")),
    "plz": lambda rng, p: str(rng.randint(1000, 9999)),
    "vpa": lambda rng, p: f"{_slug(p)}@{rng.choice(('okicici', 'ybl', 'paytm', 'okaxis'))}",
}


@functools.cache
def _template_fields(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f and f != "name")


def _format(rng: random.Random, template: str, name: str, p: Printed) -> str:
    values = {f: _FIELDS[f](rng, p) for f in _template_fields(template)}
    return template.format(name=name, **values)


def _case(rng: random.Random, style: CountryStyle, text: str) -> str:
    roll = rng.random()
    if roll < style.upper:
        return text.upper()
    if roll < style.upper + style.title:
        return text.title()
    return text


def render(rng: random.Random, printed: Printed) -> str:
    """Print one transaction's descriptor.

    Args:
        rng: the generator's random source (deterministic for a seed).
        printed: country, channel, merchant name as the bank knows it, place, date, amount,
            and the country's legal forms (LTD, GMBH) that card lines sometimes add.

    Returns:
        The descriptor, with the country's prefixes, references and noise, 3 to 120 characters.
    """
    style = styles()[printed.country]
    name = printed.name
    card = printed.channel in ("card", "online")
    if card and printed.legal_forms and rng.random() < _LEGAL_FORM_RATE:
        name = f"{name} {rng.choice(printed.legal_forms)}"
    if printed.channel == "card" and printed.chain:
        name = _store_number(rng, name)
    elif printed.channel == "card" and rng.random() < 0.4:
        name = rng.choice(style.processors) + name
    if card and rng.random() < 0.25:
        # Card networks carry the merchant in a fixed-width field (22-25 characters).
        name = name[: rng.randint(22, 25)].rstrip()
    text = _format(rng, rng.choice(style.templates[printed.channel]), name, printed)
    if printed.refund:
        text = rng.choice(_REFUND).format(d=text)
    text = _case(rng, style, " ".join(text.split()))
    if rng.random() < 0.12:
        # Some feeds cut the whole line short (22-40 characters).
        text = text[: rng.randint(22, 40)].rstrip()
    return text[:120]
