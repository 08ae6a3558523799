"""Commands (CMD): every `chorusctl`, `kubectl` and `curl` in a runbook works against the real stack.

- `chorusctl ...` must parse with `chorus.cli.build_parser()`;
- `kubectl ...` may name only namespaces, objects, containers and labels that
  `stack/deploy/kubernetes/` defines;
- `curl ...` to the gateway may call only paths and methods of its OpenAPI document.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import Runbook, runbooks
from handbook.shellcmd import Command, commands

# --- chorusctl -----------------------------------------------------------------------------------


def quiet(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make a parser raise instead of printing and exiting (`chorus.argcheck.quiet`).

    Args:
        parser: A freshly built parser (it is changed in place).

    Returns:
        The same parser.
    """
    return sources.chorus_module("chorus.argcheck").quiet(parser)


def parse_error(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """Why `args` do not parse, or `None` when they do (the stack's `chorus.argcheck.parse_problem`).

    Args:
        parser: The parser.
        args: The words after the program name.

    Returns:
        argparse's message, or `None`. Errors about a shell variable's value
        (`'$N'`) or a live value are not errors: the reader fills them in.
    """
    message = sources.chorus_module("chorus.argcheck").parse_problem(parser, args)
    if message is None or re.search(r"'\$\{?\w", message) or re.search(r"'[^']*\{@", message):
        return None
    return message


def _chorusctl(project: Project) -> argparse.ArgumentParser | str:
    cache = project.__dict__
    if "_chorusctl" not in cache:
        try:
            cache["_chorusctl"] = quiet(sources.cli_parser("chorusctl"))
        except HandbookError as exc:
            if not facts_mod.is_missing(exc):
                raise
            cache["_chorusctl"] = str(exc)
    return cache["_chorusctl"]


# --- kubectl -------------------------------------------------------------------------------------

KINDS = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "service": "Service", "services": "Service", "svc": "Service",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler", "horizontalpodautoscalers": "HorizontalPodAutoscaler", "hpa": "HorizontalPodAutoscaler",
    "poddisruptionbudget": "PodDisruptionBudget", "poddisruptionbudgets": "PodDisruptionBudget", "pdb": "PodDisruptionBudget",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
    "secret": "Secret", "secrets": "Secret",
    "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
    "serviceaccount": "ServiceAccount", "serviceaccounts": "ServiceAccount", "sa": "ServiceAccount",
    "ingress": "Ingress", "ingresses": "Ingress", "ing": "Ingress",
    "networkpolicy": "NetworkPolicy", "networkpolicies": "NetworkPolicy", "netpol": "NetworkPolicy",
    "job": "Job", "jobs": "Job", "cronjob": "CronJob", "cronjobs": "CronJob", "cj": "CronJob",
}
"""kubectl resource names and short names to kinds whose objects the manifests define by name."""

UNNAMED_KINDS = {"pod", "pods", "po", "node", "nodes", "no", "replicaset", "replicasets", "rs", "event", "events", "ev",
                 "endpoints", "ep", "endpointslice", "endpointslices", "all", "pv", "pvc"}
"""Kinds whose object names are generated at run time (pods, replica sets) or live outside the manifests."""

NAMED_VERBS = {"get", "describe", "delete", "edit", "patch", "scale", "annotate", "label", "autoscale", "wait", "set"}
ROLLOUT_SUBCOMMANDS = {"status", "restart", "undo", "history", "pause", "resume"}
VALUE_OPTIONS = {"-n", "--namespace", "-l", "--selector", "-c", "--container", "-o", "--output", "-f", "--filename",
                 "--since", "--tail", "--replicas", "--to-revision", "--timeout", "--for", "--field-selector",
                 "--context", "--cluster", "--user", "-p", "--patch", "--type", "--sort-by", "--max-log-requests",
                 "--current-replicas", "--min", "--max", "--cpu-percent", "--grace-period", "--image", "--revision"}


@dataclass
class Cluster:
    """What the manifests define, for checking `kubectl` commands.

    Attributes:
        objects: `(kind, name)` to the object's namespace.
        namespaces: Every namespace the manifests create or use.
        containers: `(kind, name)` of a workload to its container names.
        labels: Every `(key, value)` label on an object or pod template.
    """

    objects: dict[tuple[str, str], str] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    containers: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    labels: set[tuple[str, str]] = field(default_factory=set)

    @property
    def all_containers(self) -> set[str]:
        """Every container name in any workload."""
        return set().union(*self.containers.values()) if self.containers else set()


def cluster(project: Project) -> Cluster:
    """The cluster the manifests describe (cached per run)."""
    cache = project.__dict__
    if "_cluster" not in cache:
        found = Cluster()
        for obj in sources.manifests(project.root):
            found.objects[(obj.kind, obj.name)] = obj.namespace
            if obj.kind == "Namespace":
                found.namespaces.add(obj.name)
            if obj.namespace:
                found.namespaces.add(obj.namespace)
            found.labels.update({**obj.labels, **obj.pod_labels}.items())
            names = {c.name for c in obj.containers}
            if names:
                found.containers[(obj.kind, obj.name)] = names
        cache["_cluster"] = found
    return cache["_cluster"]


def _placeholder(word: str) -> bool:
    return "$" in word or "{@" in word or "*" in word


def _option_value(args: tuple[str, ...], index: int) -> tuple[str | None, int]:
    """The value of the option at `index` (`-n x`, `--namespace=x`, `-nx`) and the next index."""
    word = args[index]
    if "=" in word and word.startswith("--"):
        return word.split("=", 1)[1], index + 1
    if len(word) > 2 and word[0] == "-" and word[1] != "-" and word[:2] in VALUE_OPTIONS:
        return word[2:], index + 1
    return (args[index + 1] if index + 1 < len(args) else None), index + 2


def kubectl_problems(cmd: Command, known: Cluster) -> Iterator[tuple[str, str]]:
    """`(code, message)` for every name in a `kubectl` command that the manifests do not define.

    Args:
        cmd: The command.
        known: The cluster the manifests describe.

    Yields:
        CMD002 namespace, CMD003 object, CMD004 container, CMD005 label problems.
    """
    args = cmd.args
    namespace: str | None = None
    all_namespaces = False
    containers: list[str] = []
    selectors: list[str] = []
    positionals: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2] if word.startswith("-") else word
        if word in ("-A", "--all-namespaces"):
            all_namespaces = True
            index += 1
        elif name in VALUE_OPTIONS:
            value, index = _option_value(args, index)
            if value is None:
                continue
            if name in ("-n", "--namespace"):
                namespace = value
            elif name in ("-c", "--container"):
                containers.append(value)
            elif name in ("-l", "--selector"):
                selectors.append(value)
        elif word.startswith("-"):
            index += 1
        else:
            positionals.append(word)
            index += 1
    if namespace is not None and not _placeholder(namespace) and namespace not in known.namespaces:
        yield "CMD002", f"kubectl: namespace '{namespace}' is not in the manifests (namespaces: {', '.join(sorted(known.namespaces)) or 'none'})"
    named = _named_objects(positionals)
    for kind_word, obj_name in named:
        kind = KINDS.get(kind_word.lower())
        if kind is None or _placeholder(obj_name):
            continue
        if (kind, obj_name) not in known.objects:
            same_kind = sorted(n for k, n in known.objects if k == kind)
            yield "CMD003", f"kubectl: {kind} '{obj_name}' is not in the manifests ({kind}s: {', '.join(same_kind) or 'none'})"
            continue
        home = known.objects[(kind, obj_name)]
        if home and namespace is None and not all_namespaces:
            yield "CMD002", f"kubectl: {kind} '{obj_name}' lives in namespace '{home}': add -n {home}"
        elif home and namespace not in (None, home) and not _placeholder(namespace or ""):
            yield "CMD002", f"kubectl: {kind} '{obj_name}' lives in namespace '{home}', not '{namespace}'"
        for container in containers:
            owned = known.containers.get((kind, obj_name))
            if owned is not None and container not in owned and not _placeholder(container):
                yield "CMD004", f"kubectl: {kind} '{obj_name}' has no container '{container}' (containers: {', '.join(sorted(owned))})"
    if not named:
        for container in containers:
            if not _placeholder(container) and container not in known.all_containers:
                yield "CMD004", f"kubectl: no workload has a container '{container}' (containers: {', '.join(sorted(known.all_containers))})"
    for selector in selectors:
        for requirement in selector.split(","):
            match = re.fullmatch(r"\s*([\w./-]+)\s*(==|=|!=)?\s*([\w.-]*)\s*", requirement)
            if not match or _placeholder(requirement):
                continue
            key, op, value = match.groups()
            keys = {k for k, _ in known.labels}
            if key not in keys:
                yield "CMD005", f"kubectl: no object has a label '{key}' (labels: {', '.join(sorted(keys))})"
            elif op in ("=", "==") and (key, value) not in known.labels:
                values = sorted(v for k, v in known.labels if k == key)
                yield "CMD005", f"kubectl: no object has the label {key}={value} ({key} is one of: {', '.join(values)})"


def _named_objects(positionals: list[str]) -> list[tuple[str, str]]:
    """`(kind word, name)` pairs a kubectl command names: `TYPE/NAME` words, or `VERB TYPE NAME...`."""
    found = [tuple(word.split("/", 1)) for word in positionals if "/" in word and not word.startswith(("/", "."))]
    verb = positionals[0] if positionals else ""
    rest = positionals[1:]
    if verb == "rollout" and rest and rest[0] in ROLLOUT_SUBCOMMANDS:
        verb, rest = "rollout", rest[1:]
    elif verb not in NAMED_VERBS:
        return [(k, n) for k, n in found]
    if verb == "set" and rest:
        rest = rest[1:]
    if rest and "/" not in rest[0]:
        kinds = rest[0].split(",")
        if len(kinds) == 1 and kinds[0].lower() not in UNNAMED_KINDS:
            found += [(kinds[0], name) for name in rest[1:] if "/" not in name and "=" not in name]
    return [(k, n) for k, n in found]


# --- curl ----------------------------------------------------------------------------------------

CURL_VALUE_OPTIONS = {"-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary", "--data-urlencode",
                      "--json", "-o", "--output", "-w", "--write-out", "-u", "--user", "-F", "--form", "-m", "--max-time",
                      "--connect-timeout", "-A", "--user-agent", "-e", "--referer", "-b", "--cookie", "-c", "--cookie-jar",
                      "--url", "-T", "--upload-file", "-K", "--config", "--retry", "--retry-delay", "-r", "--range",
                      "--resolve", "--cacert", "--cert", "--key", "-x", "--proxy", "-D", "--dump-header", "--oauth2-bearer"}
DATA_OPTIONS = {"-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--json", "-F", "--form"}


@dataclass(frozen=True)
class HttpCall:
    """What a `curl` command does: its method and URL."""

    method: str
    url: str


def curl_call(args: tuple[str, ...]) -> HttpCall | None:
    """The method and URL of a `curl` command line, as curl would choose them.

    Args:
        args: The words after `curl`.

    Returns:
        The call, or `None` when the command names no URL.
    """
    method: str | None = None
    data = head = get = False
    urls: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        key = word.split("=", 1)[0] if word.startswith("--") else word
        if key in CURL_VALUE_OPTIONS:
            value = word.split("=", 1)[1] if "=" in word and word.startswith("--") else (args[index + 1] if index + 1 < len(args) else "")
            index += 1 if "=" in word and word.startswith("--") else 2
            if key in ("-X", "--request"):
                method = value.upper()
            elif key in DATA_OPTIONS:
                data = True
            elif key == "--url":
                urls.append(value)
            continue
        if word.startswith("-X") and len(word) > 2:
            method = word[2:].upper()
        elif word in ("-I", "--head"):
            head = True
        elif word in ("-G", "--get"):
            get = True
        elif word.startswith("-") and not word.startswith("--") and len(word) > 2:
            flags = word[1:]
            head = head or "I" in flags
            get = get or "G" in flags
            last = f"-{flags[-1]}"
            if last in CURL_VALUE_OPTIONS and index + 1 < len(args):  # `-sd DATA`, `-sX POST`
                value = args[index + 1]
                if last == "-X":
                    method = value.upper()
                data = data or last in DATA_OPTIONS
                index += 1
        elif not word.startswith("-"):
            urls.append(word)
        index += 1
    if not urls:
        return None
    if method is None:
        method = "HEAD" if head else "GET" if get or not data else "POST"
    return HttpCall(method, urls[0])


def _operations(project: Project) -> dict[str, set[str]] | str:
    """The gateway's OpenAPI paths to their methods (cached), or why they are unavailable."""
    cache = project.__dict__
    if "_operations" not in cache:
        try:
            document = sources.openapi(project.root)
            cache["_operations"] = {
                path: {m.upper() for m in ops if m.lower() in ("get", "put", "post", "delete", "patch", "head", "options")}
                for path, ops in (document.get("paths") or {}).items()
            }
        except HandbookError as exc:
            if not facts_mod.is_missing(exc):
                raise
            cache["_operations"] = str(exc)
    return cache["_operations"]


def _gateway_ports(project: Project, facts: facts_mod.Facts) -> set[str]:
    """`gateway_ports`, once per run (cached on the project like `_operations`)."""
    cache = project.__dict__
    if "_gateway_ports" not in cache:
        cache["_gateway_ports"] = gateway_ports(facts)
    return cache["_gateway_ports"]


def _template(path: str) -> re.Pattern[str]:
    parts = [("[^/]+" if re.fullmatch(r"\{[^}]+\}", part) else re.escape(part)) for part in path.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


def gateway_ports(facts: facts_mod.Facts) -> set[str]:
    """The ports the gateway listens on, as strings (from the catalog and the configuration)."""
    ports = {f.text for f in facts if f.name.startswith("service.gateway.port.")}
    ports |= {f.text for f in facts if f.name.startswith("config.gateway.") and f.name.endswith("port")}
    return ports


def curl_problems(call: HttpCall, operations: dict[str, set[str]], ports: set[str]) -> Iterator[tuple[str, str]]:
    """`(code, message)` when a call to the gateway names a path or method its OpenAPI does not have.

    Args:
        call: The call.
        operations: OpenAPI path template to methods.
        ports: The gateway's ports; calls to other hosts and ports are not checked.

    Yields:
        CMD006 unknown path, CMD007 method not allowed.
    """
    split = urlsplit(call.url if "://" in call.url else "http://" + call.url)
    try:
        port = str(split.port) if split.port else ""
    except ValueError:
        port = ""
    if port not in ports and "gateway" not in (split.hostname or ""):
        return
    path = split.path or "/"
    if "{@" in path:
        return
    concrete = re.sub(r"\$\{?\w+\}?", "X", path)
    matches = [template for template in operations if _template(template).match(concrete)]
    if not matches:
        yield "CMD006", f"curl: the gateway has no path {path} (paths: {', '.join(sorted(operations))})"
        return
    allowed = set().union(*(operations[t] for t in matches))
    if call.method not in allowed and not (call.method == "HEAD" and "GET" in allowed):
        yield "CMD007", f"curl: {call.method} {path} is not an operation of the gateway ({', '.join(sorted(allowed))} {matches[0]} are)"


# --- the check -----------------------------------------------------------------------------------


@check(
    "runbook-commands",
    family="CMD",
    rules={
        "CMD001": "a chorusctl command does not parse (unknown command or option, missing or bad argument)",
        "CMD002": "a kubectl command names an unknown namespace, or omits the namespace its object lives in",
        "CMD003": "a kubectl command names a workload or object the manifests do not define",
        "CMD004": "a kubectl command names a container the workload does not have",
        "CMD005": "a kubectl label selector matches no label in the manifests",
        "CMD006": "a curl command calls a gateway path that is not in its OpenAPI document",
        "CMD007": "a curl command uses a method the gateway path does not allow",
    },
)
def runbook_commands(project: Project) -> Iterator[Problem]:
    """Check the `chorusctl`, `kubectl` and `curl` commands in every runbook's code blocks."""
    books = runbooks(project)
    if not any(rb.page.code_blocks for rb in books):
        return
    facts = facts_mod.for_project(project)
    for rb in books:
        for block in rb.page.code_blocks:
            for cmd in commands(block, facts):
                yield from _check_command(project, rb, cmd, facts)
    _parsed(project).save()


def _parsed(project: Project) -> sources.StackKeyedCache:
    """This run's cache of chorusctl parse results (argparse's verdict per command line, per stack version)."""
    cache = project.__dict__
    if "_chorusctl_parsed" not in cache:
        cache["_chorusctl_parsed"] = sources.StackKeyedCache(project.root, "chorusctl-parse")
    return cache["_chorusctl_parsed"]


def _check_command(project: Project, rb: Runbook, cmd: Command, facts: facts_mod.Facts) -> Iterator[Problem]:
    col = cmd.col
    if cmd.program == "chorusctl":
        parser = _chorusctl(project) if "_chorusctl" in project.__dict__ else None
        if isinstance(parser, str):
            yield Problem(rb.rel, cmd.line, col, "CMD001", f"chorusctl cannot be checked: {parser}")
            return

        def verdict() -> list[str | None]:
            fresh = _chorusctl(project)
            if isinstance(fresh, str):
                raise HandbookError(fresh)
            return [parse_error(fresh, list(cmd.args))]

        try:
            message = _parsed(project).get(json.dumps(list(cmd.args)), verdict)[0]
        except HandbookError as exc:
            yield Problem(rb.rel, cmd.line, col, "CMD001", f"chorusctl cannot be checked: {exc}")
            return
        if message is not None:
            if "invalid choice" in message:
                message = "no such command: it no longer exists, or was renamed; " + message
            yield Problem(rb.rel, cmd.line, col, "CMD001", f"`chorusctl {' '.join(cmd.args)}` does not parse: {message}")
    elif cmd.program == "kubectl":
        for code, message in kubectl_problems(cmd, cluster(project)):
            yield Problem(rb.rel, cmd.line, col, code, message)
    elif cmd.program == "curl":
        call = curl_call(cmd.args)
        if call is None:
            return
        operations = _operations(project)
        if isinstance(operations, str):
            return
        for code, message in curl_problems(call, operations, _gateway_ports(project, facts)):
            yield Problem(rb.rel, cmd.line, col, code, message)
