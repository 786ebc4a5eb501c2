"""A generic OData v4 CSDL (XML) reader for the tests: any service's `$metadata`, not only the sandbox's.

Written against OASIS "OData Common Schema Definition Language (CSDL) XML Representation Version 4.0" (sections 3-13):
edmx:Reference/Include aliases, Schema namespaces and aliases, EntityType (Key, Property, NavigationProperty,
BaseType, Abstract), ComplexType, EnumType, Action/Function (IsBound, Parameter, ReturnType), EntityContainer
(EntitySet, Singleton, ActionImport, FunctionImport) and inline Annotation elements. No PyPI package reads CSDL 4.0
XML generically (pyodata targets SAP's V2 dialect), so this stays small, strict and independent of the sandbox code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
PRIMITIVES = {
    "Edm.Binary",
    "Edm.Boolean",
    "Edm.Byte",
    "Edm.Date",
    "Edm.DateTimeOffset",
    "Edm.Decimal",
    "Edm.Double",
    "Edm.Duration",
    "Edm.Guid",
    "Edm.Int16",
    "Edm.Int32",
    "Edm.Int64",
    "Edm.SByte",
    "Edm.Single",
    "Edm.Stream",
    "Edm.String",
    "Edm.TimeOfDay",
    "Edm.Untyped",
}


class CsdlError(ValueError):
    """The document is not valid CSDL 4.0 XML (or refers to a type it never declares)."""


@dataclass
class Annotated:
    annotations: dict[str, str | None] = field(default_factory=dict)  # term -> constant value (or None)


@dataclass
class Prop(Annotated):
    name: str = ""
    type: str = ""
    nullable: bool = True


@dataclass
class StructuredType(Annotated):
    name: str = ""
    kind: str = ""  # EntityType | ComplexType
    base: str | None = None
    abstract: bool = False
    key: list[str] = field(default_factory=list)
    properties: dict[str, Prop] = field(default_factory=dict)
    navigation: dict[str, Prop] = field(default_factory=dict)


@dataclass
class Operation(Annotated):
    name: str = ""
    kind: str = ""  # Action | Function
    bound: bool = False
    parameters: list[Prop] = field(default_factory=list)
    returns: str | None = None


@dataclass
class Container:
    name: str = ""
    entity_sets: dict[str, tuple[str, dict[str, str | None]]] = field(default_factory=dict)  # name -> (type, notes)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (kind, qualified operation)


@dataclass
class Model:
    version: str
    namespaces: dict[str, str]  # alias or namespace -> namespace
    types: dict[str, StructuredType]  # qualified name -> type
    enums: dict[str, list[str]]
    operations: dict[str, list[Operation]]  # qualified name -> overloads
    container: Container

    def qualify(self, name: str) -> str:
        """`mscrm.account` / `Collection(mscrm.account)` -> the namespace-qualified element type name."""
        inner = name[len("Collection(") : -1] if name.startswith("Collection(") else name
        if inner in PRIMITIVES:
            return inner
        ns, _, local = inner.rpartition(".")
        if ns not in self.namespaces:
            raise CsdlError(f"type '{name}' uses an undeclared namespace or alias '{ns}'")
        return f"{self.namespaces[ns]}.{local}"

    def resolve(self, name: str) -> StructuredType | None:
        """The structured type a reference names (None for primitives and enums); CsdlError if undeclared."""
        q = self.qualify(name)
        if q in PRIMITIVES or q in self.enums:
            return None
        if q not in self.types:
            raise CsdlError(f"type '{name}' is not declared in the document")
        return self.types[q]

    def entity_type(self, qualified: str) -> StructuredType:
        t = self.resolve(qualified)
        if t is None or t.kind != "EntityType":
            raise CsdlError(f"'{qualified}' is not an entity type")
        return t

    def check(self) -> None:
        """Every type reference resolves, every entity type has a key (own or inherited), imports name operations."""
        for t in self.types.values():
            if t.base:
                self.resolve(t.base)
            for p in [*t.properties.values(), *t.navigation.values()]:
                self.resolve(p.type)
            if t.kind == "EntityType" and not t.abstract and not self._key_of(t):
                raise CsdlError(f"entity type '{t.name}' has no key")
        for overloads in self.operations.values():
            for op in overloads:
                for p in op.parameters:
                    self.resolve(p.type)
                if op.returns:
                    self.resolve(op.returns)
                if op.bound and not op.parameters:
                    raise CsdlError(f"bound {op.kind} '{op.name}' has no binding parameter")
        for typ, _notes in self.container.entity_sets.values():
            self.entity_type(typ)
        for name, (_kind, op_name) in self.container.imports.items():
            q = self.qualify(op_name)
            if q not in self.operations or any(o.bound for o in self.operations[q]):
                raise CsdlError(f"import '{name}' names no unbound operation '{op_name}'")

    def _key_of(self, t: StructuredType) -> list[str]:
        seen = 0
        while t is not None and seen < 50:
            if t.key:
                return t.key
            t = self.resolve(t.base) if t.base else None  # type: ignore[assignment]
            seen += 1
        return []


def _annotations(el: ET.Element) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for a in el.findall(f"{{{EDM}}}Annotation"):
        term = a.get("Term")
        if not term:
            raise CsdlError("an Annotation element needs a Term")
        value = next((a.get(k) for k in ("String", "Bool", "Int", "Decimal", "EnumMember", "Path") if a.get(k)), None)
        if value is None:
            member = a.find(f"{{{EDM}}}EnumMember")
            value = member.text if member is not None else None
        out[term] = value
    return out


def _prop(el: ET.Element) -> Prop:
    name, typ = el.get("Name"), el.get("Type")
    if not name or not typ:
        raise CsdlError(f"<{el.tag.split('}')[1]}> needs Name and Type")
    return Prop(_annotations(el), name, typ, el.get("Nullable", "true") == "true")


def parse(xml: bytes | str) -> Model:
    """Parse a `$metadata` document; raises CsdlError when it is not CSDL 4.0 XML."""
    try:
        root = ET.fromstring(xml)  # noqa: S314 - test-only reader of a document the test itself fetched
    except ET.ParseError as exc:
        raise CsdlError(f"not XML: {exc}") from None
    if root.tag != f"{{{EDMX}}}Edmx":
        raise CsdlError(f"root element is {root.tag}, not edmx:Edmx")
    version = root.get("Version") or ""
    if not version.startswith("4."):
        raise CsdlError(f"edmx:Edmx Version is '{version}', not 4.x")
    namespaces: dict[str, str] = {"Edm": "Edm"}
    for inc in root.iter(f"{{{EDMX}}}Include"):
        ns = inc.get("Namespace") or ""
        namespaces[ns] = ns
        if inc.get("Alias"):
            namespaces[inc.get("Alias") or ""] = ns
    services = root.find(f"{{{EDMX}}}DataServices")
    if services is None:
        raise CsdlError("no edmx:DataServices element")
    schemas = services.findall(f"{{{EDM}}}Schema")
    if not schemas:
        raise CsdlError("no Schema element")
    types: dict[str, StructuredType] = {}
    enums: dict[str, list[str]] = {}
    operations: dict[str, list[Operation]] = {}
    container = Container()
    for schema in schemas:
        declared = schema.get("Namespace")
        if not declared:
            raise CsdlError("a Schema needs a Namespace")
        ns = declared
        namespaces[ns] = ns
        if schema.get("Alias"):
            namespaces[schema.get("Alias") or ""] = ns
    for schema in schemas:
        ns = schema.get("Namespace") or ""
        for el in schema:
            kind = el.tag.split("}")[1]
            name = el.get("Name") or ""
            if kind in ("EntityType", "ComplexType"):
                t = StructuredType(_annotations(el), name, kind, el.get("BaseType"), el.get("Abstract") == "true")
                key = el.find(f"{{{EDM}}}Key")
                if key is not None:
                    t.key = [r.get("Name") or "" for r in key.findall(f"{{{EDM}}}PropertyRef")]
                for p in el.findall(f"{{{EDM}}}Property"):
                    t.properties[p.get("Name") or ""] = _prop(p)
                for n in el.findall(f"{{{EDM}}}NavigationProperty"):
                    t.navigation[n.get("Name") or ""] = _prop(n)
                for k in t.key:
                    if k not in t.properties and not t.base:
                        raise CsdlError(f"key property '{k}' of '{name}' is not a property")
                types[f"{ns}.{name}"] = t
            elif kind == "EnumType":
                enums[f"{ns}.{name}"] = [m.get("Name") or "" for m in el.findall(f"{{{EDM}}}Member")]
            elif kind in ("Action", "Function"):
                ret = el.find(f"{{{EDM}}}ReturnType")
                op = Operation(
                    _annotations(el),
                    name,
                    kind,
                    el.get("IsBound") == "true",
                    [_prop(p) for p in el.findall(f"{{{EDM}}}Parameter")],
                    ret.get("Type") if ret is not None else None,
                )
                if kind == "Function" and op.returns is None:
                    raise CsdlError(f"function '{name}' has no ReturnType")
                operations.setdefault(f"{ns}.{name}", []).append(op)
            elif kind == "EntityContainer":
                container.name = name
                for child in el:
                    ckind = child.tag.split("}")[1]
                    cname = child.get("Name") or ""
                    if ckind in ("EntitySet", "Singleton"):
                        typ = child.get("EntityType") or child.get("Type") or ""
                        container.entity_sets[cname] = (typ, _annotations(child))
                    elif ckind in ("ActionImport", "FunctionImport"):
                        container.imports[cname] = (ckind, child.get("Action") or child.get("Function") or "")
    model = Model(version, namespaces, types, enums, operations, container)
    return model
