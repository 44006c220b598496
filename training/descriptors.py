"""Print a merchant the way a bank feed prints it: prefixes, store numbers, places, refs, noise.

Each region has templates per payment channel, modelled on real feeds (see
`shared/reference/real-descriptors.csv`): US debit cards ("CHECKCARD 1104 STARBUCKS #1234 SEATTLE
WA"), UK current accounts ("CARD PAYMENT TO TESCO STORES 3217 ON 12-03"), German SEPA
("Kartenzahlung REWE SAGT DANKE. 41400673//Hamburg"), South African ("POS PURCHASE ... ZA"),
Indian UPI/NEFT ("UPI/412345678901/SWIGGY/swiggy@icici"), Australian ("VISA PURCHASE ... AUS Card
xx1234"). Rendering is pure Python on a `random.Random`: it is the generator's hot loop.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

# {name}: the merchant as printed (with store number); {city}; dates {mmdd} {md} {dm} {dmy} {iso}
# {ddmon}; {card} last four digits; {ref} alphanumeric reference; {n} digits; {time}.
_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "US": {
        "card": (
            "{name} {city}",
            "{name} {city}",
            "POS PURCHASE {name} {city}",
            "POS DEBIT {name} {city}",
            "CHECKCARD {mmdd} {name} {city} {n}",
            "DEBIT CARD PURCHASE - {name} {city}",
            "PURCHASE AUTHORIZED ON {md} {name} {city} S{n} CARD {card}",
            "{name} {city} {md}",
            "VISA DDA PUR {n} {name} {city}",
            "{name}",
        ),
        "online": (
            "{name}",
            "{name} {phone} {state}",
            "{name} {url} {state}",
            "PURCHASE AUTHORIZED ON {md} {name} {phone} {state} S{n} CARD {card}",
            "RECURRING PAYMENT {name} {state}",
            "PAYPAL *{name} {phone} {state}",
        ),
        "ach": (
            "{name} DES:PAYMENT ID:{ref} INDN:{person} CO ID:{n} WEB",
            "ACH DEBIT {name} {ref}",
            "{name} AUTOPAY {mmdd}",
            "ELECTRONIC WITHDRAWAL {name}",
            "{name} ONLINE PMT {ref}",
            "ORIG CO NAME:{name} CO ENTRY DESCR:BILL PAY SEC:WEB IND ID:{ref}",
        ),
        "deposit": (
            "DIRECT DEP {name}",
            "{name} DES:DIRECT DEP ID:{ref} INDN:{person} CO ID:{n} PPD",
            "ACH CREDIT {name} {ref}",
            "DEPOSIT {name}",
            "{name}",
        ),
        "transfer": ("{name}", "{name} {ref}", "ONLINE TRANSFER {name} REF #{ref}"),
        "atm": ("ATM WITHDRAWAL {n} {city}", "{name} ATM WITHDRAW {mmdd} {city}", "ATM {name} {n}"),
        "fee": ("{name}", "{name} {md}", "{name} {mmdd}"),
        "check": ("CHECK #{n}", "CHECK {n} {name}"),
    },
    "UK": {
        "card": (
            "{name} {city} GB",
            "CARD PAYMENT TO {name} ON {dm}",
            "{name} {city}",
            "CONTACTLESS {name} {city} GB",
            "{name} CD {card}",
            "POS {card} {dmy} {name}",
        ),
        "online": ("{name} {url} GB", "CARD PAYMENT TO {name} ON {dm}", "{name} {phone} GB"),
        "ach": ("DIRECT DEBIT {name} {ref}", "DD {name}", "{name} DDR", "SO {name} {ref}"),
        "deposit": ("BGC {name}", "FASTER PAYMENTS RECEIPT {name} REF {ref}", "{name} BGC"),
        "transfer": ("{name}", "FASTER PAYMENT {name} REF {ref}", "FPO {name} {ref}"),
        "atm": (
            "CASH {name} {dm} @ {time}",
            "CASH WITHDRAWAL {name} {city}",
            "LNK {city} CD {card}",
        ),
        "fee": ("{name}", "{name} {dm}"),
        "check": ("CHQ {n}",),
    },
    "EU": {
        "card": (
            "Kartenzahlung {name} {n}//{city} {iso}T{time}",
            "BEA NR:{ref} {dmy} {name} {city}",
            "CB {name} {dm} {city}",
            "COMPRA TARJ. {name} {city}",
            "{name} {city} {card}",
            "POS{ddmon} {name}",
            "{name} ({city}, {cc})",
        ),
        "online": (
            "{name} {url}",
            "iDEAL {name} {ref}",
            "CB {name} {dm} {url}",
            "PAYPAL *{name} {ref}",
        ),
        "ach": (
            "SEPA-Lastschrift {name} EREF: {ref} MREF: {n}",
            "PRLV SEPA {name} {ref}",
            "RECIBO {name} {ref}",
            "Incasso {name} {ref}",
            "DD {name} {ref}",
        ),
        "deposit": ("Gutschrift {name} {ref}", "VIR SEPA RECU {name}", "SEPA Overboeking {name}"),
        "transfer": ("{name}", "SEPA Überweisung {name} {ref}", "VIR SEPA {name} {ref}"),
        "atm": (
            "Bargeldauszahlung {name} {city}",
            "GELDAUTOMAAT {city} {dmy}",
            "RETRAIT DAB {city}",
        ),
        "fee": ("{name}", "{name} {dmy}"),
        "check": ("CHEQUE {n}",),
    },
    "ZA": {
        "card": (
            "POS PURCHASE {name} {city} ZA {card}",
            "CARD PURCHASE {name} {city}",
            "{name} {city} ZA",
            "POS LOCAL {name} {dm}",
        ),
        "online": ("{name} {url} ZA", "ONLINE PURCHASE {name} {card}"),
        "ach": ("DEBIT ORDER {name} {ref}", "{name} DEBIT ORDER {n}", "ACB DEBIT {name} {ref}"),
        "deposit": ("ACB CREDIT {name}", "MAGTAPE CREDIT {name} {ref}", "{name} SALARY"),
        "transfer": ("{name}", "IB PAYMENT TO {name}", "FNB APP PAYMENT TO {name} {ref}"),
        "atm": ("CASH WITHDRAWAL {name} {city}", "ATM CASH {n} {city}"),
        "fee": ("{name}", "#{name}"),
        "check": ("CHEQUE {n}",),
    },
    "IN": {
        "card": ("POS {card} {name} {city}", "POS/{name}/{city}/{dmy}", "{name} {city} IN"),
        "online": (
            "UPI/{n}/{name}/{vpa}/Payment",
            "UPI-{name}-{vpa}-{ref}",
            "ECOM {name} {ref}",
            "POS {card} {name} {url}",
        ),
        "ach": ("ACH D- {name}-{ref}", "NACH DR {name} {ref}", "BIL/{name}/{ref}"),
        "deposit": ("NEFT-{ref}-{name}", "SAL CREDIT {name}", "IMPS/{n}/{name}", "{name}"),
        "transfer": ("{name}", "IMPS/{n}/{name}", "UPI/{n}/{name}/{vpa}/Transfer"),
        "atm": ("ATW-{card}-{name}-{city}", "NWD-{card}-{n}-{city}"),
        "fee": ("{name}", "{name} {dmy}"),
        "check": ("CHQ DEP {n}",),
    },
    "AU": {
        "card": (
            "VISA PURCHASE {name} {city}",
            "EFTPOS PURCHASE {name} {city}",
            "{name} {city} AUS Card xx{card} Value Date: {dmy}",
            "{name} {city} AU",
        ),
        "online": ("{name} {url} AUS Card xx{card}", "VISA PURCHASE {name} {url}"),
        "ach": ("DIRECT DEBIT {ref} {name}", "BPAY {name} {ref}", "{name} {ref}"),
        "deposit": ("SALARY {name}", "DIRECT CREDIT {ref} {name}", "{name}"),
        "transfer": ("{name}", "OSKO PAYMENT TO {name} {ref}", "TRANSFER TO {name} NETBANK"),
        "atm": ("ATM WITHDRAWAL {name} {city}", "WDL ATM {name} {city}"),
        "fee": ("{name}", "{name} {dmy}"),
        "check": ("CHQ {n}",),
    },
}
# Card processors of small merchants print themselves in front of the merchant's name.
_PROCESSORS = {
    "US": ("SQ *", "TST* ", "SQ *", "CLV*", "SP "),
    "UK": ("SQ *", "SUMUP *", "ZETTLE_*", "SQ *"),
    "EU": ("SUMUP *", "ZETTLE_*", "SQ *", "MOLLIE*"),
    "ZA": ("YOCO *", "IKH*", "SNAPSCAN*"),
    "IN": ("PAYTM*", "RAZ*", "PINELABS*"),
    "AU": ("SQ *", "TYRO*", "SQ *", "ZLR*"),
}
_EU_COUNTRIES = ("DE", "NL", "FR", "ES", "IE", "IT")
_REFUND = ("REFUND {d}", "{d} REFUND", "RETURN {d}", "{d} CREDIT VOUCHER", "REVERSAL {d}")
# Share of rows printed upper-case / title-case / as the alias is written, per region.
_CASE = {
    "US": (0.85, 0.05),
    "UK": (0.7, 0.2),
    "EU": (0.5, 0.1),
    "ZA": (0.9, 0.05),
    "IN": (0.9, 0.0),
    "AU": (0.6, 0.2),
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_REF_CHARS = string.ascii_uppercase + string.digits


@dataclass(slots=True)
class Printed:
    """What the bank knows about one transaction before printing it."""

    region: str
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


# How to make each template field; only the fields a template names are made (hot loop).
_FIELDS: dict[str, Callable[[random.Random, Printed], str]] = {
    "city": lambda rng, p: p.city,
    "state": lambda rng, p: p.city.rsplit(" ", 1)[-1] if p.region in ("US", "AU") else p.region,
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
    "url": lambda rng, p: rng.choice((f"{_slug(p)}.com", f"WWW.{_slug(p).upper()}.COM")),
    "vpa": lambda rng, p: f"{_slug(p)}@{rng.choice(('okicici', 'ybl', 'paytm', 'okaxis'))}",
}


@functools.cache
def _template_fields(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f and f != "name")


def _format(rng: random.Random, template: str, name: str, p: Printed) -> str:
    values = {f: _FIELDS[f](rng, p) for f in _template_fields(template)}
    return template.format(name=name, **values)


def _case(rng: random.Random, region: str, text: str) -> str:
    upper, title = _CASE[region]
    roll = rng.random()
    if roll < upper:
        return text.upper()
    if roll < upper + title:
        return text.title()
    return text


def render(rng: random.Random, printed: Printed) -> str:
    """Print one transaction's descriptor.

    Args:
        rng: the generator's random source (deterministic for a seed).
        printed: region, channel, merchant name as the bank knows it, place and date.

    Returns:
        The descriptor, with the region's prefixes, references and noise, 3 to 120 characters.
    """
    name = printed.name
    if printed.channel == "card" and printed.chain:
        name = _store_number(rng, name)
    elif printed.channel == "card" and rng.random() < 0.4:
        name = rng.choice(_PROCESSORS[printed.region]) + name
    if printed.channel in ("card", "online") and rng.random() < 0.25:
        # Card networks carry the merchant in a fixed-width field (22-25 characters).
        name = name[: rng.randint(22, 25)].rstrip()
    templates = _TEMPLATES[printed.region][printed.channel]
    text = _format(rng, rng.choice(templates), name, printed)
    if printed.refund:
        text = rng.choice(_REFUND).format(d=text)
    text = _case(rng, printed.region, " ".join(text.split()))
    if rng.random() < 0.12:
        # Some feeds cut the whole line short (22-40 characters).
        text = text[: rng.randint(22, 40)].rstrip()
    return text[:120]
