"""The service catalog, `stack/catalog.yaml`: every service, its owners and dependencies.

The catalog is validated by the schema below (unknown keys, unknown teams,
dependencies on services that do not exist and duplicate names - of services,
teams or workloads - are refused with `path:line: key: message`). A service has
one main `workload` and may have `additional_workloads`, each running it in
another role (fan-out's `edge` nodes beside its origins). The services' ports are configuration: the catalog
states them for people, and `port_disagreements` checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chorus.config import ChorusConfig
from chorus.yamllines import KeyPath, SourceError, dotted, load_yaml

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parents[1] / "catalog.yaml"
"""`stack/catalog.yaml` in this checkout."""


class CatalogError(SourceError):
    """The catalog is invalid; rendered as one line `path:line: key: message`."""


class _Entry(BaseModel):
    """Base of catalog entries: unknown keys and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Person(_Entry):
    """A member of a team."""

    name: str = Field(min_length=1, description="The person's name.")
    role: str = Field(min_length=1, description="Their role in the team, e.g. `tech lead`.")
    github: str | None = Field(default=None, pattern=r"^@[A-Za-z0-9][A-Za-z0-9-]*$",
                               description="Their GitHub handle, e.g. `@priya-raman` (CODEOWNERS asks them to review).")


class Team(_Entry):
    """A team that owns services, and how to reach it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="The team's short name.")
    description: str = Field(min_length=1, description="What the team owns, in one sentence.")
    oncall: str = Field(min_length=1, description="The on-call rotation to page.")
    chat: str = Field(pattern=r"^#", description="The team's chat channel, e.g. `#chorus-media`.")
    people: list[Person] = Field(min_length=1, description="The team's members.")
    github: str | None = Field(default=None, pattern=r"^@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
                               description="The team's GitHub team, e.g. `@chorus-audio/media` (CODEOWNERS asks it to review).")


class RoleWorkload(_Entry):
    """A further Kubernetes workload of a service, running it in another role (e.g. fan-out's edges)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="The workload name, e.g. `chorus-fanout-edge`.")
    role: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="The role its pods run in (`--role`), e.g. `edge`.")
    purpose: str = Field(min_length=1, description="What this workload does that the service's main workload does not.")


class Service(_Entry):
    """One service of Chorus."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="The service's short name, e.g. `fanout`.")
    purpose: str = Field(min_length=1, description="What the service does, in one line.")
    team: str = Field(min_length=1, description="The owning team's name.")
    tier: int = Field(ge=1, le=3, description="Criticality: 1 is user-facing and pages at once.")
    depends_on: list[str] = Field(default_factory=list, description="Services this one calls.")
    ports: dict[str, int] = Field(min_length=1, description="Named ports, e.g. `http: 8080`.")
    workload: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="The Kubernetes workload name (the service's "
                          "default role).")
    additional_workloads: list[RoleWorkload] = Field(
        default_factory=list,
        description="Further workloads running the service in another role, e.g. fan-out's edge nodes.",
    )

    def workloads(self) -> list[tuple[str, str | None]]:
        """Every workload of the service with its role: the main one first (role `None`: the default).

        Returns:
            `(workload name, role)` pairs.
        """
        return [(self.workload, None), *((w.name, w.role) for w in self.additional_workloads)]


class Catalog(_Entry):
    """The whole catalog: teams and services."""

    teams: list[Team] = Field(min_length=1, description="Every team.")
    services: list[Service] = Field(min_length=1, description="Every service.")

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalog:
        """Every team and dependency named exists, and names are unique."""
        team_names = [t.name for t in self.teams]
        service_names = [s.name for s in self.services]
        for kind, names in (("teams", team_names), ("services", service_names)):
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise _Refusal((kind, index, "name"), f"duplicate {kind[:-1]} name {name!r}")
        seen: dict[str, str] = {}
        for index, service in enumerate(self.services):
            for extra, (workload, role) in enumerate(service.workloads()):
                keys: KeyPath = ("services", index, "workload") if role is None else (
                    "services", index, "additional_workloads", extra - 1, "name")
                if workload in seen:
                    raise _Refusal(keys, f"workload {workload!r} is already the workload of service {seen[workload]!r}")
                seen[workload] = service.name
            roles = [w.role for w in service.additional_workloads]
            for extra, role in enumerate(roles):
                if role in roles[:extra]:
                    raise _Refusal(("services", index, "additional_workloads", extra, "role"),
                                   f"role {role!r} has two workloads; one workload per role")
        for index, service in enumerate(self.services):
            if service.team not in team_names:
                raise _Refusal(("services", index, "team"), f"unknown team {service.team!r}; teams: {', '.join(team_names)}")
            for dep_index, dep in enumerate(service.depends_on):
                if dep == service.name or dep not in service_names:
                    raise _Refusal(
                        ("services", index, "depends_on", dep_index),
                        f"depends on {dep!r}, which is not another service in the catalog",
                    )
        self._refuse_cycles()
        return self

    def _refuse_cycles(self) -> None:
        """No service depends on itself through others: start-up order and blast radius need a DAG."""
        index = {s.name: i for i, s in enumerate(self.services)}
        graph = {s.name: s.depends_on for s in self.services}
        state: dict[str, int] = {}  # 1 on the current path, 2 done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for dep_index, dep in enumerate(graph[name]):
                if state.get(dep) == 1:
                    cycle = " -> ".join([*path[path.index(dep):], name, dep]) if dep in path else f"{name} -> {dep}"
                    raise _Refusal(("services", index[name], "depends_on", dep_index),
                                   f"dependency cycle {cycle}; dependencies must form no loop")
                if dep not in state:
                    visit(dep, [*path, name])
            state[name] = 2

        for service in self.services:
            if service.name not in state:
                visit(service.name, [])

    def workload_services(self) -> dict[str, Service]:
        """Every workload name of every service, main and additional, to its service.

        Returns:
            Workload name to service.
        """
        return {name: service for service in self.services for name, _role in service.workloads()}

    def service(self, name: str) -> Service:
        """Return the service called `name`.

        Args:
            name: The service's name.

        Returns:
            The service.

        Raises:
            KeyError: No service has that name.
        """
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


class _Refusal(ValueError):
    """A cross-reference problem found after field validation, with the key path at fault."""

    def __init__(self, keys: KeyPath, message: str) -> None:
        super().__init__(message)
        self.keys = keys
        self.message = message


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate the service catalog.

    Args:
        path: The catalog file; `None` loads `stack/catalog.yaml` of this checkout.

    Returns:
        The validated catalog.

    Raises:
        CatalogError: The file is missing or invalid (one line naming file, line and key).
    """
    catalog_path = Path(path) if path is not None else DEFAULT_CATALOG_PATH
    try:
        document = load_yaml(catalog_path)
    except SourceError as exc:
        raise CatalogError(exc.message, exc.path, exc.line, exc.key) from None
    if not isinstance(document.data, dict):
        raise CatalogError("the catalog must be a mapping with 'teams:' and 'services:'", catalog_path, 1)
    try:
        catalog = Catalog.model_validate(document.data)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, _Refusal):
            keys, message = cause.keys, cause.message
        else:
            keys = tuple(error["loc"])
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise CatalogError(message, catalog_path, document.line_of(keys), dotted(keys)) from None
    return catalog


@dataclass(frozen=True)
class Disagreement:
    """A port that the catalog and the configuration state differently.

    Attributes:
        service: The service's name.
        catalog_port: The port in the catalog.
        config_key: The configuration key holding the port, e.g. `fanout.port`.
        config_port: The port in the configuration.
    """

    service: str
    catalog_port: int
    config_key: str
    config_port: int

    def __str__(self) -> str:
        return (
            f"service {self.service}: catalog says port {self.catalog_port}, "
            f"configuration {self.config_key} says {self.config_port}"
        )


def compared_services(catalog: Catalog, config: ChorusConfig) -> list[str]:
    """The catalog services whose port the configuration holds (a section named after the service with a `port`).

    Args:
        catalog: The catalog.
        config: The configuration.

    Returns:
        Service names, in catalog order.
    """
    return [s.name for s in catalog.services if hasattr(getattr(config, s.name, None), "port")]


def port_disagreements(catalog: Catalog, config: ChorusConfig) -> list[Disagreement]:
    """Compare each service's port in the catalog with its configuration section's `port`.

    A service has exactly one port in the catalog; its configuration section is the one named
    after it (`gateway.port`, `fanout.port`...). Services without a configuration section are
    listed by neither this function nor `compared_services`.

    Args:
        catalog: The catalog.
        config: The configuration.

    Returns:
        Every disagreement (empty when they agree).
    """
    found: list[Disagreement] = []
    for name in compared_services(catalog, config):
        service = catalog.service(name)
        config_port = getattr(config, name).port
        catalog_ports = set(service.ports.values())
        if config_port not in catalog_ports:
            found.append(Disagreement(name, min(catalog_ports), f"{name}.port", config_port))
    return found
