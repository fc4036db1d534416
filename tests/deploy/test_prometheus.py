"""deploy/prometheus: the rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``, Debian's prometheus package), and they name only metrics Sésame exports
(or node_exporter's and Prometheus' own, where the file says so)."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.conftest import DEPLOY, need_program

RULES = DEPLOY / "prometheus" / "sesame-rules.yml"
#: metrics of other exporters the rules use on purpose
OTHERS = {"up", "node_systemd_timer_last_trigger_seconds", "node_systemd_unit_state"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_program("promtool", "prometheus"), *args],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rule_expressions(text: str) -> list[str]:
    """The ``expr:`` of every rule, one line or a ``|`` block (what the rules file uses)."""
    found, lines = [], text.splitlines()
    for number, line in enumerate(lines):
        key, _, value = line.strip().partition(": ")
        if key != "expr":
            continue
        if value.strip() != "|":
            found.append(value)
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following.strip())
        found.append(" ".join(block))
    return found


def test_the_rules_are_valid() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_unit_tests_pass() -> None:
    done = promtool("test", "rules", "sesame-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_name_metrics_that_exist() -> None:
    from prometheus_client import REGISTRY

    import federation.metrics
    import portal.metrics
    import radius.metrics
    import sesame.sharedstate

    assert radius.metrics and federation.metrics and sesame.sharedstate  # registered on import
    assert portal.metrics
    exported = set()
    for metric in REGISTRY.collect():
        exported.add(metric.name)
        exported.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            exported.add(f"{metric.name}_total")
        if metric.type == "histogram":
            exported.update(f"{metric.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    expressions = "\n".join(rule_expressions(RULES.read_text()))
    named = set(re.findall(r"\b(?:sesame|node)_[a-z_]+\b", expressions)) | {"up"}
    unknown = {name for name in named if name not in exported and name not in OTHERS}
    assert not unknown, f"the rules name metrics nothing exports: {sorted(unknown)}"
    rules = len(re.findall(r"^\s+expr:", RULES.read_text(), re.MULTILINE))
    assert len(rule_expressions(RULES.read_text())) == rules  # every one read
    assert "sesame_radius_decisions_total" in named and "sesame_federation_home_server_alive" in named
