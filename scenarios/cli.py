"""The ``promoloop`` command: run scenarios, list them, serve the mock APIs, benchmark.

Every user error ends in one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import trio

from promoloop.actors.runtime import ActorCrashed, Deadlock, virtual_clock
from promoloop.scenarios import registry
from promoloop.scenarios.base import RunConfig
from promoloop.scenarios.bench_sections import SECTIONS as BENCH_SECTIONS
from promoloop.scenarios.loop import TRANSPORTS
from promoloop.scenarios.report import print_result, to_json, write_report

EXIT_USAGE = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"promoloop: error: {message} (see promoloop --help)\n")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number >= 1, got 0")
    return value


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="promoloop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario end to end in virtual time")
    run.add_argument("scenario", help="scenario name (see: promoloop scenarios)")
    run.add_argument("--seed", type=_non_negative, default=7, help="root seed (default 7)")
    run.add_argument("--customers", type=_positive, help="population size")
    run.add_argument("--days", type=_positive, help="simulated days")
    run.add_argument("--transport", choices=TRANSPORTS, default="inproc")
    run.add_argument("--report", type=Path, metavar="DIR", help="write JSON results here")
    run.add_argument("--quiet", action="store_true", help="print only the KPIs")

    sub.add_parser("scenarios", help="list the scenarios")

    serve = sub.add_parser("serve", help="serve the mock APIs over the whole world")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--segment-port", type=_port, default=0, help="0 = a free port")
    serve.add_argument("--voucherify-port", type=_port, default=0)
    serve.add_argument("--talon-port", type=_port, default=0)
    serve.add_argument("--sendgrid-port", type=_port, default=0)
    serve.add_argument(
        "--engine-webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST every promotion-engine event here (Voucherify-signed; repeatable)",
    )
    serve.add_argument(
        "--cdp-webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST every call the CDP accepts here (Segment-signed; repeatable)",
    )
    serve.add_argument(
        "--sendgrid-webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST SendGrid Event Webhook arrays here (ECDSA-signed; repeatable)",
    )

    bench = sub.add_parser("bench", help="measure throughput; prints figures as JSON")
    bench.add_argument("--events", type=_positive, default=200_000)
    bench.add_argument("--repeat", type=_positive, default=3, help="best of N runs")
    bench.add_argument("--customers", type=_positive, default=10_000, help="population size")
    bench.add_argument("--days", type=_positive, default=30, help="population days")
    bench.add_argument("--out", type=Path, help="also write the JSON here")
    bench.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help="run only this section (repeatable): " + ", ".join(BENCH_SECTIONS),
    )
    return parser


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    sys.stderr.write(f"promoloop: {message}\n")
    return code


def cmd_run(args: argparse.Namespace) -> int:
    try:
        scenario = registry.get(args.scenario)
        config = RunConfig(
            seed=args.seed,
            customers=args.customers,
            days=args.days,
            transport=args.transport,
            progress=None if args.quiet else sys.stderr,
        )
    except (LookupError, ValueError) as error:
        return _fail(f"error: {error}", EXIT_USAGE)
    try:
        result = trio.run(scenario.run, config, clock=virtual_clock())
    except (ActorCrashed, Deadlock, OSError, ValueError) as error:
        # ValueError: a scenario refusing its options (too few days for its experiment...).
        return _fail(f"run failed: {error}")
    if args.quiet:
        sys.stdout.write(to_json(result.kpis) + "\n")
    else:
        print_result(result, sys.stdout)
    if args.report:
        try:
            written = write_report(result, args.report)
            if scenario.html is not None:
                written.append(scenario.html(result, args.report))
        except OSError as error:
            return _fail(f"cannot write the report to {args.report}: {error}")
        sys.stdout.write(f"report: {', '.join(str(p) for p in written)}\n")
    return 0


def cmd_scenarios(_: argparse.Namespace) -> int:
    width = max(len(name) for name in registry.SCENARIOS)
    for scenario in registry.SCENARIOS.values():
        sys.stdout.write(
            f"{scenario.name:<{width}}  {scenario.summary} "
            f"(default {scenario.default_customers} customers, {scenario.default_days} days)\n"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from promoloop.scenarios.serve import serve_until_interrupted

    try:
        return serve_until_interrupted(
            host=args.host,
            segment_port=args.segment_port,
            voucherify_port=args.voucherify_port,
            talon_port=args.talon_port,
            sendgrid_port=args.sendgrid_port,
            engine_webhooks=args.engine_webhook,
            cdp_webhooks=args.cdp_webhook,
            sendgrid_webhooks=args.sendgrid_webhook,
        )
    except (OSError, ValueError) as error:
        return _fail(f"cannot serve: {error}")


def cmd_bench(args: argparse.Namespace) -> int:
    from promoloop.scenarios.bench import run_bench

    unknown = [name for name in args.only or () if name not in BENCH_SECTIONS]
    if unknown:
        return _fail(
            f"unknown bench section {unknown[0]!r} (known: {', '.join(BENCH_SECTIONS)})",
            EXIT_USAGE,
        )
    text = to_json(
        run_bench(
            events=args.events,
            repeat=args.repeat,
            customers=args.customers,
            days=args.days,
            only=args.only,
        )
    )
    sys.stdout.write(text + "\n")
    if args.out:
        args.out.write_text(text + "\n")
    return 0


COMMANDS = {"run": cmd_run, "scenarios": cmd_scenarios, "serve": cmd_serve, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    raise SystemExit(main())
