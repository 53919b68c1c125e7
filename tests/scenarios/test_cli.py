"""The promoloop command: one clear line and a non-zero exit for every user error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promoloop.scenarios import registry
from promoloop.scenarios.base import RunConfig, Scenario, ScenarioResult
from promoloop.scenarios.cli import main


def test_scenarios_lists_review_giftcard(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    assert capsys.readouterr().out.startswith("review-giftcard")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "review-giftcard", "--transport", "carrier-pigeon"], "invalid choice"),
        (["run", "review-giftcard", "--seed", "-3"], "expected a number >= 0"),
        (["run", "review-giftcard", "--days", "zero"], "expected a whole number"),
        (["run", "review-giftcard", "--customers", "0"], "expected a number >= 1"),
        (["run", "review-giftcard", "--frobnicate"], "unrecognized arguments"),
        (["serve", "--segment-port", "70000"], "a port is 0..65535"),
        (["launch"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("promoloop: ")
    assert fragment in err


def test_run_prints_timeline_profile_and_kpis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "review-giftcard", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "== timeline" in out
    assert "'review_left'" in out
    assert "== final profile" in out
    assert "redemption.succeeded" in out
    assert "event log digest" in out


def test_run_quiet_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "out"
    assert main(["run", "review-giftcard", "--quiet", "--days", "10", "--report", str(report)]) == 0
    kpis = json.loads((report / "kpis.json").read_text())
    assert kpis["scenario"] == "review-giftcard"
    assert kpis["days"] == 10
    assert kpis["gift_cards_published"] == kpis["reviewers"]
    profiles = json.loads((report / "profiles.json").read_text())
    assert profiles and all("events" in p for p in profiles)
    printed = capsys.readouterr().out
    assert json.loads(printed[: printed.index("\nreport:")])["orders"] == kpis["orders"]


def test_unwritable_report_dir_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["run", "review-giftcard", "--quiet", "--report", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("promoloop: cannot write the report") and err.count("\n") == 1


def test_a_scenario_refusing_its_options_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(config: RunConfig) -> ScenarioResult:
        raise ValueError(f"needs at least 29 days, got {config.days}")

    picky = Scenario(name="picky", summary="", default_customers=1, default_days=1, run=refuse)
    monkeypatch.setitem(registry.SCENARIOS, "picky", picky)
    assert main(["run", "picky", "--days", "3"]) == 1
    err = capsys.readouterr().err
    assert err == "promoloop: run failed: needs at least 29 days, got 3\n"
