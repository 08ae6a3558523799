"""Run one runbook's drill: stack, monitor, induce, wait for the alert, run the steps, wait for it to clear.

The alert itself is the oracle: a drill passes only when the runbook's alert
really fires in Prometheus after the condition is induced, every marked step
prints what the runbook says it prints, and after the Mitigate steps the alert
resolves while a listener still hears audio (and, with the packager, the HLS
playlist still advances). Everything the drill starts is stopped in a `finally`,
Ctrl-C included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import facts as facts_mod
from handbook.checks.outputs import transcript
from handbook.drill import DEFAULT_SPEED, rewrite
from handbook.drill.localstack import LocalStack, StackError
from handbook.drill.spec import DrillSpec, Plan, Step, read_plan
from handbook.facts import Fact, Facts
from handbook.mdscan import MarkdownPage
from handbook.runbook import alert_names
from handbook.shellcmd import CONSOLE_LANGS, substitute

SPEAKER_SECONDS = 60
"""The length of the test signal the drill's host speaks, over and over."""


@dataclass
class StepResult:
    """One row of a drill's result table.

    Attributes:
        name: What was done (`induce: kill fanout-2`, `Diagnose 1. Which node` ...).
        line: The runbook line it comes from (0 for the drill's own phases).
        expected: What had to happen.
        got: What happened.
        status: `pass`, `fail` or `skip`.
        seconds: How long it took.
    """

    name: str
    line: int
    expected: str
    got: str
    status: str
    seconds: float


@dataclass
class DrillResult:
    """The outcome of one drill.

    Attributes:
        runbook: The runbook's file stem.
        status: `pass`, `fail`, `error` (the drill could not run) or `not-drillable`.
        rows: The result table.
        seconds: Wall time of the whole drill.
        when: When it ran (UTC, ISO 8601).
        reason: For `error` / `not-drillable` / `fail`, one line saying why.
        rewrites: Console blocks whose sample output the live system printed differently: `(line, new lines)`.
    """

    runbook: str
    status: str
    rows: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    when: str = ""
    reason: str = ""
    rewrites: list[tuple[int, int, list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The result as JSON-ready data (the rewrites stay out)."""
        data = dataclasses.asdict(self)
        data.pop("rewrites")
        return data


@dataclass(frozen=True)
class DrillOptions:
    """How to run drills.

    Attributes:
        allow_destructive: Run steps marked `destructive` (else they are skipped and the drill cannot pass).
        speed: Rule windows and `for:` are divided by this.
        keep: Keep the drill's temporary folder (logs) even when it passed.
        progress: Called with one line per phase and step as the drill goes.
    """

    allow_destructive: bool = False
    speed: float = DEFAULT_SPEED
    keep: bool = False
    progress: Callable[[str], None] = lambda line: None


class DrillFailed(Exception):
    """A phase of the drill failed; the drill stops and tears down."""


def drill_facts(base: Facts, overrides: dict[str, object]) -> Facts:
    """Today's facts, with the drill's configuration overrides as the `config.*` values.

    Commands and expected output in a drill render `{@config.gateway.port}` as the
    drill's own port, so the runbook's text runs unchanged against the drill's stack.
    """
    facts = Facts(by_name=dict(base.by_name), targets=set(base.targets), unavailable=dict(base.unavailable))
    for key, value in overrides.items():
        name = f"config.{key}"
        old = facts.get(name)
        if old is not None:
            facts.by_name[name] = dataclasses.replace(old, value=value)
        else:
            facts.by_name[name] = Fact(name, value, None, "drill")
    return facts


def _check_output(step: Step, code: int, output: str, facts: Facts) -> list[str]:
    """What is wrong with a step's exit status and output (empty when it is right)."""
    wrong = []
    if step.marker.exit is not None and code != step.marker.exit:
        wrong.append(f"exit {code}, expected {step.marker.exit}")
    for pattern in step.marker.expect:
        rendered = substitute(pattern, facts)
        if not re.search(rendered, output, re.MULTILINE):
            wrong.append(f"no match for /{rendered}/")
    return wrong


def _fact(facts: Facts, name: str) -> Fact:
    """A fact every tree has (a configuration key); a `KeyError` naming it if it is gone."""
    fact = facts.get(name)
    if fact is None:
        raise KeyError(f"no fact {name}")
    return fact


def _describe(step: Step) -> str:
    return f"{step.section}: {step.heading}" if step.heading != step.section else step.section




def _short(value: object, width: int = 48) -> str:
    """An action's argument, cut to fit a table cell."""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Drill:
    """One runbook's drill.

    Args:
        root: The handbook checkout.
        path: The runbook.
        options: How to run it.
    """

    def __init__(self, root: Path, path: Path, options: DrillOptions) -> None:
        self.root = root
        self.path = path
        self.options = options
        self.page = MarkdownPage(path.read_text(encoding="utf-8"))
        self.plan: Plan = read_plan(self.page)
        self.result = DrillResult(runbook=path.stem, status="fail")
        self._stack: LocalStack | None = None
        self._monitor: Any = None
        self._teardown_lock = threading.Lock()
        self._ports: dict[str, str] = {}
        self._base_facts: Facts | None = None

    def _row(self, name: str, line: int, expected: str, got: str, ok: bool | None, started: float) -> None:
        status = "skip" if ok is None else ("pass" if ok else "fail")
        row = StepResult(name, line, expected, got, status, round(time.monotonic() - started, 1))
        self.result.rows.append(row)
        self.options.progress(f"  {status:<4} {row.seconds:6.1f} s  {name}: {got}")

    def alert_name(self, spec: DrillSpec) -> str | None:
        """The alert the drill waits for: declared, or the runbook's only alert."""
        if spec.alert:
            return spec.alert
        alerts = alert_names(self.page.front_matter.data)
        return alerts[0] if len(alerts) == 1 else None

    def run(self) -> DrillResult:
        """Run the drill and return its result (never raises for a failing drill)."""
        began = time.monotonic()
        self.result.when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        spec = self.plan.spec
        if spec is None or self.plan.spec_errors or self.plan.marker_errors:
            self.result.status = "error"
            self.result.reason = "no drill: declared" if spec is None and not self.plan.spec_errors else (
                "the drill declaration has errors: run `handbook check --select DR`")
            return self.result
        if spec.not_drillable:
            self.result.status = "not-drillable"
            self.result.reason = spec.not_drillable
            return self.result
        folder = Path(tempfile.mkdtemp(prefix=f"handbook-drill-{self.path.stem}-"))
        stack = LocalStack.prepare(folder, spec.stack.nodes, spec.stack.edges, spec.stack.packager, spec.config)
        self._stack = stack
        passed = False
        try:
            self._execute(spec, stack)
            passed = all(row.status == "pass" for row in self.result.rows)
            self.result.status = "pass" if passed else "fail"
            if not passed:
                failed = [r for r in self.result.rows if r.status != "pass"]
                self.result.reason = f"{failed[0].name}: {failed[0].got}"
        except (DrillFailed, StackError) as exc:
            self.result.status = "fail"
            self.result.reason = str(exc)
        except subprocess.TimeoutExpired as exc:
            self.result.status = "fail"
            self.result.reason = f"`{' '.join(map(str, exc.cmd))}` did not finish in {exc.timeout:.0f} s"
        except Exception as exc:  # a defect of the drill itself: one line, not a traceback
            self.result.status = "error"
            self.result.reason = f"the drill could not run: {exc.__class__.__name__}: {exc}"
        except KeyboardInterrupt:
            self.result.status = "error"
            self.result.reason = "interrupted (Ctrl-C): everything it started was stopped"
            raise
        finally:
            self.teardown()
            self.result.seconds = round(time.monotonic() - began, 1)
            if passed and not self.options.keep:
                shutil.rmtree(folder, ignore_errors=True)
            elif not passed:
                self.result.reason += f" (logs kept in {folder})"
        return self.result

    def teardown(self) -> None:
        """Stop everything this drill started (safe to call twice, and from another thread on Ctrl-C)."""
        with self._teardown_lock:
            stack, monitor = self._stack, self._monitor
            self._stack = self._monitor = None
            if stack is None and monitor is None:
                return
            self.options.progress("  tearing down")
            with _ignoring_sigint():
                try:
                    if monitor is not None:
                        monitor.stop()
                finally:  # the stack is stopped even when the monitor's stop fails
                    if stack is not None:
                        stack.stop()

    def _execute(self, spec: DrillSpec, stack: LocalStack) -> None:
        from chorus.monitor import Monitor, MonitorSettings, targets_from_gateway

        opts = self.options
        alert = self.alert_name(spec)
        base = facts_mod.build(self.root)
        facts = drill_facts(base, stack.overrides)
        self._ports = rewrite.port_map(base, stack.overrides, spec.stack.nodes, spec.stack.edges)
        self._base_facts = base

        started = time.monotonic()
        opts.progress(f"  starting Chorus ({spec.stack.nodes} origins, {spec.stack.edges} edges"
                      f"{', packager' if spec.stack.packager else ''}) on {stack.gateway_url}")
        stack.start(spec.stack.packager)
        if spec.stack.speaker:
            stack.create_space_with_speaker(SPEAKER_SECONDS)
        self._row("start Chorus", 0, "chorusctl up ready", f"ready on {stack.gateway_url}", True, started)

        started = time.monotonic()
        settings = MonitorSettings(scrape_interval_s=1, evaluation_interval_s=1, time_scale=opts.speed,
                                   workdir=stack.folder / "monitor", keep_workdir=True)
        packager_url = f"http://127.0.0.1:{stack.overrides['packager.port']}" if spec.stack.packager else ""
        monitor = Monitor(targets_from_gateway(stack.gateway_url, packager_url, token=stack.operator_token()), settings)
        self._monitor = monitor
        monitor.start()
        monitor.wait_for_targets()
        self._row("start Prometheus and Alertmanager", 0, f"every target scraped, rules {opts.speed:g}x faster",
                  monitor.prometheus_url, True, started)

        if alert is not None:
            started = time.monotonic()
            try:  # an absent() alert may fire before the first scrape lands: let it settle first
                monitor.wait_for_resolved(alert, timeout_s=30)
            except Exception:  # still active after 30 s on a healthy stack: reported just below
                pass
            states = {a["state"] for a in monitor.alerts(alert)}
            firing = "firing" if "firing" in states else ("pending" if states else "")
            self._row(f"{alert} quiet before", 0, "not firing", firing or "inactive", firing != "firing", started)
            if firing == "firing":
                raise DrillFailed(f"{alert} fires before anything was induced: the drill proves nothing")

        for action in spec.induce:
            started = time.monotonic()
            got = self._induce(stack, action.kind, action.argument, facts)
            self._row(f"induce: {action.kind} {_short(action.argument)}", self.plan.spec_line, "done", got, True, started)

        if alert is not None:
            started = time.monotonic()
            budget = spec.fire_within_s
            deadline = time.monotonic() + budget
            while True:
                try:
                    monitor.wait_for_alert(alert, timeout_s=2)
                    break
                except Exception as exc:  # MonitorError: not firing yet, or Prometheus died
                    dead = stack.failed_background()
                    if dead:
                        self._row(f"{alert} fires", 0, f"firing within {budget:.0f} s", dead, False, started)
                        raise DrillFailed(f"an induce command failed: {dead}") from None
                    if time.monotonic() > deadline or "exited" in str(exc):
                        self._row(f"{alert} fires", 0, f"firing within {budget:.0f} s", str(exc), False, started)
                        raise DrillFailed(f"{alert} did not fire: the induced condition is not what the alert "
                                          "sees") from None
            self._row(f"{alert} fires", 0, f"firing within {budget:.0f} s", "firing", True, started)

        recovered = False
        for step in self.plan.runnable():
            if step.section == "Verify" and not recovered:
                self._recover(spec, stack, facts)
                recovered = True
            self._run_step(step, stack, facts, monitor)
        if not recovered:
            self._recover(spec, stack, facts)

        if alert is not None:
            started = time.monotonic()
            limit = spec.resolve_within_s
            try:
                monitor.wait_for_resolved(alert, timeout_s=limit)
                self._row(f"{alert} resolves", 0, f"resolved within {limit:.0f} s", "resolved", True, started)
            except Exception as exc:
                self._row(f"{alert} resolves", 0, f"resolved within {limit:.0f} s", str(exc), False, started)

        started = time.monotonic()
        if spec.new_space_after and spec.stack.speaker:
            stack.create_space_with_speaker(SPEAKER_SECONDS)
            self._row("a new space (the old ones are lost by design)", 0, "created", stack.space or "", True, started)
            started = time.monotonic()
        ok, got = stack.hears_audio()
        self._row("audio reaches a listener", 0, "non-silent audio", got, ok, started)
        if spec.stack.packager:
            started = time.monotonic()
            ok, got = stack.playlist_advances(wait_s=max(20.0, float(_fact(facts, "config.packager.segment_s").value) * 4))
            self._row("HLS playlist advances", 0, "a new segment", got, ok, started)

    def _recover(self, spec: DrillSpec, stack: LocalStack, facts: Facts) -> None:
        for action in spec.recover:
            started = time.monotonic()
            got = self._induce(stack, action.kind, action.argument, facts)
            self._row(f"recover: {action.kind} {_short(action.argument)}", self.plan.spec_line, "done", got, True, started)

    def _induce(self, stack: LocalStack, kind: str, argument: object, facts: Facts) -> str:
        if kind == "kill":
            stack.signal_service(str(argument), signal.SIGKILL)
            return f"killed {argument}"
        if kind == "pause":
            stack.signal_service(str(argument), signal.SIGSTOP)
            return f"paused {argument} (SIGSTOP)"
        if kind == "resume":
            stack.signal_service(str(argument), signal.SIGCONT)
            return f"resumed {argument} (SIGCONT)"
        if kind == "wait":
            time.sleep(float(argument))  # type: ignore[arg-type]
            return f"waited {argument} s"
        command = substitute(str(argument), facts)
        if kind == "start":
            stack.induced.append(stack.start_background(command, f"induce-{len(stack.induced)}"))
            return "running in the background"
        done = stack.shell(command, timeout=300)
        if done.returncode != 0:
            raise DrillFailed(f"induce command failed (exit {done.returncode}): {command}: "
                              f"{(done.stderr or done.stdout).strip()[-300:]}")
        return "done"

    def _run_step(self, step: Step, stack: LocalStack, facts: Facts, monitor: object) -> None:
        name = _describe(step)
        started = time.monotonic()
        if step.destructive and not self.options.allow_destructive:
            self._row(name, step.block.line, "(destructive)", "skipped: pass --allow-destructive to run it", None,
                      started)
            return
        if step.block.lang == "promql":
            self._run_query(step, name, substitute(step.block.text, facts), monitor, facts)
            return
        if step.block.lang in CONSOLE_LANGS:
            self._run_transcript(step, name, stack, facts)
            return
        script = substitute(step.block.text, facts)
        if "background" in step.marker.flags:
            stack.start_background(script, f"step-{step.block.line}")
            self._row(name, step.block.line, "started", "running in the background", True, started)
            return
        started = time.monotonic()
        deadline = started + step.marker.until
        while True:
            try:
                done = stack.shell(script, timeout=step.marker.timeout)
                code, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired:
                code, output = 124, ""
            if code == 124 or not _check_output(step, code, output, facts) or time.monotonic() >= deadline:
                break
            time.sleep(2)
        if code == 124:
            self._row(name, step.block.line, f"done within {step.marker.timeout:.0f} s", "timed out", False, started)
            return
        self._judge(step, name, step.block.line, code, output, facts, started)

    def _judge(self, step: Step, name: str, line: int, code: int, output: str, facts: Facts, started: float) -> None:
        wrong = _check_output(step, code, output, facts)
        want = ", ".join([f"/{p}/" for p in step.marker.expect] + [f"exit {step.marker.exit}"])
        first = output.strip().splitlines()[:1]
        got = "; ".join(wrong) if wrong else (first[0][:80] if first else "(no output)")
        self._row(f"{name} (line {line})", line, want, got, not wrong, started)

    def _run_query(self, step: Step, name: str, expr: str, monitor: object, facts: Facts) -> None:
        """A `promql` step: the drill's Prometheus must return series for it (and match any `expect=`)."""
        started = time.monotonic()
        deadline = started + step.marker.until
        label = f"{name} (line {step.block.line})"
        while True:
            try:
                series = monitor.query(expr)  # type: ignore[attr-defined]
                output = "\n".join(f"{s.get('metric', {})} {s.get('value', ['', ''])[1]}" for s in series)
                wrong = _check_output(step, 0, output, facts) if series else [
                    "no series: the query returns nothing on a live stack in this condition"]
            except Exception as exc:  # the monitor's error is one line
                output, wrong = "", [str(exc)]
            if not wrong or time.monotonic() >= deadline:
                break
            time.sleep(2)
        lines = output.strip().splitlines()
        patterns = [substitute(p, facts) for p in step.marker.expect]
        shown = next((line for line in lines if any(re.search(p, line) for p in patterns)), lines[0] if lines else "")
        self._row(label, step.block.line, "series" + "".join(f", /{p}/" for p in step.marker.expect),
                  "; ".join(wrong) if wrong else shown[:80], not wrong, started)

    def _run_transcript(self, step: Step, name: str, stack: LocalStack, facts: Facts) -> None:
        """A `console` step: its `$` commands run in one shell, in order; each output is judged on its own.

        With `until=S` the whole block is re-run every 2 s until every command's expectations hold.
        """
        commands = list(transcript(step.block))
        if not commands:
            return
        fence = f"@@drill-{time.monotonic_ns()}@@"
        script = "exec 2>&1\n" + "\n".join(f"{substitute(command, facts)}\nprintf '\\n{fence} %s\\n' \"$?\""
                                            for _, command, _ in commands)
        started = time.monotonic()
        deadline = started + step.marker.until
        while True:
            outcomes = self._transcript_outcomes(step, stack, script, fence, len(commands), facts)
            if all(not wrong for _, _, wrong in outcomes) or time.monotonic() >= deadline:
                break
            time.sleep(2)
        want = ", ".join([f"/{p}/" for p in step.marker.expect] + [f"exit {step.marker.exit}"])
        if step.marker.until:
            want += f", within {step.marker.until:.0f} s"
        wrong = [w for _, _, ws in outcomes for w in ws]
        first = next((t.strip().splitlines()[0] for _, t, _ in outcomes if t.strip()), "(no output)")
        self._row(f"{name} (line {step.block.line})", step.block.line, want,
                  "; ".join(dict.fromkeys(wrong)) if wrong else first[:80], not wrong, started)
        if "keep" in step.marker.flags:
            return
        for (_line, _command, expected), (code, text, _) in zip(commands, outcomes):
            if expected and code is not None:
                checkout = f"{self.root.resolve()}/"  # paths as a reader in their own checkout sees them
                printed = [rewrite.default_ports(t, self._ports).replace(checkout, "")
                           for t in text.rstrip("\n").splitlines()]
                sample = rewrite.new_sample(printed, [t for _, t in expected], self._base_facts or facts)
                self.result.rewrites.append((expected[0][0], expected[-1][0], sample))

    def _transcript_outcomes(self, step: Step, stack: LocalStack, script: str, fence: str, count: int,
                             facts: Facts) -> list[tuple[int | None, str, list[str]]]:
        """Run a console block's script once: `(exit code, output, what is wrong)` per command."""
        try:
            output = stack.shell(script, timeout=step.marker.timeout).stdout
        except subprocess.TimeoutExpired as exc:
            partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            output = partial + f"\n{fence} 124\n"
        pieces = output.split(f"\n{fence} ")
        outcomes: list[tuple[int | None, str, list[str]]] = []
        for index in range(count):
            if index + 1 >= len(pieces):
                outcomes.append((None, "", ["did not run: an earlier command hung"]))
                continue
            text = pieces[index].split("\n", 1)[1] if index else pieces[0]
            head = pieces[index + 1].split("\n", 1)[0].strip()
            code = int(head) if head.isdigit() else 0
            wrong = []
            if code == 124 and index + 2 >= len(pieces):
                wrong.append("timed out")
            elif step.marker.exit is not None and code != step.marker.exit:
                wrong.append(f"exit {code}, expected {step.marker.exit}")
            outcomes.append((code, text, wrong))
        # The patterns describe the block: each must match somewhere in what its commands printed.
        combined = "\n".join(text for _, text, _ in outcomes)
        missing = [f"no match for /{substitute(p, facts)}/" for p in step.marker.expect
                   if not re.search(substitute(p, facts), combined, re.MULTILINE)]
        if missing and outcomes:
            last_code, text, wrong = outcomes[-1]
            outcomes[-1] = (last_code, text, wrong + missing)
        return outcomes


class _ignoring_sigint:
    """Hold off Ctrl-C while tearing down, so a second Ctrl-C cannot leave processes behind."""

    def __enter__(self) -> None:
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._old = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self._main:
            signal.signal(signal.SIGINT, self._old)
